"""The built site in a real browser: headless Chromium loads the pages.

A copy of the site gets a small script that, once a page has loaded, writes
what the browser rendered into the DOM (each image's natural width, the
number of tables and rows); ``--dump-dom`` returns that DOM.  The published
site itself carries no test script.  A screenshot of the plots page is kept
in ``build/docs-screenshot.png``.
"""

from __future__ import annotations

import html
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from rsslab.site.build import Built

# The site, built with Sphinx and rendered by headless Chromium: the slow tier.
pytestmark = pytest.mark.slow

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--allow-file-access-from-files")
TIMEOUT_S = 120

PROBE = """<script>
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  imgs.forEach(function (i) { i.setAttribute('data-natural-width', String(i.naturalWidth)); });
  var broken = imgs.filter(function (i) { return !i.complete || i.naturalWidth === 0; })
                   .map(function (i) { return i.getAttribute('src'); });
  document.body.setAttribute('data-rsslab-check', JSON.stringify({
    title: document.title,
    images: imgs.length,
    broken: broken,
    tables: document.querySelectorAll('table').length,
    rows: document.querySelectorAll('table tbody tr').length
  }));
});
</script>"""


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("chromium is not installed; `make test` installs it (apt-get install chromium)")


def run_chromium(args: list[str], profile: Path, cwd: Path) -> str:
    argv = [chromium(), *FLAGS, f"--user-data-dir={profile}", *args]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT_S, cwd=cwd)
    assert proc.returncode == 0, f"chromium exited {proc.returncode}: {proc.stderr[-2000:]}"
    return proc.stdout


@pytest.fixture(scope="module")
def probed(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the site whose pages report what the browser rendered."""
    copy = tmp_path_factory.mktemp("site") / "html"
    shutil.copytree(built.html, copy)
    for page in copy.glob("*.html"):
        page.write_text(page.read_text().replace("</body>", PROBE + "</body>", 1))
    return copy


def rendered(site: Path, page: str, tmp_path: Path) -> dict[str, Any]:
    dom = run_chromium(["--virtual-time-budget=10000", "--dump-dom", (site / page).as_uri()],
                       tmp_path / f"profile-{page}", tmp_path)
    start = dom.find('data-rsslab-check="')
    assert start >= 0, f"{page}: the page's load handler never ran; DOM starts {dom[:300]!r}"
    raw = dom[start + len('data-rsslab-check="'):].split('"', 1)[0]
    result: dict[str, Any] = json.loads(html.unescape(raw))
    return result


def test_index_renders(probed: Path, tmp_path: Path) -> None:
    r = rendered(probed, "index.html", tmp_path)
    assert "rsslab" in r["title"]
    assert r["broken"] == []


def test_metrics_table_renders(probed: Path, built: Built, tmp_path: Path) -> None:
    r = rendered(probed, "metrics.html", tmp_path)
    assert r["tables"] >= 1 + len(built.kernels), r  # the overview and one per kernel
    assert r["rows"] > 0, r
    assert r["broken"] == []


def test_plots_render(probed: Path, built: Built, tmp_path: Path) -> None:
    r = rendered(probed, "plots.html", tmp_path)
    assert built.figures, "the host sweep alone gives at least one plot"
    assert r["images"] == len(built.figures), r
    assert r["broken"] == [], r


def test_screenshot_kept_in_build(built: Built, tmp_path: Path) -> None:
    shot = built.html.parent.parent / "docs-screenshot.png"
    shot.unlink(missing_ok=True)
    run_chromium(["--window-size=1280,2200", "--hide-scrollbars", f"--screenshot={shot}",
                  (built.html / "plots.html").as_uri()], tmp_path / "profile-shot", tmp_path)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
