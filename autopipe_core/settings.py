"""The environment variables that choose which plugins load and which wins: their names, and AUTOPIPE_STRICT's reading.

The registry is built from them (:mod:`autopipe_core.registry`, which reads
AUTOPIPE_PREFER; :func:`autopipe_core.plugins.allowed_from_env` reads
AUTOPIPE_PLUGINS), a registration snapshot is keyed on all three
(:mod:`autopipe_core.snapshot`) and the cold ``autopipe resolve`` reads
AUTOPIPE_STRICT before either is imported (:mod:`autopipe_core.quick`), so this
module imports ``os`` alone.
"""

from __future__ import annotations

import os

PLUGINS = "AUTOPIPE_PLUGINS"  # comma-separated distributions to load; empty: none; unset: all
PREFER = "AUTOPIPE_PREFER"  # comma-separated distributions that win conflicts, in order
STRICT = "AUTOPIPE_STRICT"  # a broken plugin is an error, not a report
#: Every setting the registry is built from, in the order a snapshot's key holds them (changing it changes every key).
ALL = (PLUGINS, PREFER, STRICT)
_TRUE = ("1", "true", "yes", "on")


def strict() -> bool:
    """Whether AUTOPIPE_STRICT is set to a true word (1, true, yes, on; any case, blanks around ignored)."""
    return os.environ.get(STRICT, "").strip().lower() in _TRUE
