# rsslab: `make repro` and `make test` set everything up on a fresh Debian machine.
PYTHON ?= python3
VENV := .venv
RSSLAB := $(VENV)/bin/rsslab
KERNELS ?= 6.1 6.12 6.12-nosum 7 host
CPUS ?= 1,2,4
REPEAT ?= 3

PKG_CORE := gcc libc6-dev make git python3-venv
# The tests that run rsslab under a tracer, and the benchmark against GNU time.
PKG_TOOLS := strace time
# The unit tier's initramfs and man-page lint tests.
PKG_CHECK := cpio mandoc groff
PKG_GUEST := qemu-system-x86 cpio
# Kernel builds: the patches' verification kernels and the fixture 6.12-nosum.
PKG_KBUILD := flex bison bc libelf-dev libssl-dev perl
PKG_PATCHES := $(PKG_KBUILD) mandoc groff man-db
PKG_DOCS := chromium

# tracefs: `rsslab measure`'s exact peak (kmem:rss_stat) and its tests.
.PHONY: tracefs repro repro-wide test check bench-matrix bench-tools patches docs publish wheel clean sysdeps-core sysdeps-tools sysdeps-check sysdeps-guest sysdeps-kbuild sysdeps-patches sysdeps-docs

repro: sysdeps-core sysdeps-guest sysdeps-kbuild tracefs $(VENV)/.stamp
	$(RSSLAB) run $(foreach k,$(KERNELS),--kernel $(k)) --cpus $(CPUS) --repeat $(REPEAT)

# Where the error is largest: Debian's 7 at 16, 64 and 128 CPUs, and the
# patched mainline kernel (built as `make patches` builds it) at 1 to 128.
repro-wide: sysdeps-core sysdeps-guest sysdeps-kbuild $(VENV)/.stamp
	$(RSSLAB) run --wide --repeat $(REPEAT)

# The tests start rsslab hundreds of times: its byte code is kept in build/
# (ignored) even where the environment says PYTHONDONTWRITEBYTECODE.
PYTEST_ENV := PYTHONDONTWRITEBYTECODE= PYTHONPYCACHEPREFIX=$(CURDIR)/build/pycache

# The full suite (what CI runs): unit, guest and slow tiers, on two
# workers a core: the guest tier on one of them (one guest per core at a
# time, and the kernel builds), each slow module whole on one, the unit
# tier spread (tests/xdist_groups.py).  The test guests, proofs and selftests
# whose inputs did not change are read back from the cache; REMEASURE=1
# boots them all again.
test: sysdeps-core sysdeps-tools sysdeps-check sysdeps-guest sysdeps-patches sysdeps-docs tracefs $(VENV)/.stamp
	$(PYTEST_ENV)$(if $(REMEASURE), RSSLAB_TEST_REMEASURE=1) $(VENV)/bin/pytest -q -n $$(( 2 * $$(nproc) )) --dist loadgroup

# The unit tier: offline, no QEMU, no kernel builds, no downloads (the
# tests' tier guard fails a test that tries without its marker).  Two
# workers a core: about half of its time is spent waiting for the programs
# it measures (timeouts, signals, sleeps).
check: sysdeps-core sysdeps-check tracefs $(VENV)/.stamp
	$(VENV)/bin/mypy
	$(PYTEST_ENV) $(VENV)/bin/pytest -q -p no:cacheprovider -m "not guest and not slow" -n $$(( 2 * $$(nproc) )) --dist loadgroup

bench-matrix: sysdeps-core sysdeps-guest $(VENV)/.stamp
	$(VENV)/bin/python bench/matrix.py

bench-tools: sysdeps-core sysdeps-tools $(VENV)/.stamp
	$(VENV)/bin/python bench/overhead.py
	$(VENV)/bin/python bench/doctor.py

# Proofs, selftests and cost runs whose inputs did not change are read back
# from the cache; REMEASURE=1 boots them again (rsslab patches --remeasure).
patches: sysdeps-core sysdeps-guest sysdeps-patches $(VENV)/.stamp
	$(RSSLAB) patches$(if $(REMEASURE), --remeasure)

docs: sysdeps-core sysdeps-docs $(VENV)/.stamp
	$(RSSLAB) docs

# make publish REMOTE=git@github.com:you/rsslab.git (or a path, or a remote's name)
publish: sysdeps-core sysdeps-docs $(VENV)/.stamp
	@test -n "$(REMOTE)" || { echo "rsslab: make publish needs REMOTE=URL (the repository whose gh-pages branch serves the site)" >&2; exit 2; }
	$(RSSLAB) docs --publish '$(REMOTE)'

# build/dist/rsslab-*.whl: the package with claims, reproducers, patches and docs sources
wheel: $(VENV)/.stamp
	$(VENV)/bin/pip wheel -q --no-deps -w build/dist .

sysdeps-core:
	@scripts/ensure-packages $(PKG_CORE)
sysdeps-tools:
	@scripts/ensure-packages $(PKG_TOOLS)
sysdeps-check:
	@scripts/ensure-packages $(PKG_CHECK)
tracefs:
	@scripts/ensure-tracefs
sysdeps-guest:
	@scripts/ensure-packages $(PKG_GUEST)
sysdeps-kbuild:
	@scripts/ensure-packages $(PKG_KBUILD)
sysdeps-patches:
	@scripts/ensure-packages $(PKG_PATCHES)
sysdeps-docs:
	@scripts/ensure-packages $(PKG_DOCS)

$(VENV)/.stamp: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[all,dev]'
	touch $@

clean:
	rm -rf build
