"""The old name of :mod:`autopipe_core.planning` (memory-aware placement), kept for plugins written against it.

Import the hook types from ``autopipe_core`` (``Footprint``, ``Activation``,
``ComponentBytes``) and sizes from ``autopipe_core.units``; the planner is
``autopipe_core.planning``.
"""

import warnings

from .planning import *  # noqa: F401,F403 - the names of before
from .planning import __all__  # noqa: F401

warnings.warn(
    "autopipe_core.placement is now autopipe_core.planning; the hook types are exported by autopipe_core itself",
    DeprecationWarning,
    stacklevel=2,
)
