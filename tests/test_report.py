"""``alphanas report``: one self-contained HTML file, checked as text and
opened in headless Chromium (screenshot kept as a test artifact).

The screenshot is written under the test's tmp folder and copied to
``$ALPHANAS_TEST_ARTIFACTS/report.png`` when that variable is set, else to
``tests/artifacts/report.png`` (git-ignored), for a person to look at.
Without Chromium (``apt-get install chromium``; ``.ci/run`` installs it)
the browser test is skipped.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from inspect_runs import digits_run

from alphanas.cli import main
from alphanas.runs.inspection import load_run
from alphanas.runs.report import FRONT, SEED, Scale, nice_ticks

TESTS = Path(__file__).resolve().parent
CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return digits_run(tmp_path_factory)


@pytest.fixture(scope="module")
def report(trained: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("report") / "report.html"
    assert main(["report", str(trained), "-o", str(path)]) == 0
    return path


class _Page(HTMLParser):
    """What the tests look for in a page: plots with their points, front
    member sections, graphs, diffs, resources the page would fetch."""

    def __init__(self) -> None:
        super().__init__()
        self.plots: list[dict[str, object]] = []
        self.sections: list[str] = []
        self.graphs = 0
        self.diffs = 0
        self.fetches: list[str] = []
        self.body: dict[str, str | None] = {}
        self._plot: dict[str, object] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if tag == "body":
            self.body = a
        if tag in ("script", "img", "link", "iframe", "source") and (a.get("src") or a.get("href")):
            self.fetches.append(str(a.get("src") or a.get("href")))
        if tag == "svg" and "plot" in classes:
            self._plot = {"classes": classes, "box": a.get("data-box"), "front": 0, "other": 0, "points": 0}
            self.plots.append(self._plot)
        if tag == "svg" and "arch" in classes:
            self.graphs += 1
        if tag == "circle" and self._plot is not None:
            self._plot["points"] = int(self._plot["points"]) + 1  # type: ignore[call-overload]
            for kind in ("front", "other"):
                if kind in classes:
                    self._plot[kind] = int(self._plot[kind]) + 1  # type: ignore[call-overload]
        if tag == "section" and "member" in classes:
            self.sections.append(str(a.get("id")))
        if tag == "pre" and "diff" in classes:
            self.diffs += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg":
            self._plot = None


def _page(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    return page


def test_the_report_holds_plots_lineage_and_every_front_member(trained: Path, report: Path) -> None:
    run = load_run(trained)
    text = report.read_text()
    page = _page(text)
    pairs = len(run.objectives) * (len(run.objectives) - 1) // 2
    pareto = [p for p in page.plots if "pareto" in p["classes"]]  # type: ignore[operator]
    assert len(pareto) == pairs and len(page.plots) == pairs + 1
    for plot in pareto:
        assert plot["front"] == len(run.front)
        assert plot["other"] == len(run.scored) - len(run.front)
    hv = next(p for p in page.plots if "hypervolume" in p["classes"])  # type: ignore[operator]
    history = run.hypervolume_history()
    assert hv["points"] == 1 + sum(1 for a, b in itertools.pairwise(history) if b.hypervolume != a.hypervolume)
    assert sorted(page.sections) == sorted(f"c{c.id}" for c in run.front)
    assert page.graphs == len(run.front)
    assert page.diffs == sum(1 for c in run.front if c.parent_id is not None)
    for c in run.front:  # each member's lineage lists its ancestors back to the seed
        section = text.split(f'id="c{c.id}"', 1)[1].split("</section>", 1)[0]
        chain = re.findall(r'<li data-id="(\d+)">', section)
        assert [int(i) for i in chain] == [a.id for a in run.lineage(c.id)]


def test_the_report_fetches_nothing(report: Path) -> None:
    text = report.read_text()
    page = _page(text)
    assert page.fetches == []
    # the only URL is the SVG namespace, which is a name, never fetched
    assert set(re.findall(r"https?://[^\s\"'<>)]+", text)) <= {"http://www.w3.org/2000/svg"}
    assert "@import" not in text and "url(" not in text


@pytest.mark.parametrize("argv,message", [
    (["{run}", "-o", "{tmp}/r.pdf"], "is an .html file"),
    (["{tmp}/nowhere"], "no such run folder"),
])
def test_report_mistakes_exit_with_status_2(argv: list[str], message: str, trained: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", *(a.format(run=trained, tmp=tmp_path) for a in argv)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_axis_ticks_are_round_and_inside_the_range() -> None:
    for lo, hi in ((0.0, 1.0), (0.91, 0.997), (1442.0, 1544.0), (-3.0, 17.0)):
        ticks = nice_ticks(lo, hi)
        assert 2 <= len(ticks) <= 11 and all(lo - 1e-9 <= t <= hi + 1e-9 for t in ticks)
        steps = {round(b - a, 9) for a, b in itertools.pairwise(ticks)}
        assert len(steps) == 1
    log = Scale.fit([3000.0, 200000.0], 0, 100)
    assert log.log and log(3000.0) < log(20000.0) < log(200000.0)
    assert all(str(int(t)).strip("0") in ("1", "2", "5") for t in log.ticks())


def _artifact(screenshot: Path) -> Path:
    folder = Path(os.environ.get("ALPHANAS_TEST_ARTIFACTS") or TESTS / "artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(screenshot, folder / "report.png"))


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed (apt-get install chromium)")
def test_the_report_renders_in_chromium_with_its_plots_drawn(trained: Path, report: Path, tmp_path: Path) -> None:
    import numpy as np
    from PIL import Image

    run = load_run(trained)
    shot = tmp_path / "report.png"
    width, height = 1280, 1800
    proc = subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--force-device-scale-factor=1", f"--window-size={width},{height}", f"--user-data-dir={tmp_path / 'profile'}",
         # any attempt to reach the network fails, and would be logged as a console error
         "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
         "--enable-logging=stderr", "--v=0", f"--screenshot={shot}", "--dump-dom", report.as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    console = [line for line in proc.stderr.splitlines() if "CONSOLE" in line]
    assert console == [], console  # no script errors, no failed loads, nothing logged
    page = _page(proc.stdout)
    assert page.body.get("data-ready") == "yes"  # the script ran to its end
    kept = _artifact(shot)
    image = np.asarray(Image.open(kept).convert("RGB")).astype(int)
    assert image.shape[:2] == (height, width)
    assert page.plots and all(p["box"] for p in page.plots)
    for plot in page.plots:
        x, y, w, h = (int(v) for v in str(plot["box"]).split(","))
        assert w > 200 and h > 150 and y + h <= height, "the plot is not on the screenshot"
        area = image[y:y + h, x:x + w]
        # drawn: far from white (axes, labels, points), and the points in their colour
        ink = (np.abs(area - 255).sum(axis=2) > 120).mean()
        assert ink > 0.01, f"plot at {plot['box']} looks empty"
        color = FRONT if "pareto" in plot["classes"] else SEED  # type: ignore[operator]
        rgb = [int(color[k:k + 2], 16) for k in (1, 3, 5)]
        exact = int((area == rgb).all(axis=2).sum())
        assert exact >= 20 * (len(run.front) if color == FRONT else 1), f"no points drawn in {plot['classes']}"
