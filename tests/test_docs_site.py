"""The site: built with sphinx-build -W from the stored results, links, citations.

The session fixture ``built`` (conftest.py) does what ``make docs`` does: it
measures on the host whatever the pages need and is missing, then builds
``build/docs/html``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from rsslab.claims import Verdict
from rsslab.site import build as site
from rsslab.site import evidence
from rsslab.site.build import Built, DocsError, Layout

# Each test builds the site (or a copy of it) with Sphinx: the slow tier.
pytestmark = pytest.mark.slow

PAGES = ("index", "story", "metrics", "plots", "advice", "tools", "kernels", "patches",
         "reproduce")


class Links(HTMLParser):
    """Every link-like attribute and every id of one HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.ids: set[str] = set()
        self.canonical = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(str(a["id"]))
        if tag == "link" and a.get("rel") == "canonical":
            self.canonical = str(a.get("href"))
            return
        for name in ("href", "src"):
            if a.get(name):
                self.refs.append(str(a[name]))


def parse(path: Path) -> Links:
    p = Links()
    p.feed(path.read_text())
    return p


def test_pages_and_publishing_files(built: Built) -> None:
    for page in PAGES:
        assert (built.html / f"{page}.html").is_file(), page
    assert (built.html / ".nojekyll").is_file()
    for fig in built.figures:
        assert (built.html / "_images" / fig).stat().st_size > 0, fig


def test_internal_links_resolve(built: Built) -> None:
    """Relative links only; each target file exists, each #fragment is an id there."""
    broken = []
    pages = {p: parse(p) for p in built.html.rglob("*.html")}
    for page, links in pages.items():
        for ref in links.refs:
            url = urlsplit(ref)
            if url.scheme in ("http", "https", "mailto"):
                continue
            if url.scheme or ref.startswith("/"):
                broken.append(f"{page.name}: absolute link {ref}")
                continue
            target = (page.parent / unquote(url.path)).resolve() if url.path else page
            if not target.exists():
                broken.append(f"{page.name}: {ref} -> missing {target}")
            elif url.fragment and target.suffix == ".html":
                ids = pages[target].ids if target in pages else parse(target).ids
                if url.fragment not in ids:
                    broken.append(f"{page.name}: {ref} -> no id {url.fragment}")
    assert not broken, "\n".join(broken[:20])


def test_canonical_links_use_the_project_baseurl(built: Built) -> None:
    links = parse(built.html / "metrics.html")
    base = links.canonical.removesuffix("metrics.html")
    assert links.canonical.endswith("metrics.html") and base.startswith("https://"), links.canonical


def test_metrics_page_shows_every_kernel_and_checked_claim(layout: Layout, built: Built) -> None:
    ev = evidence.load(layout.root, layout.results)
    html = (built.html / "metrics.html").read_text()
    assert ev.kernels, "the fixture measured the host, so there is at least one kernel"
    for k in ev.kernels:
        assert f'id="{k.label}"' in html or k.label in html
        assert k.results.kernel_release in html
        for a in k.assessments:
            assert f'id="claim-{a.claim.id}"' in html


def test_every_claim_has_an_anchor(layout: Layout, built: Built) -> None:
    ids = parse(built.html / "metrics.html").ids
    ev = evidence.load(layout.root, layout.results)
    missing = [c.id for c in ev.claims if f"claim-{c.id}" not in ids]
    assert not missing


def _bad_build(layout: Layout, tmp_path: Path, text: str,
               edit: dict[str, str] | None = None, unmeasured: bool = False) -> str:
    """Build a copy of the sources with one extra page, the claims in ``edit``
    given that verdict (and, ``unmeasured``, no kernel's); return Sphinx's
    complaint."""
    src = tmp_path / "src"
    shutil.copytree(layout.src, src)
    (src / "cites.rst").write_text(":orphan:\n\nA sentence. " + text + "\n")
    if edit:
        data_file = src / "_data" / "evidence.json"
        data = json.loads(data_file.read_text())
        for claim_id, state in edit.items():
            data["claims"][claim_id]["state"] = state
            if unmeasured:
                data["claims"][claim_id]["verdicts"] = {}
                data["claims"][claim_id]["unavailable"] = {}
        data_file.write_text(json.dumps(data))
    with pytest.raises(DocsError) as excinfo:
        site.run_sphinx(src, tmp_path / "html")
    return str(excinfo.value)


def _some_claim(layout: Layout) -> str:
    return evidence.load(layout.root, layout.results).claims[0].id


def test_citing_an_unknown_claim_fails_the_build(layout: Layout, built: Built,
                                                 tmp_path: Path) -> None:
    msg = _bad_build(layout, tmp_path, ":claim:`no-such-claim`")
    assert "unknown claim id 'no-such-claim'" in msg


def test_citing_an_unchecked_claim_fails_the_build(layout: Layout, built: Built,
                                                   tmp_path: Path) -> None:
    cid = _some_claim(layout)
    msg = _bad_build(layout, tmp_path, f":claim:`{cid}`", {cid: "undecided"},
                     unmeasured=True)
    assert f"claim '{cid}' was not checked" in msg


def test_citing_a_contradicted_claim_fails_the_build(layout: Layout, built: Built,
                                                     tmp_path: Path) -> None:
    cid = _some_claim(layout)
    msg = _bad_build(layout, tmp_path, f":claim:`{cid}`", {cid: "contradicted"})
    assert f"claim '{cid}' was contradicted" in msg


def test_an_undecided_claim_says_not_decided_never_disagreed(layout: Layout, built: Built,
                                                             tmp_path: Path) -> None:
    """A claimed block on a claim no run could decide says so, in a note."""
    cid = _some_claim(layout)
    src = tmp_path / "src"
    shutil.copytree(layout.src, src)
    (src / "cites.rst").write_text(f":orphan:\n\n.. claimed:: {cid}\n\n   Stated prose.\n")
    data_file = src / "_data" / "evidence.json"
    data = json.loads(data_file.read_text())
    data["claims"][cid]["state"] = "undecided"
    data["claims"][cid]["verdicts"] = {"k-smp2": {
        "verdict": "undecided", "runs": 1, "worst_err_pages": 0, "bound": "[-1, 0]",
        "problems": ["touch {'pages': 1000}: this run cannot decide the claim"]}}
    data_file.write_text(json.dumps(data))
    site.run_sphinx(src, tmp_path / "html")
    page = re.sub(r"\s+", " ", (tmp_path / "html" / "cites.html").read_text())
    assert "Stated prose" not in page
    assert "Not decided yet" in page and "not decided on k-smp2" in page
    assert "disagreed" not in page and "Measured otherwise" not in page


def test_unmeasured_value_fails_the_build(layout: Layout, built: Built, tmp_path: Path) -> None:
    msg = _bad_build(layout, tmp_path, ":obs:`no-such-regime touch pages=1 vmrss_kib`")
    assert "no measured vmrss_kib" in msg


@pytest.mark.parametrize("cid,phrase", [
    ("seed-exit-stop-smaps-sees-buffer", "was at least the exact RSS the program measured"),
    ("split-thread-exit-folds-vmrss", "within one thread\u2019s tally, not the threads\u2019 total"),
])
def test_claimed_block_states_only_checked_claims(layout: Layout, built: Built, cid: str,
                                                  phrase: str) -> None:
    """Prose under a claim that holds is shown; otherwise a note says what is missing."""
    ev = evidence.load(layout.root, layout.results)
    claim = ev.claim(cid)
    assert claim is not None
    story = re.sub(r"\s+", " ", (built.html / "story.html").read_text())
    if ev.status(claim).verdict is Verdict.HOLDS:
        assert phrase in story
    else:
        assert phrase not in story
        assert re.search(rf'(Not decided yet|Not available here|Not stated here|'
                         rf'Measured otherwise).{{0,3000}}#claim-{cid}"', story)


OBS = re.compile(r":obs:`([^`]+)`")


def test_every_value_query_in_the_pages_resolves(layout: Layout, built: Built,
                                                 tmp_path: Path) -> None:
    """Plumbing, not results: with every claim marked as holding and one stand-in
    run per ``:obs:`` query, all hand-written pages build under -W, so a typo in
    a query cannot hide inside a block that today's results keep folded."""
    src = tmp_path / "src"
    shutil.copytree(layout.src, src)
    data_file = src / "_data" / "evidence.json"
    data = json.loads(data_file.read_text())
    for info in data["claims"].values():
        info["state"] = Verdict.HOLDS.value
    features = [r.id for r in evidence.load(layout.root, layout.results).regimes]
    runs: dict[str, list[dict[str, object]]] = {}
    for page in Path(layout.root / "docs").glob("*.rst"):
        for query in OBS.findall(page.read_text()):
            words = [w for w in query.split() if w not in ("pages", "kib")]
            run = {"scenario": words[1], "page_size": 4096,
                   "params": dict(w.split("=", 1) for w in words[2:-1])}
            run.update({name: 8 for name in words[-1].split("-")})
            # A query that selects a kernel by label gets a stand-in of that label.
            label = words[0] if "-smp" in words[0] else "standin-smp2"
            runs.setdefault(label, []).append(run)
    assert runs, "the pages quote measured values"
    for label, kernel_runs in runs.items():
        name, _, ncpus = label.rpartition("-smp")
        data["kernels"].append({"label": label, "kernel": name, "release": "0",
                                "ncpus": int(ncpus), "features": features})
        data["runs"][label] = kernel_runs
    data_file.write_text(json.dumps(data))
    site.run_sphinx(src, tmp_path / "html")
    story = (tmp_path / "html" / "story.html").read_text()
    assert "Not decided yet" not in story


def _git(args: list[str], cwd: Path) -> None:
    subprocess.run(["git", "-c", "user.name=A U Thor", "-c", "user.email=author@example.org",
                    *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def test_patches_page_renders_a_format_patch_series(layout: Layout, built: Built,
                                                    tmp_path: Path) -> None:
    repo = tmp_path / "tree"
    repo.mkdir()
    _git(["init", "-q", "-b", "base"], repo)
    (repo / "exit.c").write_text("int a;\n")
    _git(["add", "."], repo)
    _git(["commit", "-q", "-m", "base"], repo)
    (repo / "exit.c").write_text("int a;\nint b;\n")
    _git(["commit", "-q", "-am", "mm: fold the counters before the exit stop"], repo)
    series = tmp_path / "patches" / "linux-6.1.y"
    _git(["format-patch", "-q", "--cover-letter", "-o", str(series), "HEAD~1"], repo)
    (series / "proof.txt").write_text("before: 4 KiB, after: 696 KiB\n")
    (series / "proof.json").write_text(json.dumps(
        {"tree": "Debian linux-source-6.1", "base": "b", "problems": [],
         "values": {"runs": "160", "claims_table": "metric  base  patched\nVmHWM   -206  0"}}))
    lay = Layout(layout.root, layout.results, tmp_path / "patches", tmp_path / "src",
                 tmp_path / "html")
    site.build(lay)
    page = re.sub(r"\s+", " ", (lay.html / "patches.html").read_text())
    assert "mm: fold the counters before the exit stop" in page
    assert "proof.txt" in page and "before: 4 KiB, after: 696 KiB" in page
    assert "No <code class=\"docutils literal notranslate\"><span class=\"pre\">linux-mainline</span>" in page
    assert 'href="#series-linux-6-1-y"' in page  # the summary links each series
    assert "VmHWM -206 0" in page and "Debian linux-source-6.1" in page
    assert list((lay.html / "_downloads").rglob("0001-*.patch"))


def test_the_numbers_pages_come_from_results(built: Built) -> None:
    """The kernel matrix shows the stored runs of the judge's program; the
    tools page says how to measure what no benchmark file holds yet."""
    kernels = re.sub(r"\s+", " ", (built.html / "kernels.html").read_text())
    assert "smaps_rollup Rss (KiB)" in kernels
    assert any(k in kernels for k in built.kernels)
    tools = re.sub(r"\s+", " ", (built.html / "tools.html").read_text())
    assert "bench/overhead.py" in tools and "bench/examples.py" in tools
