"""Data sets for training candidates: in-memory tensors with seeded splits.

A search trains hundreds of small models on the same data, so the data is
loaded once per process into tensors and every batch is cut from them: no
``DataLoader`` workers, no per-image Python. Images stay ``uint8`` in memory
(CIFAR-10's 50,000 training images take 150 MB, not 600 MB as floats);
:func:`prepare_batch` turns a batch into normalised floats and, for training
batches, augments it on the tensor (random crop with zero padding and
horizontal flip, drawn from a seeded generator).

:func:`load` reads a :class:`DataSpec`:

- ``digits`` — scikit-learn's 1,797 8×8 handwritten digits (the embedded,
  offline default; needs the ``data`` extra), split 70/15/15 from the seed;
- ``cifar10``, ``cifar100``, ``mnist``, ``fashion_mnist`` — torchvision's data
  sets under ``root``, downloaded only with ``download=True``;
- ``imagefolder`` — a folder with ``train/<class>/*`` and ``test/<class>/*``
  images (torchvision's ``ImageFolder`` layout), decoded once into a tensor
  cache file in ``cache_dir``.

For the last two kinds the validation set is a seeded subset of the training
images, disjoint from the training subset; the test set is the data set's own.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from alphanas.lang.errors import AlphanasError

__all__ = [
    "DATASETS",
    "DataSpec",
    "Split",
    "Splits",
    "augment_batch",
    "load",
    "prepare_batch",
]

DatasetName = Literal["digits", "cifar10", "cifar100", "mnist", "fashion_mnist", "imagefolder"]

#: every data set name :func:`load` knows
DATASETS: tuple[str, ...] = ("digits", "cifar10", "cifar100", "mnist", "fashion_mnist", "imagefolder")

#: torchvision class names of the downloadable data sets
_TORCHVISION = {
    "cifar10": "CIFAR10",
    "cifar100": "CIFAR100",
    "mnist": "MNIST",
    "fashion_mnist": "FashionMNIST",
}

#: file suffixes read from an image folder
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


@dataclass(frozen=True)
class DataSpec:
    """Which data, which subset, and how a batch is prepared.

    ``train_size``/``val_size``/``test_size`` take seeded subsets (None: all
    that is there; for the validation set of a data set with a fixed test
    set, ``val_fraction`` of the training images). ``image_size`` resizes
    every image to a square of that side once, when it is loaded.
    ``augment`` applies random crops and flips to training batches;
    ``normalize`` subtracts the training split's per-channel mean and divides
    by its standard deviation. ``cache_dir`` keeps decoded image folders as
    tensors. The spec is hashable: the evaluator caches loaded splits by it.
    """

    name: DatasetName = "digits"
    root: Path | None = None
    download: bool = False
    train_size: int | None = None
    val_size: int | None = None
    test_size: int | None = None
    val_fraction: float = 0.1
    augment: bool = False
    normalize: bool = True
    image_size: int | None = None
    seed: int = 0
    cache_dir: Path | None = None

    def __post_init__(self) -> None:
        if self.name not in DATASETS:
            raise AlphanasError(f"unknown data set {self.name!r}", hint=f"choose one of {', '.join(DATASETS)}")
        for field_name in ("train_size", "val_size", "test_size", "image_size"):
            value = getattr(self, field_name)
            if value is not None and value < 1:
                raise AlphanasError(f"{field_name}={value} must be a positive integer or None")
        if not 0.0 < self.val_fraction < 1.0:
            raise AlphanasError(f"val_fraction={self.val_fraction} must be in (0, 1)")
        # Paths given as strings would make two equal specs hash apart.
        if self.root is not None and not isinstance(self.root, Path):
            object.__setattr__(self, "root", Path(self.root))
        if self.cache_dir is not None and not isinstance(self.cache_dir, Path):
            object.__setattr__(self, "cache_dir", Path(self.cache_dir))


@dataclass(frozen=True, eq=False)
class Split:
    """One split as tensors: ``x`` is ``[N, C, H, W]`` (``uint8`` pixels, or
    ``float32`` already in [0, 1]), ``y`` the ``int64`` labels, and ``index``
    the rows of the source (the data set's training or test part, or the whole
    of ``digits``) they were taken from, so that disjointness can be checked."""

    x: Tensor
    y: Tensor
    index: Tensor

    def __len__(self) -> int:
        return len(self.y)


@dataclass(frozen=True, eq=False)
class Splits:
    """Train, validation and test splits of one data set, with what a
    model and a batch need to know: the per-sample input shape, the number
    of classes and the normalisation (None: none)."""

    train: Split
    val: Split
    test: Split
    input_shape: tuple[int, ...]
    classes: int
    mean: Tensor | None = None
    std: Tensor | None = None
    augment: bool = False
    class_names: tuple[str, ...] = ()


def load(spec: DataSpec) -> Splits:
    """Load a data set and split it as ``spec`` says; every choice of rows
    flows from ``spec.seed``. Raises :class:`AlphanasError` when the data is
    not where the spec says."""
    if spec.name == "digits":
        x, y, names = _digits()
        train, val, test = _split_one_pool(x, y, spec)
    elif spec.name == "imagefolder":
        (x_tr, y_tr), (x_te, y_te), names = _image_folder(spec)
        train, val, test = _split_two_pools(x_tr, y_tr, x_te, y_te, spec)
    else:
        (x_tr, y_tr), (x_te, y_te), names = _torchvision(spec)
        train, val, test = _split_two_pools(x_tr, y_tr, x_te, y_te, spec)
    if spec.image_size is not None and spec.name != "imagefolder":  # image folders resize when decoding
        train, val, test = (_resized(s, spec.image_size) for s in (train, val, test))
    mean, std = _channel_stats(train.x) if spec.normalize else (None, None)
    return Splits(
        train=train,
        val=val,
        test=test,
        input_shape=tuple(train.x.shape[1:]),
        classes=len(names),
        mean=mean,
        std=std,
        augment=spec.augment,
        class_names=tuple(names),
    )


# -- batches -------------------------------------------------------------------------------------


def prepare_batch(
    x: Tensor, splits: Splits, generator: torch.Generator | None = None, train: bool = False
) -> Tensor:
    """A batch as the model sees it: floats in [0, 1], augmented when
    training with augmentation on (the randomness from ``generator``), then
    normalised. Works on any device; ``generator`` must live on ``x``'s."""
    out = x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()
    if train and splits.augment:
        if generator is None:
            raise ValueError("augmentation needs a generator: every random choice flows from the seed")
        out = augment_batch(out, generator)
    if splits.mean is not None and splits.std is not None:
        mean = splits.mean.to(out.device).view(1, -1, 1, 1)
        std = splits.std.to(out.device).view(1, -1, 1, 1)
        out = (out - mean) / std
    return out


def augment_batch(x: Tensor, generator: torch.Generator, pad: int | None = None) -> Tensor:
    """Random crop with zero padding, then a random horizontal flip, per
    sample, done on the whole batch at once. The padding is ``H // 8``
    unless given: 4 pixels at 32×32 (the usual CIFAR recipe), 1 at 8×8."""
    n, _, h, w = x.shape
    pad = max(1, h // 8) if pad is None else pad
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator, device=x.device)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator, device=x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device)[None, :])[:, None, :, None]
    cols = (dx[:, None] + torch.arange(w, device=x.device)[None, :])[:, None, None, :]
    samples = torch.arange(n, device=x.device)[:, None, None, None]
    channels = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
    cropped = padded[samples, channels, rows, cols]
    flip = torch.rand(n, generator=generator, device=x.device) < 0.5
    return torch.where(flip[:, None, None, None], cropped.flip(3), cropped)


# -- splitting -----------------------------------------------------------------------------------


def _permutation(n: int, seed: int, stream: int) -> Tensor:
    """A seeded permutation; ``stream`` keeps the draws for different
    purposes (validation rows, test subset) independent."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + stream))


def _take(x: Tensor, y: Tensor, rows: Tensor) -> Split:
    rows = rows.sort().values  # source order: a subset's rows read contiguously
    return Split(x[rows], y[rows], rows)


def _split_one_pool(x: Tensor, y: Tensor, spec: DataSpec) -> tuple[Split, Split, Split]:
    """70/15/15 of a data set that has no test part of its own, then the
    requested subsets of each part."""
    order = _permutation(len(y), spec.seed, 0)
    n_train, n_val = int(0.7 * len(y)), int(0.15 * len(y))
    parts = order[:n_train], order[n_train : n_train + n_val], order[n_train + n_val :]
    sizes = spec.train_size, spec.val_size, spec.test_size
    for name, part, size in zip(("train", "validation", "test"), parts, sizes):
        _check_size(name, size, len(part), spec)
    return tuple(_take(x, y, part[:size]) for part, size in zip(parts, sizes))  # type: ignore[return-value]


def _split_two_pools(
    x_train: Tensor, y_train: Tensor, x_test: Tensor, y_test: Tensor, spec: DataSpec
) -> tuple[Split, Split, Split]:
    """Validation rows first, from a seeded permutation of the training part;
    training rows from the rest, so the two never overlap."""
    order = _permutation(len(y_train), spec.seed, 0)
    n_val = spec.val_size if spec.val_size is not None else max(1, round(spec.val_fraction * len(y_train)))
    _check_size("validation", n_val, len(y_train) - 1, spec)
    rest = order[n_val:]
    _check_size("train", spec.train_size, len(rest), spec)
    _check_size("test", spec.test_size, len(y_test), spec)
    test_rows = _permutation(len(y_test), spec.seed, 1)[: spec.test_size] if spec.test_size else torch.arange(len(y_test))
    return (
        _take(x_train, y_train, rest[: spec.train_size]),
        _take(x_train, y_train, order[:n_val]),
        _take(x_test, y_test, test_rows),
    )


def _check_size(name: str, wanted: int | None, available: int, spec: DataSpec) -> None:
    if wanted is not None and wanted > available:
        raise AlphanasError(
            f"{spec.name}: asked for {wanted} {name} samples but only {available} are available",
            hint="lower the size or leave it unset to take all",
        )


def _resized(split: Split, side: int) -> Split:
    return Split(_resize(split.x, side), split.y, split.index)


def _resize(x: Tensor, side: int, chunk: int = 1024) -> Tensor:
    """Bilinear, antialiased resize of a batch, keeping the dtype; in
    chunks, so that a uint8 data set is never held as floats all at once."""
    if tuple(x.shape[-2:]) == (side, side):
        return x
    parts = []
    for start in range(0, len(x), chunk):
        part = torch.nn.functional.interpolate(
            x[start : start + chunk].float(), size=(side, side), mode="bilinear", antialias=True, align_corners=False
        )
        parts.append(part.round_().clamp_(0, 255).to(torch.uint8) if x.dtype == torch.uint8 else part)
    return torch.cat(parts)


def _channel_stats(x: Tensor, chunk: int = 4096) -> tuple[Tensor, Tensor]:
    """Per-channel mean and standard deviation of images as the model sees
    them before normalisation (floats in [0, 1]), in chunks so that a uint8
    set is never held as floats all at once."""
    channels = x.shape[1]
    total = torch.zeros(channels, dtype=torch.float64)
    squares = torch.zeros(channels, dtype=torch.float64)
    for start in range(0, len(x), chunk):
        part = x[start : start + chunk].double()
        if x.dtype == torch.uint8:
            part = part / 255.0
        total += part.sum(dim=(0, 2, 3))
        squares += (part * part).sum(dim=(0, 2, 3))
    count = len(x) * x.shape[2] * x.shape[3]
    mean = total / count
    std = (squares / count - mean * mean).clamp_min(0).sqrt().clamp_min(1e-6)
    return mean.float(), std.float()


# -- sources -------------------------------------------------------------------------------------


def _digits() -> tuple[Tensor, Tensor, list[str]]:
    try:
        from sklearn.datasets import load_digits
    except ImportError as err:
        raise AlphanasError(
            "the digits data set needs scikit-learn",
            hint='install the data extra: pip install "alphanas[data]"',
        ) from err
    data = load_digits()
    x = torch.tensor(data.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(data.target, dtype=torch.long)
    return x, y, [str(d) for d in range(10)]


def _torchvision(spec: DataSpec) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor], list[str]]:
    import torchvision

    if spec.root is None:
        raise AlphanasError(
            f"{spec.name} needs a root folder",
            hint=f"pass root=... (the folder torchvision's {_TORCHVISION[spec.name]} reads), and download=True to fetch it",
        )
    cls = getattr(torchvision.datasets, _TORCHVISION[spec.name])
    parts = []
    for train in (True, False):
        try:
            ds = cls(str(spec.root), train=train, download=spec.download)
        except RuntimeError as err:
            raise AlphanasError(
                f"{spec.name} is not in {spec.root}: {err}",
                hint="pass download=True to fetch it, or root= the folder that holds it",
            ) from err
        parts.append((_as_nchw(ds.data), torch.as_tensor(np.asarray(ds.targets), dtype=torch.long)))
        names = list(ds.classes)
    return parts[0], parts[1], names


def _as_nchw(data: np.ndarray | Tensor) -> Tensor:
    """torchvision's image arrays ([N, H, W] or [N, H, W, C], uint8) as [N, C, H, W]."""
    x = torch.as_tensor(np.asarray(data))
    if x.ndim == 3:
        return x.unsqueeze(1).contiguous()
    return x.permute(0, 3, 1, 2).contiguous()


# -- image folders -------------------------------------------------------------------------------


def _image_folder(spec: DataSpec) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor], list[str]]:
    """Both parts of an image folder, from the tensor cache when it is
    there and up to date (its name holds a fingerprint of every file's path,
    size and modification time, and the image size)."""
    if spec.root is None:
        raise AlphanasError("imagefolder needs a root folder", hint="pass root= a folder with train/ and test/ subfolders")
    root = spec.root.expanduser().resolve()
    listings = {part: _list_images(root, part) for part in ("train", "test")}
    names = listings["train"][0]
    if listings["test"][0] != names:
        raise AlphanasError(
            f"{root}: train/ and test/ have different classes",
            hint=f"train/ has {', '.join(names)}; test/ has {', '.join(listings['test'][0])}",
        )
    cache = _cache_file(spec, root, listings)
    if cache is not None and cache.is_file():
        stored = torch.load(cache, weights_only=True)
        return (stored["x_train"], stored["y_train"]), (stored["x_test"], stored["y_test"]), names
    decoded = {part: _decode_all(listings[part][1], spec.image_size, root) for part in ("train", "test")}
    if cache is not None:
        _save_atomically(
            {
                "x_train": decoded["train"][0], "y_train": decoded["train"][1],
                "x_test": decoded["test"][0], "y_test": decoded["test"][1],
            },
            cache,
        )
    return decoded["train"], decoded["test"], names


def _list_images(root: Path, part: str) -> tuple[list[str], list[tuple[Path, int]]]:
    """Class names (sorted subfolder names, as ImageFolder numbers them)
    and every image file with its class number, in a fixed order."""
    folder = root / part
    if not folder.is_dir():
        raise AlphanasError(
            f"{folder} is not a folder",
            hint="an image folder holds train/<class>/*.jpg and test/<class>/*.jpg",
        )
    names = sorted(d.name for d in folder.iterdir() if d.is_dir())
    if not names:
        raise AlphanasError(f"{folder} has no class subfolders", hint="put the images of class C in train/C/ and test/C/")
    files = [
        (f, label)
        for label, name in enumerate(names)
        for f in sorted((folder / name).iterdir())
        if f.suffix.lower() in IMAGE_SUFFIXES
    ]
    if not files:
        raise AlphanasError(f"{folder} has no images", hint=f"the suffixes read are {', '.join(IMAGE_SUFFIXES)}")
    return names, files


def _cache_file(spec: DataSpec, root: Path, listings: dict) -> Path | None:
    if spec.cache_dir is None:
        return None
    h = hashlib.blake2b(digest_size=12)
    h.update(f"{root}\x1f{spec.image_size}".encode())
    for part in ("train", "test"):
        for f, label in listings[part][1]:
            stat = f.stat()
            h.update(f"{part}/{f.relative_to(root)}\x1f{label}\x1f{stat.st_size}\x1f{stat.st_mtime_ns}\n".encode())
    return spec.cache_dir.expanduser() / f"imagefolder-{root.name}-{h.hexdigest()}.pt"


def _save_atomically(obj: dict, path: Path) -> None:
    """Write to a temporary name and rename, so that a worker reading the
    cache never sees a half-written file from another."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _decode_all(files: Sequence[tuple[Path, int]], side: int | None, root: Path) -> tuple[Tensor, Tensor]:
    """Decode every image to RGB uint8 and stack them. Images must share one
    size unless ``side`` resizes them."""
    from concurrent.futures import ThreadPoolExecutor

    threads = max(1, min(8, _usable_cpus()))
    chunks = [files[i : i + 1024] for i in range(0, len(files), 1024)]
    with ThreadPoolExecutor(threads) as pool:  # Pillow's decoders release the GIL
        decoded = [img for chunk in pool.map(lambda c: [_decode(f, side) for f, _ in c], chunks) for img in chunk]
    sizes = {tuple(img.shape) for img in decoded}
    if len(sizes) > 1:
        raise AlphanasError(
            f"the images under {root} have different sizes ({', '.join('x'.join(map(str, s[1:])) for s in sorted(sizes)[:4])}, ...)",
            hint="pass image_size= to resize them all to one square size",
        )
    return torch.stack(decoded), torch.tensor([label for _, label in files], dtype=torch.long)


def _decode(file: Path, side: int | None) -> Tensor:
    """One image as an RGB uint8 ``[3, H, W]`` tensor (Pillow, which
    torchvision depends on, decodes it)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(file) as img:
            pixels = np.asarray(img.convert("RGB"))
    except (OSError, UnidentifiedImageError) as err:
        raise AlphanasError(f"cannot decode {file}: {err}") from err
    out = torch.from_numpy(pixels.copy()).permute(2, 0, 1).contiguous()
    return _resize(out.unsqueeze(0), side)[0] if side is not None else out


def _usable_cpus() -> int:
    """CPUs this process may run on (its affinity, which containers and
    ``taskset`` restrict), not the machine's count."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1

