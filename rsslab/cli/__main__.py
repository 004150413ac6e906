"""``python -m rsslab.cli``: the ``rsslab`` command."""

import sys

from rsslab.cli import main

sys.exit(main())
