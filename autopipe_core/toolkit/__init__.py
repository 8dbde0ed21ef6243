"""What plugin authors would otherwise each write: rows, load plans, allowances, tokenizers, tiny components, single-file
helpers, header-only full-size checkpoints, the usual refusals and requirements, combined pipelines, components a family
loads itself.

``from autopipe_core import toolkit``, then ``toolkit.rows``, ``toolkit.plans``,
``toolkit.allowance``, ``toolkit.tokenizers``, ``toolkit.tiny``,
``toolkit.single_file``, ``toolkit.tensor_names``, ``toolkit.transformer_file``, ``toolkit.renames``, ``toolkit.fullsize``, ``toolkit.missing``,
``toolkit.requirements``, ``toolkit.connected``, ``toolkit.own_components``
(each imported on first use).
Importing any of them imports no torch, diffusers or transformers: they are
imported inside the functions that build something. docs/plugin-guide.md,
section "Toolkit", documents every public function with its arguments,
sizes and errors.
"""

from __future__ import annotations

import importlib
from types import ModuleType


def __getattr__(name: str) -> ModuleType:
    """``toolkit.<module>`` imports the module on first use, so that ``from autopipe_core import toolkit`` costs nothing."""
    if name.startswith("_"):
        raise AttributeError(name)
    try:
        module = importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{name}":
            raise
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    globals()[name] = module
    return module
