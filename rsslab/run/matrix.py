"""The matrix: the claims' runs on every kernel and CPU count, one boot each.

A target is a kernel at a CPU count (``6.1-smp2``).  Its plan is the runs
of every claim that may apply to it, judged from its upstream version and
the regimes a user kernel declares, plus the split-rss probe
(``regimes.PROBE_RUN``); the probe's result, from the same boot, then
decides the kernel's regimes.  Guests run in parallel, as many as there are
host cores; a guest that hangs or panics fails alone, and every other
target's results are still returned and saved.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from rsslab import claims as claims_mod
from rsslab import kversion, locks, results, scenarios, steps
from rsslab.claims import Assessment, Claim, regimes
from rsslab.errors import UserError
from rsslab.kernels import Kernel, guest, initramfs, qemu
from rsslab.plan import RunSpec
from rsslab.results import Observation
from rsslab.run import host, kept
from rsslab.run.planner import host_cpus

log = logging.getLogger(__name__)

# Guest size and time.  A boot takes a few seconds under TCG and a run
# well under one, but a crowded host slows guests many times over (more so
# with more vCPUs than host cores), so the clocks are generous: a guest is
# hung when it sends no result for qemu.stall_for(its vCPUs), or runs past
# its cap.
GUEST_MEMORY_MIB = 512
# What a guest needs beside its largest run: the kernel and initramfs, and
# the kernel's per-CPU areas and stacks (about 1 MiB a CPU on Debian's
# kernels); the run itself gets its pages twice over (the page cache of a
# file scenario, page tables, the observer's copy).
GUEST_BASE_MIB = 384
GUEST_PER_CPU_MIB = 2
CAP_BASE_S = 600.0
CAP_PER_RUN_S = 10.0

Progress = Callable[[str, str, int, int], None]  # (label, state, done, total)

# Kept guests (Settings.store): one document of this kind per guest_key;
# bump the protocol when the channel's meaning changes.
KEPT_KIND = "guest"
KEPT_PROTOCOL = 1

# The matrix kernels: `make repro`'s default set (the Makefile's KERNELS,
# less the host), the opt-in ones `make test` checks too, and their CPU counts.
DEFAULT_KERNELS: tuple[str, ...] = ("6.1", "6.12", "6.12-nosum", "7")
OPT_IN_KERNELS: tuple[str, ...] = ("5.10",)
DEFAULT_CPUS: tuple[int, ...] = (1, 2, 4)

# The wide lane (`rsslab run --wide`, `make repro-wide`): where the counter
# error is largest.  Debian's newest kernel and the same release with the
# mainline patch (built by `rsslab patches`), at the CPU counts of the
# machines judges run; 256 vCPUs do not boot under TCG (qemu.MAX_VCPUS).
WIDE_LANE: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("7", (16, 64, 128)),
    ("linux-mainline", (1, 2, 4, 16, 64, 128)),
)


@dataclass(frozen=True, slots=True)
class Target:
    kernel: Kernel
    ncpus: int

    @property
    def label(self) -> str:
        return results.label_for(self.kernel.name, self.ncpus)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one target gave: its regimes, runs and what went wrong."""

    target: Target
    features: frozenset[str] = frozenset()
    runs: tuple[Observation, ...] = ()
    problems: tuple[str, ...] = ()  # runs that failed inside a finished guest
    error: str = ""  # the guest hung, panicked or could not start
    seconds: float = 0.0
    read_back: bool = False  # its runs are a kept boot's (Settings.store)
    # The verdicts of its saved result set, as stored (``claims.store``).
    assessments: tuple[Assessment, ...] = field(default=())


def targets(kernels: Sequence[Kernel], cpus: Sequence[int],
            per_kernel: Mapping[str, Sequence[int]] | None = None) -> list[Target]:
    """Every kernel at every CPU count (or at its own in ``per_kernel``);
    the host only at its own."""
    out: list[Target] = []
    for k in kernels:
        counts = (per_kernel or {}).get(k.name, cpus)
        counts = [host_cpus()] if k.is_host else list(dict.fromkeys(counts))
        out += [Target(k, n) for n in counts]
    labels = [t.label for t in out]
    dup = sorted({lab for lab in labels if labels.count(lab) > 1})
    if dup:
        raise UserError(f"two kernels share the label {', '.join(dup)}; give a user kernel "
                        "its own name in its sidecar <image>.rsslab.json")
    return out


def candidates(kernel: Kernel, regs: Sequence[regimes.Regime]) -> frozenset[str]:
    """Regimes by version and by declaration, before the probe."""
    return regimes.candidates(regs, kversion.parse(kernel.upstream), kernel.extra_regimes,
                              kernel.without_regimes)


def check_regimes(kernel: Kernel, regs: Sequence[regimes.Regime]) -> None:
    known = {r.id for r in regs}
    unknown = [r for r in (*kernel.extra_regimes, *kernel.without_regimes) if r not in known]
    if unknown:
        raise UserError(f"kernel {kernel.name} declares unknown regimes {', '.join(unknown)}; "
                        f"known: {', '.join(sorted(known))} (claims/regimes.toml)")


def plan_for(target: Target, claims: Sequence[Claim],
             regs: Sequence[regimes.Regime]) -> list[RunSpec]:
    feats = candidates(target.kernel, regs)
    return [*claims_mod.plan(claims, feats, target.ncpus, qemu.PAGE_SIZE), regimes.PROBE_RUN]


# What a target runs: plan_for, or the runs a user chose (rsslab.run.chosen).
Planner = Callable[[Target, Sequence[Claim], Sequence[regimes.Regime]], list[RunSpec]]


def find_probe(runs: Sequence[Observation]) -> Observation | None:
    key = regimes.PROBE_RUN.resolved().key()[:2]
    return next((o for o in runs if results.run_key(o)[:2] == key), None)


def features_of(kernel: Kernel, regs: Sequence[regimes.Regime],
                runs: Sequence[Observation]) -> frozenset[str]:
    probe = find_probe(runs)
    return regimes.features(regs, kernel.upstream, "", probe, kernel.extra_regimes,
                            kernel.without_regimes)


def with_features(out: Outcome, regs: Sequence[regimes.Regime]) -> Outcome:
    """The outcome with its kernel's regimes: declared, and probed in its runs."""
    return replace(out, features=features_of(out.target.kernel, regs, out.runs))


@dataclass(frozen=True, slots=True)
class Settings:
    bin_dir: Path  # the static binaries (build/bin)
    build_dir: Path  # build/: per-target work directories build/<label>/
    results_dir: Path  # build/results
    memory_mib: int = 0  # 0: from the plan's largest run and the CPU count
    timeout_s: float = 0.0  # the cap; 0: from the plan's size and the CPU count
    stall_s: float = 0.0  # 0: qemu.stall_for(the guest's vCPUs)
    jobs: int = 0  # guests at once; 0: one per host core
    # Guests whose inputs did not change are read back from it (guest_key);
    # None: every guest boots.
    store: kept.Store | None = None


def _split_available(specs: Sequence[RunSpec], bin_dir: Path) -> tuple[list[RunSpec], list[str]]:
    ok = [s for s in specs if (bin_dir / s.scenario).is_file()]
    missing = sorted({s.scenario for s in specs} - {s.scenario for s in ok})
    return ok, [f"{m}: no binary build/bin/{m} (repro/{m}.c is missing)" for m in missing]


def guest_memory(specs: Sequence[RunSpec], ncpus: int, settings: Settings) -> int:
    """MiB for a guest that runs ``specs`` on ``ncpus`` CPUs."""
    if settings.memory_mib:
        return settings.memory_mib
    largest = max((scenarios.get(s.scenario).pages(s.params, ncpus) for s in specs), default=0)
    need = GUEST_BASE_MIB + GUEST_PER_CPU_MIB * ncpus + 2 * largest * qemu.PAGE_SIZE // (1 << 20)
    return max(GUEST_MEMORY_MIB, -(-need // 64) * 64)


def guest_timeout(settings: Settings, runs: int, ncpus: int) -> float:
    if settings.timeout_s:
        return settings.timeout_s
    slowdown = max(1.0, ncpus / host_cpus())
    return CAP_BASE_S + CAP_PER_RUN_S * runs * slowdown


def run_guest(target: Target, specs: Sequence[RunSpec], settings: Settings,
              progress: Progress) -> Outcome:
    """Boot the target once with every spec in its initramfs, or read back
    what a boot with the same inputs sent (``settings.store``).  Its work
    directory (initramfs, results channel, console logs) is locked from the
    initramfs to the last result read: another rsslab sharing the build
    directory boots the same target after this one, never into its files."""
    work = settings.build_dir / target.label
    ok, problems = _split_available(specs, settings.bin_dir)
    plan = guest.make_plan(ok)
    key = guest_key(settings.store, target, plan, settings) if settings.store else ""
    sent = _read_back(settings.store, key, target.label, len(plan.specs), progress)
    if sent is None:
        with locks.locked(work / ".lock"):
            sent = _boot(target, plan, settings, work, progress)
    runs, failed = guest.observations(plan, guest.parse_channel(sent.channel), target.kernel.name)
    if settings.store and not sent.read_back and not failed:
        settings.store.put(KEPT_KIND, key, sent.to_doc())
    return Outcome(target, runs=tuple(runs), problems=tuple(problems + failed),
                   seconds=sent.seconds, read_back=sent.read_back)


@dataclass(frozen=True, slots=True)
class Sent:
    """What one boot sent on its results channel, and how long it ran."""

    channel: bytes
    seconds: float
    read_back: bool = False

    def to_doc(self) -> dict[str, object]:
        return {"channel": base64.b64encode(self.channel).decode(), "seconds": self.seconds}

    @staticmethod
    def from_doc(doc: object) -> "Sent | None":
        if not isinstance(doc, dict):
            return None
        try:
            return Sent(base64.b64decode(doc["channel"], validate=True), float(doc["seconds"]),
                        True)
        except (KeyError, TypeError, ValueError):
            return None


def guest_key(store: kept.Store, target: Target, plan: guest.GuestPlan,
              settings: Settings) -> str:
    """The digest of everything a guest's results channel depends on: the
    kernel, the CPU count, the plan and its inputs, the binaries in the
    initramfs (/init, the observer, the reproducers) and QEMU's options.
    What reads the channel (parsing, regimes, claims) is not an input: a
    kept channel is read by the code of the day."""
    memory = guest_memory(plan.specs, target.ncpus, settings)
    names = sorted({"init", *plan.binaries})
    return kept.digest((KEPT_PROTOCOL, kept.kernel_inputs(target.kernel), target.ncpus,
                        plan.text, sorted(plan.inputs.items()), kept.qemu_options(memory)),
                       [settings.bin_dir / n for n in names])


def _read_back(store: kept.Store | None, key: str, label: str, total: int,
               progress: Progress) -> Sent | None:
    if store is None:
        return None
    sent = Sent.from_doc(store.get(KEPT_KIND, key))
    if sent is not None:
        kept.said(f"{label}: {total} runs", store.path(KEPT_KIND, key),
                  "kernel, CPU count, plan, binaries and QEMU options", store.again)
        progress(label, "read back", total, total)
    return sent


def _boot(target: Target, plan: guest.GuestPlan, settings: Settings, work: Path,
          progress: Progress) -> Sent:
    label, kernel = target.label, target.kernel
    assert kernel.image is not None
    binaries = {n: settings.bin_dir / n for n in plan.binaries}
    initrd = initramfs.build(work / "initrd.gz", settings.bin_dir / "init", binaries,
                             plan.text, plan.inputs)
    total = len(plan.specs)
    cap = guest_timeout(settings, total, target.ncpus)
    machine = qemu.Machine(target.ncpus, guest_memory(plan.specs, target.ncpus, settings), cap,
                           min(settings.stall_s or qemu.stall_for(target.ncpus), cap))
    progress(label, "booting", 0, total)
    with steps.step(f"{label}: boot Linux {kernel.upstream} ({total} runs)"):
        boot = qemu.run(label, kernel.image, initrd, machine, work,
                        progress=lambda n: progress(label, "running", n, total))
        sent = guest.parse_channel(boot.results)
        if sent.done is None:
            raise qemu.unfinished(label, boot, f"the guest stopped after {len(sent.frames)} "
                                               f"of {total} runs")
    return Sent(boot.results, boot.seconds)


def run_host(target: Target, specs: Sequence[RunSpec], settings: Settings,
             progress: Progress) -> Outcome:
    """The same plan on the running kernel, through the host runner."""
    total = sum(s.repeat for s in specs)
    done = [0]

    def step(_spec: RunSpec) -> None:
        done[0] += 1
        progress(target.label, "running", done[0], total)

    start = time.monotonic()
    runs = host.run_specs(settings.bin_dir, specs, "host", step)
    return Outcome(target, runs=tuple(runs), seconds=time.monotonic() - start)


def run_target(target: Target, claims: Sequence[Claim], regs: Sequence[regimes.Regime],
               settings: Settings, progress: Progress, planner: Planner | None = None) -> Outcome:
    """One target, start to runs and regimes; a UserError becomes the outcome's error."""
    try:
        specs = (planner or plan_for)(target, claims, regs)
        runner = run_host if target.kernel.is_host else run_guest
        out = with_features(runner(target, specs, settings, progress), regs)
        progress(target.label, "done", len(out.runs), len(out.runs))
        return out
    except UserError as e:
        progress(target.label, "FAILED", 0, 0)
        return Outcome(target, error=str(e))


def _cost(target: Target, claims: Sequence[Claim], regs: Sequence[regimes.Regime],
          planner: Planner) -> float:
    runs = sum(s.repeat for s in planner(target, claims, regs))
    return runs * max(1.0, target.ncpus / host_cpus()) + (0 if target.kernel.is_host else 30)


def run_all(targets_: Sequence[Target], claims: Sequence[Claim],
            regs: Sequence[regimes.Regime], settings: Settings,
            progress: Progress, planner: Planner | None = None) -> list[Outcome]:
    """Every target, the slowest first, in parallel; results saved, and their
    verdicts stored, as each ends.  Each runs ``planner``'s specs (default:
    ``plan_for``, the claims' plan).

    Outcomes come back in the order of ``targets_``."""
    for t in targets_:
        check_regimes(t.kernel, regs)
    plan = planner or plan_for
    order = sorted(targets_, key=lambda t: -_cost(t, claims, regs, plan))
    jobs = settings.jobs or host_cpus()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {t.label: pool.submit(run_target, t, claims, regs, settings, progress, plan)
                   for t in order}
        outcomes = {}
        for t in order:
            outcomes[t.label] = save(settings.results_dir, futures[t.label].result(), claims)
    return [outcomes[t.label] for t in targets_]


def save(results_dir: Path, out: Outcome, claims: Sequence[Claim] | None = None) -> Outcome:
    """Keep a finished target's runs, with the regimes its kernel had, and
    the verdicts of its result set beside them; the outcome with those verdicts."""
    if out.error or not out.runs:
        return out
    written = results.save(results_dir, out.runs, out.features, out.target.kernel.origin())
    kept = host.keep_verdicts(results_dir, [p.stem for p in written], claims)
    return replace(out, assessments=tuple(a for label in kept for a in kept[label]))
