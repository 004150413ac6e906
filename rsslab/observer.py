"""The observer's side of the contract (``repro/observe.c``, ``repro/init.c``):
what its exit statuses mean and how its JSON becomes an Observation.  The
host runner and the guest runner both read the observer through here."""

from __future__ import annotations

import json

from rsslab.errors import ObserverError
from rsslab.plan import RunSpec
from rsslab.results import Observation, from_observer

# observe.c's exit statuses (and init.c's 125), each with what to do about it.
# Where the binaries live decides the advice: on the host they are rebuilt,
# in a guest they come from the initramfs.
_EXIT = {
    1: "the observer broke",
    2: "the observer refused its arguments",
    4: "the observer cannot measure here",
    125: "the guest's /init could not set up the run",
}
_MISSING = {
    "host": {126: "a scenario binary is not executable; delete the build directory's bin/ "
                  "and run again (rsslab rebuilds it)",
             127: "a scenario binary is missing; delete the build directory's bin/ and run "
                  "again (rsslab rebuilds it)"},
    "guest": {126: "a binary in the initramfs is not executable",
              127: "a binary is missing from the initramfs"},
}


def exit_meaning(status: int, where: str) -> str:
    """What an observer exit status says, run on ``where`` ("host" or "guest")."""
    return _MISSING[where].get(status) or _EXIT.get(status) or f"the observer exited {status}"


def parse_output(text: str, kernel: str, spec: RunSpec) -> Observation:
    """The observer's JSON for one run of ``spec`` on ``kernel``."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise ObserverError(f"observer output is not JSON ({e}); delete the build directory's bin/ and run again to rebuild the observer") from None
    return from_observer(obj, kernel, spec.scenario, spec.params)
