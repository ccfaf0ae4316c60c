"""The pages as a reader sees them: opened in headless Chromium (installed from Debian by the
test, as the nemesis's tools are), with every host name unresolvable so nothing can be fetched."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from harness.docker_engine import BROWSER_TOOLS, EngineUnavailable, ensure_tools
from reports.run_report import build

# The fault shading (#f4a6a6 at alpha 0.35) over the white page.
SHADE = tuple(round(0.35 * c + 0.65 * 255) for c in (0xF4, 0xA6, 0xA6))


@pytest.fixture(scope="module")
def chromium() -> str:
    try:
        ensure_tools(BROWSER_TOOLS, "the reports' browser check")
    except EngineUnavailable as exc:
        pytest.skip(str(exc))
    return shutil.which("chromium")


def _browse(chromium: str, page: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--host-resolver-rules=MAP * ~NOTFOUND",
                           *args, page.as_uri()], capture_output=True, text=True, timeout=120, check=True)


def test_the_run_page_renders_offline_with_its_figures(chromium, runs, tmp_path):
    w = build(runs / "dc2-down", None, tmp_path / "out")
    source = w.html.read_text()
    browsed = _browse(chromium, w.html, "--dump-dom", "--enable-logging=stderr", "--v=0")
    dom = browsed.stdout
    console = [line for line in browsed.stderr.splitlines() if ":CONSOLE" in line]
    assert console == [], console  # the page logs nothing: no script, no error
    assert "<title>halab report: dc2-down</title>" in dom
    assert dom.count("<svg") == source.count("<svg") >= 5  # timelines, convergence, states, topology
    for figure in ('class="timeline"', 'class="propagation"', 'class="states"', 'class="topology"'):
        assert figure in dom
    shot = tmp_path / "page.png"
    _browse(chromium, w.html, f"--screenshot={shot}", "--window-size=1100,3000")
    img = Image.open(shot).convert("RGB")
    colours = img.getcolors(maxcolors=1 << 20) or []
    assert len(colours) > 200, "the page drew next to nothing"
    shaded = sum(n for n, c in colours if all(abs(a - b) <= 3 for a, b in zip(c, SHADE, strict=True)))
    assert shaded > 1000, f"no fault shading painted ({shaded} px near {SHADE})"
