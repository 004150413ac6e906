"""``python -m rsslab.cli``: the ``rsslab`` command."""

import sys

from rsslab.cli.commands import main

sys.exit(main())
