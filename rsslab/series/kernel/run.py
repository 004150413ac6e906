"""``rsslab patches`` for the kernel: trees, builds, proof, cost, series.

For each series of ``kernelpatches/series.toml``: take its tree (the cached
Debian import, or a user's git tree at a base), build the base and the
patched kernel (cached), boot both through the matrix, run the series'
selftests in both, measure the cost, and write the series with the
measured numbers under ``build/patches/<series>/``.  ``draft`` skips the
kernels and marks the numbers as not measured.  The proof, the selftests'
runs and the cost boots are kept under the cache (``kept``) and read back
while their inputs do not change (``remeasure``: measure them again); the
series text, checkpatch and ``git am`` always run.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rsslab import kernels, kversion, paths
from rsslab.debian import sources
from rsslab.errors import UserError
from rsslab.kernels import build as kbuild
from rsslab.kernels import series as series_kernels
from rsslab.kernels.edits import apply_edits
from rsslab.kernels.specs import (
    SelftestSpec,
    SeriesSpec,
    load_series,
    pick,
    series_of_patch,
)
from rsslab.repo import git
from rsslab.run import build as repro_build
from rsslab.run import kept, matrix
from rsslab.series.kernel import cost, guestrun, proof, series
from rsslab.series.kernel.series import SeriesOutput

Notify = Callable[[str], None]
PROOF_CPUS = (2, 4)
# Where the proof boots with only the patch's own claims (the other claims
# are judged at PROOF_CPUS): a 128-vCPU guest boots in over a minute under
# TCG, and the error the patch removes grows with the square of the count.
WIDE_CPUS = (64, 128)
# 256 cannot boot: QEMU's pc machine takes at most 255 vCPUs under TCG
# (qemu.MAX_VCPUS), and 255 did not finish booting in 500 s here.
COST_CPUS = (1, 8, 64, 128)
CONTEND_CPUS = (64, 128)
SELFTEST_CPUS = (2, 4)
# Helpers the guests need besides the matrix's binaries: (name, source).
GUEST_HELPERS = (("stdout_to", "kernelpatches/guest/stdout_to.c"), ("kcost", "bench/kcost.c"),
                 ("kcontend", "bench/kcontend.c"))
SELFTEST_PROTOCOL = 1  # bump when the selftest's plan or its kept record changes
SELFTEST_SOURCES = ("kernelpatches/guest/stdout_to.c", "repro/init.c", "repro/common.h")
SELFTEST_ALLOWANCE_S = 120.0


@dataclass(frozen=True, slots=True)
class Options:
    root: Path
    cache: Path
    series: tuple[str, ...] = ()
    tree: Path | None = None
    base: str = "HEAD"
    draft: bool = False
    refresh: bool = False
    author: str = ""
    date: str = ""  # commit date (git's format); empty: now
    cpus: tuple[int, ...] = PROOF_CPUS
    wide_cpus: tuple[int, ...] = WIDE_CPUS
    cost_cpus: tuple[int, ...] = COST_CPUS
    contend_cpus: tuple[int, ...] = CONTEND_CPUS
    cost: bool = True
    out_root: Path | None = None  # default: build/patches
    selftest_cpus: tuple[int, ...] = SELFTEST_CPUS
    remeasure: bool = False  # measure again what the cache keeps for the same inputs
    kept_dir: Path | None = None  # where measurements are kept; default <cache>/kept

    def store(self) -> kept.Store:
        return kept.Store(self.kept_dir or self.cache / "kept", self.root, self.remeasure)


@dataclass(frozen=True, slots=True)
class SelftestRun:
    kernel: str
    ncpus: int
    status: int
    tap: str
    stderr: str

    @property
    def passed(self) -> bool:
        return self.status == 0 and "\nnot ok" not in "\n" + self.tap

    def summary(self) -> str:
        if self.passed:
            return "ok"
        detail = next((ln.split(":", 4)[-1].strip() for ln in self.stderr.splitlines()
                       if "child" in ln and "ru_maxrss" in ln), f"exit {self.status}")
        return f"not ok ({detail})"


@dataclass(frozen=True, slots=True)
class Report:
    series: SeriesSpec
    tree: sources.Tree
    output: SeriesOutput
    proof: proof.Proof | None = None
    selftests: tuple[SelftestRun, ...] = ()
    costs: tuple[cost.Ratio, ...] = ()
    builds: tuple[kbuild.Built, ...] = ()
    problems: tuple[str, ...] = field(default=())
    samples: tuple[cost.Sample, ...] = ()   # every kernel's cost runs, variants too


def for_version(s: SeriesSpec, version: str) -> bool:
    """Is ``version`` one of the series' tree versions (``versions``)?"""
    return kversion.in_range(kversion.parse(version), *s.versions)


def span(s: SeriesSpec) -> str:
    """``6.12 up to 6.13`` (the upper end excluded), or ``6.13 and later``."""
    lo, hi = s.versions
    return f"{lo} up to {hi}" if hi else f"{lo} and later"


def tree_for(s: SeriesSpec, opts: Options) -> sources.Tree:
    """The user's tree for the series of its version, else Debian's."""
    if opts.tree is not None:
        t = sources.user_tree(opts.tree, opts.base)
        if for_version(s, t.version):
            return t
    return sources.debian_tree(opts.cache, s.debian, s.suites, opts.refresh)


def check_user_tree(chosen: Sequence[SeriesSpec], opts: Options) -> None:
    """A --kernel-tree must be of the version of some chosen series."""
    if opts.tree is None:
        return
    t = sources.user_tree(opts.tree, opts.base)
    if not any(for_version(s, t.version) for s in chosen):
        spans = ", ".join(f"{s.name} ({span(s)})" for s in chosen)
        raise UserError(f"{opts.tree} at {opts.base} is Linux {t.version}, which no chosen "
                        f"series is for: {spans}")


def also_cc(s: SeriesSpec, every: Sequence[SeriesSpec], opts: Options,
            author: git.Ident) -> list[str]:
    """A stable series' extra Cc: whom the mainline patch it names goes to
    (``cc_recipients_of``), addressed on that patch's own tree."""
    if not s.cc_recipients_of:
        return []
    other = series_of_patch(list(every), s.cc_recipients_of)
    return series.patch_recipients(other, tree_for(other, opts), s.cc_recipients_of, author,
                                   opts.date)


def _compile(src: Path, out: Path, includes: Sequence[Path] = (),
             cflags: Sequence[str] = ()) -> Path:
    """``out`` built static from ``src``, unless it is newer than ``src`` and
    the headers beside it; compiled under a unique name, renamed into place."""
    newest = max(p.stat().st_mtime for p in (src, *src.parent.glob("*.h")))
    if out.is_file() and out.stat().st_mtime >= newest:
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    flags = ["-static", "-O2", "-pthread", *cflags] if cflags else repro_build.CFLAGS
    argv = [repro_build.find_compiler(), *flags, *(f"-I{i}" for i in includes),
            "-o", str(tmp), str(src)]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, cwd=src.parent,
                              timeout=repro_build.COMPILE_TIMEOUT_S)
        if proc.returncode != 0:
            tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
            raise UserError(f"cannot compile {src.name}: {tail}")
        tmp.chmod(0o755)
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def build_selftest(s: SeriesSpec, tree: sources.Tree, test: SelftestSpec, cache: Path) -> Path:
    """The series' selftest, built static from the patched tree (cached)."""
    with sources.kernel_worktree(tree, sparse=(*series.sparse_paths(s), *test.headers)) as wt:
        for p in s.patches:
            apply_edits(wt, p.edits, p.requires)
        h = hashlib.sha256(" ".join(test.cflags).encode())
        for f in (test.source, *test.headers):
            h.update((wt / f).read_bytes())
        out = cache / "kbuild" / f"selftest-{h.hexdigest()[:16]}" / test.name
        if not out.is_file():
            _compile(wt / test.source, out, [wt / i for i in test.includes], test.cflags)
    return out


def selftest_key(store: kept.Store, k: kernels.Kernel, test: Path, ncpus: int) -> str:
    """The digest of what one selftest boot depends on: the kernel, the
    test's binary, the CPU count, /init and QEMU's options."""
    return store.key((SELFTEST_PROTOCOL, kept.kernel_inputs(k), ncpus, test.name,
                      kept.digest((), [test]), kept.qemu_options(guestrun.MEMORY_MIB)),
                     SELFTEST_SOURCES)


def selftest_of(doc: object) -> SelftestRun | None:
    """A kept selftest run, or None when the document is not one."""
    if not isinstance(doc, dict):
        return None
    try:
        return SelftestRun(str(doc["kernel"]), int(doc["ncpus"]), int(doc["status"]),
                           str(doc["tap"]), str(doc["stderr"]))
    except (KeyError, TypeError, ValueError):
        return None


def boot_selftest(k: kernels.Kernel, test: Path, bins: Mapping[str, Path], init: Path,
                  work: Path, n: int) -> SelftestRun | None:
    """One boot at ``n`` CPUs; None when the guest reported nothing."""
    assert k.image is not None
    cmd = guestrun.Command(("/bin/stdout_to", "/tmp/tap", f"/bin/{test.name}"), "/tmp/tap")
    res = guestrun.run_commands(f"{k.name}-smp{n}-selftest", k.image, n, [cmd],
                                {**bins, test.name: test}, init,
                                work / f"{k.name}-smp{n}-selftest", SELFTEST_ALLOWANCE_S)
    return SelftestRun(k.name, n, res[0].status, res[0].output, res[0].stderr) if res else None


def run_selftests(k: kernels.Kernel, test: Path, bins: Mapping[str, Path], init: Path,
                  work: Path, cpus: Sequence[int],
                  store: kept.Store | None = None) -> list[SelftestRun]:
    """The selftest at each CPU count: kept runs read back, others booted
    (and kept, when the guest reported)."""
    out = []
    reused = []
    for n in cpus:
        key = selftest_key(store, k, test, n) if store else ""
        got = selftest_of(store.get("selftest", key)) if store else None
        if got is not None:
            reused.append(n)
        else:
            got = boot_selftest(k, test, bins, init, work, n)
            if got is not None and store:
                store.put("selftest", key, asdict(got))
        out.append(got or SelftestRun(k.name, n, -1, "", "no result"))
    if store and reused:
        kept.said(f"selftest {test.name} on {k.name} at {words(reused)} CPUs", store.directory,
                  "kernel, test binary, CPU counts and QEMU options", store.again)
    return out


def values_for(s: SeriesSpec, pr: proof.Proof, tests: Sequence[SelftestRun],
               costs: Sequence[cost.Ratio], cpus: Sequence[int],
               samples: Sequence[cost.Sample] = ()) -> dict[str, str]:
    """The ``${names}`` of the series' messages, from what was measured."""
    runs = {len(r.after) for r in pr.rows}
    v = {
        "claims_table": proof.table(pr),
        "other_claims": proof.others_sentence(pr),
        "runs": " or ".join(str(n) for n in sorted(runs)) or "0",
        "cpus": " and ".join(str(n) for n in cpus),
        "seed_before": proof.scenario_value(pr.base_runs, "seed", "vmhwm_kib", "smaps_rss_kib"),
        "seed_after": proof.scenario_value(pr.patched_runs, "seed", "vmhwm_kib",
                                           "smaps_rss_kib"),
    }
    base_tests = [t for t in tests if not t.kernel.endswith(s.regime)]
    new_tests = [t for t in tests if t.kernel.endswith(s.regime)]
    if tests:
        v["selftest_before"] = "; ".join(f"{t.ncpus} CPUs: {t.summary()}" for t in base_tests)
        v["selftest_after"] = "; ".join(f"{t.ncpus} CPUs: {t.summary()}" for t in new_tests)
    if costs:
        v["bench_table"] = cost.table(costs)
        v["bench_repeats"] = cost.repeats(sorted({c.ncpus for c in costs}))
        v["bench_cpus"] = words(sorted({c.ncpus for c in costs}))
    elif s.cost:
        v["bench_table"] = "  (not measured: this run skipped the cost benchmark)"
        v["bench_repeats"] = "no runs"
    if s.cost:
        v.update(bench_values(s, samples))
    return v


def words(ns: Sequence[int]) -> str:
    """1, 8, 64 and 128"""
    items = [str(n) for n in ns]
    return ", ".join(items[:-1]) + " and " + items[-1] if len(items) > 1 else "".join(items)


def bench_values(s: SeriesSpec, samples: Sequence[cost.Sample]) -> dict[str, str]:
    """The design comparison and the contention table, or what is missing."""
    if not samples:
        gap = "  (not measured: this run skipped the cost benchmark)"
        return {"design_table": gap, "contention_table": gap, "bench_spread": "",
                "contend_cpus": "no CPU count"}
    base = f"{s.name}-base"
    designs = [(f"{s.name}-{s.regime}", s.title),
               *((f"{s.name}-{v.name}", v.title) for v in s.variants)]
    fork = cost.max_spread(samples, ("fork_exit",)) * 100
    fault = cost.max_spread(samples, ("fault",)) * 100
    contend = cost.max_spread(samples, tuple(f"contend_{r}" for r in cost.READERS)) * 100
    return {
        "design_table": cost.design_table(samples, base, designs),
        "contention_table": cost.contention_table(samples, [(base, "base"), *designs]),
        "bench_spread": (f"The runs of one kernel at one CPU count lie within {fork:.1f}% "
                         f"of each other for fork+exit+wait, {fault:.1f}% for faults and "
                         f"{contend:.1f}% for faults beside a reader."),
        "contend_cpus": words(sorted({x.ncpus for x in samples
                                      if x.test.startswith("contend_")})) or "no CPU count",
    }


def guest_helpers(root: Path) -> dict[str, Path]:
    out = paths.build_dir(root) / "patches" / "bin"
    return {name: _compile(root / src, out / name) for name, src in GUEST_HELPERS}


def variant_specs(s: SeriesSpec, tree: sources.Tree) -> list[kbuild.BuildSpec]:
    """The series' other designs (``[[series.variant]]``), built like the
    patched kernel, with the same configuration."""
    return [kbuild.BuildSpec(f"{s.name}-{v.name}", tree, v.patches, s.config_fragment(),
                             (s.regime,)) for v in s.variants]


def build_kernels(s: SeriesSpec, tree: sources.Tree, opts: Options, notify: Notify,
                  variants: bool = False) -> list[kbuild.Built]:
    """The base and the patched kernel, and with ``variants`` the series'
    variants (only the cost measures them): cached, or built one on the
    objects of the other (``kbuild.build_all``)."""
    specs = [series_kernels.base_spec(s, tree), series_kernels.patched_spec(s, tree),
             *(variant_specs(s, tree) if variants else [])]

    def step(label: str, n: int, total: int) -> None:
        notify(f"building {label}: {n}/{total or '?'} lines of make output")

    notify(f"{s.name}: kernels {', '.join(x.label for x in specs)} "
           "(tinyconfig + kernelpatches fragments)")
    return kbuild.build_all(specs, opts.cache, step)


def nr_cpus(s: SeriesSpec) -> int:
    """CONFIG_NR_CPUS of the series' verification kernels (64 by default)."""
    return int(kbuild.fragment_options(s.config_fragment()).get("CONFIG_NR_CPUS", "64"))


def fits(s: SeriesSpec, cpus: Sequence[int]) -> tuple[int, ...]:
    """The CPU counts the series' kernels can boot with all CPUs online."""
    return tuple(n for n in cpus if n <= nr_cpus(s))


def prove_series(s: SeriesSpec, tree: sources.Tree, opts: Options,
                 notify: Notify) -> tuple[dict[str, str], Report]:
    """Build, boot, test and time; the message values and what was seen."""
    cost_cpus = s.cost_cpus(fits(s, opts.cost_cpus))
    measure_cost = s.cost and opts.cost and bool(cost_cpus)
    b, p, *variants = build_kernels(s, tree, opts, notify, variants=measure_cost)
    kb, kp = kernels.resolve_path(b.image), kernels.resolve_path(p.image)
    bin_dir = paths.build_dir(opts.root) / "bin"
    repro_build.build_all(opts.root, bin_dir)
    work = paths.build_dir(opts.root) / "patches" / "guests" / s.name
    # Wide only where the kernels take every wide count (the mainline's).
    wide = opts.wide_cpus if fits(s, opts.wide_cpus) == opts.wide_cpus else ()
    settings = matrix.Settings(bin_dir, work, paths.results_dir(opts.root))

    def progress(label: str, state: str, done: int, total: int) -> None:
        notify(f"{label}: {state} {done}/{total}")

    store = opts.store()
    pr = proof.run_kept(store, kb, kp, fits(s, opts.cpus), settings, s.focus_claims(),
                        s.regime, progress, wide)
    helpers = guest_helpers(opts.root)
    init = bin_dir / "init"
    tests: list[SelftestRun] = []
    for t in s.selftests():
        binary = build_selftest(s, tree, t, opts.cache)
        for k in (kb, kp):
            notify(f"selftest {t.name} on {k.name}")
            tests += run_selftests(k, binary, helpers, init, work, opts.selftest_cpus, store)
    samples: list[cost.Sample] = []
    if measure_cost:
        kernels_ = [kb, kp, *(kernels.resolve_path(v.image) for v in variants)]
        samples = cost.measure_kernels(kernels_, cost_cpus, helpers, init, work / "cost",
                                       notify,
                                       contend_cpus=s.cost_cpus(fits(s, opts.contend_cpus)),
                                       store=store)
    costs = cost.ratios(samples, kb.name, kp.name)
    rep = Report(s, tree, _placeholder_output(s), pr, tuple(tests), tuple(costs),
                 (b, p, *variants), tuple(problems(pr, tests, s)), tuple(samples))
    return values_for(s, pr, tests, costs, (*fits(s, opts.cpus), *wide), samples), rep


def problems(pr: proof.Proof, tests: Sequence[SelftestRun], s: SeriesSpec) -> list[str]:
    """What keeps the proof from proving: said plainly, never hidden."""
    out = list(pr.errors) + list(pr.others_failed)
    if not pr.after_exact:
        out.append(f"{s.name}: the patched kernel is not exact in every run: "
                   + "; ".join(f"{r.claim} at {r.ncpus} CPUs: {proof.Row.show(r.after)}"
                               for r in pr.rows if any(r.after) or not r.after))
    if not pr.before_inexact:
        out.append(f"{s.name}: the base kernel was exact in every run; the proof shows nothing")
    for t in tests:
        if t.kernel.endswith(s.regime) != t.passed:
            out.append(f"{s.name}: selftest on {t.kernel} at {t.ncpus} CPUs: {t.summary()}, "
                       f"expected {'ok' if t.kernel.endswith(s.regime) else 'not ok'}")
    return out


def _placeholder_output(s: SeriesSpec) -> SeriesOutput:
    return series.SeriesOutput(s.name, Path(), (), (), (), series.CheckReport(()),
                               False, True)


def saved_values(out_dir: Path) -> dict[str, str]:
    path = out_dir / "proof.json"
    try:
        doc = json.loads(path.read_text())
        return {str(k): str(v) for k, v in doc.get("values", {}).items()}
    except (OSError, ValueError):
        return {}


def run(opts: Options, notify: Notify) -> list[Report]:
    """Every chosen series, one after another."""
    reports = []
    root_out = opts.out_root or paths.build_dir(opts.root) / "patches"
    every = load_series(opts.root)
    chosen = pick(every, list(opts.series))
    check_user_tree(chosen, opts)
    ccs: dict[str, list[str]] = {}  # the stable series share the mainline patch's
    for s in chosen:
        notify(f"{s.name}: source tree")
        tree = tree_for(s, opts)
        author = git.identity(tree.git_dir, opts.author)
        out_dir = root_out / s.name
        if opts.draft:
            values, rep = saved_values(out_dir), None
        else:
            values, rep = prove_series(s, tree, opts, notify)
        notify(f"{s.name}: series, checkpatch, git am")
        if s.cc_recipients_of not in ccs:
            ccs[s.cc_recipients_of] = also_cc(s, every, opts, author)
        out = series.generate(s, tree, out_dir, values, author, opts.date, draft=opts.draft,
                              also_cc=ccs[s.cc_recipients_of])
        (out_dir / "proof.json").write_text(json.dumps(
            {"tree": tree.describe, "base": tree.base, "values": values,
             "problems": list(rep.problems) if rep else []}, indent=1) + "\n")
        if rep is None:
            reports.append(Report(s, tree, out))
        else:
            reports.append(Report(s, tree, out, rep.proof, rep.selftests, rep.costs,
                                  rep.builds, rep.problems, rep.samples))
    return reports
