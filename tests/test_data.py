"""Data sets: seeded, disjoint splits; batches as the model sees them; image
folders decoded once into a tensor cache; clear errors for missing data."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from alphanas.evaluation import data
from alphanas.evaluation.data import DataSpec, augment_batch, load, prepare_batch
from alphanas.lang.errors import AlphanasError

pytest.importorskip("sklearn")


def _indices(splits: data.Splits) -> tuple[set[int], set[int], set[int]]:
    return tuple(set(s.index.tolist()) for s in (splits.train, splits.val, splits.test))  # type: ignore[return-value]


@pytest.fixture(scope="module")
def digits() -> data.Splits:
    return load(DataSpec("digits", seed=0))


def test_digits_shapes_and_sizes(digits: data.Splits) -> None:
    assert digits.input_shape == (1, 8, 8)
    assert digits.classes == 10
    assert (len(digits.train), len(digits.val), len(digits.test)) == (1257, 269, 271)
    assert digits.train.x.dtype == torch.float32
    assert float(digits.train.x.min()) >= 0.0 and float(digits.train.x.max()) <= 1.0
    assert digits.train.y.dtype == torch.long and set(digits.train.y.tolist()) == set(range(10))


def test_digits_split_is_disjoint_and_covers_everything(digits: data.Splits) -> None:
    train, val, test = _indices(digits)
    assert not train & val and not train & test and not val & test
    assert train | val | test == set(range(1797))


def test_same_seed_same_split_other_seed_other_split(digits: data.Splits) -> None:
    again = load(DataSpec("digits", seed=0))
    other = load(DataSpec("digits", seed=1))
    assert torch.equal(again.train.index, digits.train.index)
    assert torch.equal(again.val.x, digits.val.x)
    assert not torch.equal(other.train.index, digits.train.index)
    assert set(other.val.index.tolist()) != set(digits.val.index.tolist())


def test_subsets_take_the_requested_sizes_from_their_own_part(digits: data.Splits) -> None:
    small = load(DataSpec("digits", train_size=100, val_size=50, test_size=30, seed=0))
    assert (len(small.train), len(small.val), len(small.test)) == (100, 50, 30)
    assert set(small.train.index.tolist()) <= set(digits.train.index.tolist())
    assert set(small.val.index.tolist()) <= set(digits.val.index.tolist())
    with pytest.raises(AlphanasError, match="asked for 5000 train samples"):
        load(DataSpec("digits", train_size=5000))


def test_normalisation_uses_the_training_split(digits: data.Splits) -> None:
    x = prepare_batch(digits.train.x, digits)
    assert abs(float(x.mean())) < 1e-4
    assert abs(float(x.std()) - 1.0) < 1e-3
    raw = load(DataSpec("digits", normalize=False))
    assert raw.mean is None and torch.equal(prepare_batch(raw.val.x, raw), raw.val.x)


def test_augmentation_is_a_seeded_crop_and_flip() -> None:
    x = torch.rand(6, 3, 8, 8)
    a = augment_batch(x, torch.Generator().manual_seed(0), pad=2)
    b = augment_batch(x, torch.Generator().manual_seed(0), pad=2)
    c = augment_batch(x, torch.Generator().manual_seed(1), pad=2)
    assert a.shape == x.shape and torch.equal(a, b) and not torch.equal(a, c)
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(len(x)):  # every output is one window of the padded input, maybe mirrored
        windows = [
            padded[i, :, dy : dy + 8, dx : dx + 8].flip(-1) if flip else padded[i, :, dy : dy + 8, dx : dx + 8]
            for dy in range(5) for dx in range(5) for flip in (False, True)
        ]
        assert any(torch.equal(a[i], w) for w in windows)


def test_training_batches_are_augmented_only_when_asked(digits: data.Splits) -> None:
    augmenting = load(DataSpec("digits", augment=True))
    batch = augmenting.train.x[:16]
    g = torch.Generator().manual_seed(0)
    assert not torch.equal(prepare_batch(batch, augmenting, g, train=True), prepare_batch(batch, augmenting))
    assert torch.equal(prepare_batch(batch, digits, g, train=True), prepare_batch(batch, digits))
    with pytest.raises(ValueError, match="generator"):
        prepare_batch(batch, augmenting, None, train=True)


# -- image folders -------------------------------------------------------------------------------

COLORS = {"cat": (200, 30, 30), "dog": (20, 180, 40), "emu": (10, 20, 220)}


def _write_folder(root: Path, per_class: dict[str, int], size: int = 8, fmt: str = "png") -> Path:
    for part, count in per_class.items():
        for name, color in COLORS.items():
            folder = root / part / name
            folder.mkdir(parents=True, exist_ok=True)
            for k in range(count):
                pixel = tuple(min(255, c + 3 * k) for c in color)
                Image.new("RGB", (size, size), pixel).save(folder / f"{k:03d}.{fmt}")
    return root


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return _write_folder(tmp_path / "shapes", {"train": 10, "test": 4})


def test_image_folder_loads_classes_pixels_and_disjoint_splits(folder: Path, tmp_path: Path) -> None:
    spec = DataSpec("imagefolder", root=folder, val_size=6, seed=3, cache_dir=tmp_path / "cache")
    splits = load(spec)
    assert splits.class_names == ("cat", "dog", "emu") and splits.classes == 3
    assert splits.input_shape == (3, 8, 8)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (24, 6, 12)
    assert splits.train.x.dtype == torch.uint8
    assert not set(splits.train.index.tolist()) & set(splits.val.index.tolist())
    # PNG is lossless: the first test image of "dog" (row 4, class 1) is its colour exactly
    assert splits.test.y[4] == 1
    assert splits.test.x[4, :, 0, 0].tolist() == list(COLORS["dog"])
    other = load(DataSpec("imagefolder", root=folder, val_size=6, seed=4))
    assert set(other.val.index.tolist()) != set(splits.val.index.tolist())


def test_image_folder_is_decoded_once_into_the_cache(folder: Path, tmp_path: Path, monkeypatch) -> None:
    spec = DataSpec("imagefolder", root=folder, cache_dir=tmp_path / "cache")
    first = load(spec)
    cached = list((tmp_path / "cache").glob("imagefolder-shapes-*.pt"))
    assert len(cached) == 1

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again although the cache is there")

    monkeypatch.setattr(data, "_decode", no_decoding)
    second = load(spec)
    assert torch.equal(first.train.x, second.train.x) and torch.equal(first.test.y, second.test.y)
    # a changed folder is a different fingerprint, so it is decoded again, not read stale
    Image.new("RGB", (8, 8), (1, 2, 3)).save(folder / "train" / "cat" / "new.png")
    with pytest.raises(AssertionError, match="decoded again"):
        load(spec)


def test_image_folder_reads_jpeg_and_resizes(tmp_path: Path) -> None:
    root = _write_folder(tmp_path / "jpgs", {"train": 4, "test": 2}, size=12, fmt="jpg")
    splits = load(DataSpec("imagefolder", root=root, val_size=3, image_size=6))
    assert splits.input_shape == (3, 6, 6)
    # JPEG is lossy, but a flat colour survives within a few levels
    red = splits.test.x[splits.test.y == 0][0].float().mean(dim=(1, 2))
    assert torch.allclose(red, torch.tensor(COLORS["cat"], dtype=torch.float32), atol=6)


def test_image_folder_mistakes_are_explained(folder: Path, tmp_path: Path) -> None:
    with pytest.raises(AlphanasError, match="is not a folder"):
        load(DataSpec("imagefolder", root=tmp_path / "nowhere"))
    Image.new("RGB", (9, 9), (0, 0, 0)).save(folder / "train" / "cat" / "odd.png")
    with pytest.raises(AlphanasError, match="different sizes") as err:
        load(DataSpec("imagefolder", root=folder))
    assert "image_size" in (err.value.hint or "")
    (folder / "test" / "yak").mkdir()
    with pytest.raises(AlphanasError, match="different classes"):
        load(DataSpec("imagefolder", root=folder, image_size=8))


def test_torchvision_sets_are_never_downloaded_unasked(tmp_path: Path) -> None:
    with pytest.raises(AlphanasError) as err:
        load(DataSpec("cifar10", root=tmp_path))
    assert "download" in (err.value.hint or "")
    with pytest.raises(AlphanasError, match="needs a root"):
        load(DataSpec("mnist"))


def test_spec_is_checked_and_hashable() -> None:
    assert DataSpec("imagefolder", root="a/b") == DataSpec("imagefolder", root=Path("a/b"))
    assert hash(DataSpec("imagefolder", root="a/b")) == hash(DataSpec("imagefolder", root=Path("a/b")))
    with pytest.raises(AlphanasError, match="unknown data set"):
        DataSpec("imagenet")  # type: ignore[arg-type]
    with pytest.raises(AlphanasError, match="train_size"):
        DataSpec("digits", train_size=0)


def test_image_size_resizes_every_split() -> None:
    splits = load(DataSpec("digits", image_size=16, train_size=20, val_size=10, test_size=10))
    assert splits.input_shape == (1, 16, 16)
    assert all(s.x.shape[1:] == (1, 16, 16) for s in (splits.train, splits.val, splits.test))
