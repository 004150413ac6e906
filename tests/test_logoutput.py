"""Output for logs: when stdout is not a terminal, every table is plain text
within LOG_WIDTH columns, nothing cut off, no row over more than two lines;
long steps say when they start and end."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.table import Table

from rsslab import claims, kernels, steps
from rsslab.claims import regimes
from rsslab.cli import plain, summary
from rsslab.cli.report import runs_table, verdict_table
from rsslab.run import host, matrix
from rsslab.run.host import host_regimes

ROOT = Path(__file__).resolve().parents[1]


def fits(make: Callable[[], Table]) -> None:
    """The table ``make`` builds, as a log gets it."""
    text = plain.for_log(make())
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= plain.LOG_WIDTH, text
    assert "…" not in text, text
    rows = plain.rows_in_lines(make())
    assert rows and max(rows) <= 2, text


def test_rows_in_lines_counts_wrapped_rows() -> None:
    def make() -> Table:
        t = Table("name", "words")
        t.add_row("a", "short")
        t.add_row("b", "word " * 40)
        t.add_row("c", "x\ny")
        return t

    assert plain.rows_in_lines(make(), width=60) == [1, 4, 2]
    assert plain.rows_in_lines(make(), width=plain.LOG_WIDTH) == [1, 2, 2]


def test_identifiers_are_never_cut_or_folded() -> None:
    t = Table("claim", "says")
    t.add_row("percpu-children-after-free", "a sentence " * 30)
    text = plain.for_log(t, width=80)
    assert "percpu-children-after-free" in text and "…" not in text


@pytest.mark.slow  # the whole host battery, or every reproducer compiled anew
@pytest.mark.host
def test_the_host_report_fits(bin_dir: Path) -> None:
    all_claims = claims.load(ROOT / "claims", 1)
    features = host_regimes(regimes.load(ROOT / "claims"), bin_dir)
    ncpus = os.cpu_count() or 1
    runs = host.run_specs(bin_dir, claims.plan(all_claims, features, ncpus), "host")
    assessed = [a for c in all_claims if c.applies(features, ncpus)
                if (a := claims.assess(c, runs, features, "host")).checks]
    fits(lambda: runs_table("host-smp2", runs, assessed))
    fits(lambda: verdict_table("host-smp2", assessed))


@pytest.mark.guest
def test_the_matrix_tables_fit(guest_outcomes: Callable[[], dict[str, matrix.Outcome]]) -> None:
    outs = list(guest_outcomes().values())
    booted = list({o.target.kernel.name: o.target.kernel for o in outs}.values())
    fits(lambda: summary.metrics_grid(outs))
    fits(lambda: summary.seed_table(outs))
    fits(lambda: summary.kernels_table([*booted, kernels.host()]))


def test_a_step_logs_its_start_and_end(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=steps.__name__)
    with steps.step("download linux-image-x 1.0 (" + steps.size(68_400_000) + ")") as s:
        s.note = "2 files"
    with pytest.raises(RuntimeError), steps.step("build kernel k"):
        raise RuntimeError("make failed")
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0] == "download linux-image-x 1.0 (68.4 MB) ..."
    assert lines[1].startswith("download linux-image-x 1.0 (68.4 MB): done in ")
    assert lines[1].endswith(" s (2 files)")
    assert lines[2] == "build kernel k ..."
    assert lines[3].startswith("build kernel k: failed after ")


def test_elapsed_and_size() -> None:
    assert steps.elapsed(3.21) == "3.2 s" and steps.elapsed(245) == "4 min 05 s"
    assert steps.size(999) == "999 B" and steps.size(1_250_000_000) == "1.2 GB"


@pytest.mark.host
def test_quiet_run_prints_only_results(bin_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    for b in bin_dir.iterdir():  # built already: the same files, up to date
        os.link(b, tmp_path / "bin" / b.name)
    proc = subprocess.run([sys.executable, "-m", "rsslab", "--quiet", "--build-dir",
                           str(tmp_path), "run", "--scenario", "touch", "--json"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout.count('"scenario": "touch"') == 1
    assert (tmp_path / "results").is_dir() and (tmp_path / "bin" / "observe").is_file()
