"""Run scenarios on this machine's kernel through the observer.

The observer (``repro/observe.c``) does the measuring; this module only runs
it with the scenario's argv and input, maps its exit status to a clear
error, and parses its JSON.  QEMU guests run the same argv from their /init
(``rsslab.plan.observer_argv``) and are parsed by the same ``from_observer``.
"""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from rsslab import claims as claims_mod
from rsslab import children, kernels, kversion, observer, paths, results, scenarios
from rsslab.claims import regimes as regimes_mod
from rsslab.errors import ObserverError
from rsslab.plan import RunSpec, observer_argv
from rsslab.results import Observation
from rsslab.scratch import scratch

log = logging.getLogger(__name__)

RUN_TIMEOUT_S = 120
# How long the observer is given to end its tree and clean up when asked.
STOP_WAIT_S = 10.0



def _stderr_tail(text: str, lines: int = 3) -> str:
    return " | ".join(text.strip().splitlines()[-lines:])


def require_exact_reference(obs: Observation) -> None:
    """Without smaps_rollup there is nothing exact to compare with."""
    if obs.smaps_rss_kib is None:
        raise ObserverError(
            f"/proc/PID/smaps_rollup gave no Rss on Linux {obs.kernel_release} "
            "(it needs Linux >= 4.14 and a mounted /proc); rsslab cannot measure "
            "the exact RSS on this kernel"
        )


# A planned cgroup run where no memory cgroup can be made (a container, a
# read-only cgroup mount, a kernel before 5.19) still runs, and its result
# says why it has no cgroup peak; a cgroup the user asked for is required.
IF_AVAILABLE = "--cgroup-if-available"
REQUIRED = "--cgroup"


def observe_once(bin_dir: Path, spec: RunSpec, workdir: Path, kernel: str = "host",
                 cgroup_flag: str = IF_AVAILABLE) -> Observation:
    """One run of one scenario on the host kernel."""
    scenario = scenarios.get(spec.scenario)
    out = workdir / "observe.json"
    argv = observer_argv(spec, str(bin_dir), str(out), cgroup_flag)
    data = scenario.stdin_bytes(spec.params)
    stdin_path = workdir / "stdin"
    stdin_path.write_bytes(data or b"")
    log.info("%s", shlex.join(argv))
    with stdin_path.open("rb") as stdin:
        proc = subprocess.Popen(argv, stdin=stdin, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True, cwd=workdir)
        try:
            _, stderr = proc.communicate(timeout=RUN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise ObserverError(f"{spec.describe()} ran over {RUN_TIMEOUT_S} s; "
                                "lower its parameters") from None
        finally:  # a timeout, SIGTERM to rsslab (Terminated), ^C
            children.stop(proc, STOP_WAIT_S)
    if proc.returncode != 0:
        what = observer.exit_meaning(proc.returncode, "host")
        raise ObserverError(f"{spec.describe()}: {what}: {_stderr_tail(stderr)}")
    obs = observer.parse_output(out.read_text(), kernel, spec)
    require_exact_reference(obs)
    if obs.exit_code != 0:
        detail = _stderr_tail(stderr) or "no message"
        if obs.exit_code == 4:
            raise ObserverError(f"{spec.describe()} cannot run here: {detail}")
        raise ObserverError(f"{spec.describe()} failed (exit {obs.exit_code}, signal "
                            f"{obs.exit_signal}): {detail}")
    return obs


def run_specs(bin_dir: Path, specs: Iterable[RunSpec], kernel: str = "host",
              progress: Callable[[RunSpec], None] | None = None,
              cgroup_flag: str = IF_AVAILABLE) -> list[Observation]:
    """Every spec, ``spec.repeat`` times, in a scratch directory."""
    runs: list[Observation] = []
    with scratch("rsslab-run-") as tmp:
        for spec in specs:
            for _ in range(spec.repeat):
                runs.append(observe_once(bin_dir, spec, Path(tmp), kernel, cgroup_flag))
                if progress:
                    progress(spec)
    return runs


def save_host(results_dir: Path, runs: Iterable[Observation],
              features: frozenset[str]) -> dict[str, tuple[claims_mod.Assessment, ...]]:
    """Keep host runs in their result file with the host's regimes, and the
    verdicts of that result set beside it; return them, by label."""
    written = results.save(results_dir, runs, features, kernels.host().origin())
    return keep_verdicts(results_dir, [p.stem for p in written])


def keep_verdicts(results_dir: Path, labels: Iterable[str],
                  claims: Sequence[claims_mod.Claim] | None = None
                  ) -> dict[str, tuple[claims_mod.Assessment, ...]]:
    """Assess the saved result sets once (the project's claims unless given),
    store the verdicts beside them and return them, by label."""
    if claims is None:
        claims = claims_mod.load(paths.project_root() / "claims")
    return claims_mod.save_verdicts(results_dir, claims, labels)


def host_regimes(regimes: Iterable[regimes_mod.Regime], bin_dir: Path) -> frozenset[str]:
    """The running kernel's regimes: its version, and the probe (run here)
    where the version leaves a probed regime open."""
    regs = tuple(regimes)
    u = os.uname()
    maybe = regimes_mod.by_version(regs, kversion.upstream(u.release, u.version))
    probe = None
    if any(r.probe for r in regs if r.id in maybe):
        try:
            probe = run_specs(bin_dir, [regimes_mod.PROBE_RUN])[0]
        except ObserverError as e:
            # Where the probe cannot run here (ptrace denied, no
            # smaps_rollup), the version decides; the caller's own runs
            # then fail with the reason.
            log.info("the regime probe could not run (%s); regimes by version", e)
    return regimes_mod.features(regs, u.release, u.version, probe)
