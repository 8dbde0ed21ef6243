"""``python -m autopipe_core.cli``: the ``autopipe`` command."""

import sys

from . import main

sys.exit(main())
