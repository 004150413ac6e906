"""The patched kernels, booted: each fix makes its metric exact, the
selftest fails before and passes after, and nothing else changes.

Slow: it builds eight kernels when the cache is cold (four from scratch,
four on their base's objects).  The proofs and the selftest runs are kept
under the cache, keyed by the digest of what they depend on (the kernel
images, the guest's sources, the claims, the CPU counts and QEMU's options,
``run/kept.py``), as ``rsslab patches`` keeps them: a run whose
inputs did not change reads them back and boots nothing, and a change to any
input measures again.  ``RSSLAB_TEST_REMEASURE=1`` boots them anyway.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import guests
import pytest

from rsslab import paths
from rsslab.repo.git import Ident
from rsslab.series.kernel import run as kernel

pytestmark = [pytest.mark.slow, pytest.mark.guest]

AUTHOR = Ident("Rsslab Tester", "tester@example.org")


@pytest.fixture(scope="module", autouse=True)
def _matrix() -> None:
    if importlib.util.find_spec("rsslab.run.matrix") is None:
        pytest.skip("no rsslab.run.matrix (the QEMU guest runner) in this checkout; merge it")


@pytest.mark.parametrize("name", ["linux-mainline", "linux-6.12.y", "linux-6.1.y",
                                  "linux-5.10.y"])
def test_patched_kernel_is_exact_and_nothing_else_changed(root: Path, build_dir: Path,
                                                           tmp_path: Path, name: str) -> None:
    # The patch's own claims also at 64 CPUs (where the kernels are built
    # for it: the mainline series); 128 is left to `make patches`.
    opts = kernel.Options(root=root, cache=paths.cache_dir(), series=(name,), cpus=(2,),
                          wide_cpus=(64,), cost=False, author=AUTHOR.show(),
                          date="2026-01-01T00:00:00Z", out_root=tmp_path, selftest_cpus=(2,),
                          remeasure=guests.REMEASURE)
    rep = kernel.run(opts, lambda _msg: None)[0]
    assert rep.proof is not None
    assert not rep.problems, "\n".join(rep.problems)
    assert rep.proof.before_inexact and rep.proof.after_exact
    assert all(r.before and r.after for r in rep.proof.rows)
    assert rep.proof.others_held, "no other claim applied to both kernels"
    for t in rep.selftests:
        assert t.passed == t.kernel.endswith(rep.series.regime), (t.kernel, t.tap, t.stderr)
    assert rep.output.check.clean and rep.output.applies
    text = "".join(f.read_text() for f in rep.output.files)
    assert "[not measured]" not in text
