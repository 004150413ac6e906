"""``python -m rsslab``: the ``rsslab`` command."""

import sys

from rsslab.cli import main

sys.exit(main())
