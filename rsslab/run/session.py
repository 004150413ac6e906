"""What every command sets up, once: where the project and its outputs are,
the compiled binaries, the claims and regimes, and this host's regimes and
CPU count.  A command takes a Session and passes it down (as kunit.py passes
its LinuxSourceTree); each part is made the first time it is asked for, so
a command that needs no binaries compiles none."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from rsslab import claims as claims_mod
from rsslab import paths
from rsslab.claims import regimes
from rsslab.claims.model import Claim
from rsslab.claims.regimes import Regime
from rsslab.run import planner
from rsslab.run.build import build_all
from rsslab.run.host import host_regimes


@dataclass
class Session:
    root: Path
    build_dir: Path
    bin_dir: Path
    _claims: dict[int | None, list[Claim]] = field(default_factory=dict, repr=False)
    _built: bool = field(default=False, repr=False)

    @classmethod
    def here(cls, root: Path | None = None, bin_dir: Path | None = None) -> Session:
        """The project this rsslab runs from (a checkout or the installed
        data), its build directory (``--build-dir``, $RSSLAB_BUILD_DIR) and
        the binaries' directory in it (or ``bin_dir``)."""
        root = root or paths.project_root()
        build = paths.build_dir(root)
        return cls(root, build, bin_dir or build / "bin")

    @property
    def results_dir(self) -> Path:
        return self.build_dir / "results"

    @property
    def claims_dir(self) -> Path:
        return self.root / "claims"

    def claims(self, repeat: int | None = None) -> list[Claim]:
        """The claims, their runs at ``repeat`` (the claims' own default
        when None); read and checked once per repeat."""
        if repeat not in self._claims:
            self._claims[repeat] = (claims_mod.load(self.claims_dir) if repeat is None
                                    else claims_mod.load(self.claims_dir, repeat))
        return self._claims[repeat]

    def data(self, repeat: int | None = None) -> list[Claim]:
        """The claims, once both data files (claims and regimes) are read and
        checked: bad data is refused before anything is built or run."""
        claims = self.claims(repeat)
        _ = self.regimes  # read now, not after the binaries are built
        return claims

    @cached_property
    def regimes(self) -> tuple[Regime, ...]:
        return regimes.load(self.claims_dir)

    def binaries(self) -> Path:
        """The observer and the reproducers, compiled if they are missing or
        older than their sources (once per session); their directory."""
        if not self._built:
            build_all(self.root, self.bin_dir)
            self._built = True
        return self.bin_dir

    @cached_property
    def host_features(self) -> frozenset[str]:
        """The running kernel's regimes: its version, and the probe run
        where the version cannot decide."""
        return host_regimes(self.regimes, self.binaries())

    @cached_property
    def ncpus(self) -> int:
        return planner.host_cpus()
