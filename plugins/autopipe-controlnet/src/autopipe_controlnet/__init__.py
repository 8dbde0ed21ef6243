"""autopipe plugin: ControlNet as a modifier over other plugins' families.

It owns no family. The core registers the ``controlnet=`` keyword (which picks
the ControlNet class, or the ControlNet Union class for a ControlNetUnionModel,
and with None goes back to the plain class); this plugin registers the
ControlNet rows of SD and SDXL, and recognises ControlNet single files. Rows for
a family whose plugin is not installed are simply unused.

The package holds the names its single-file detection shares with the
registrations: the detect keys, plain strings. The registrations are in
:mod:`autopipe_controlnet.plugin`, which the entry point names; detection is in
:mod:`autopipe_controlnet.single_file`. So a cold ``autopipe resolve FILE``
imports the detection module alone (and this package), never the specs and
pluggy the registrations import. Its other public names live in
:mod:`autopipe_controlnet.plugin` and are given from there when first asked:
:func:`from_single_file`, the plugin's loader (on the entry point's module,
where the conformance kit looks for public loaders), and ``choose``, ``fits``,
``CONTROLNET`` and ``UNION``, their names here before they moved to the core.
Nothing here imports torch, diffusers or transformers.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: a cold `autopipe resolve FILE` imports this package
if TYPE_CHECKING:
    from typing import Any

#: The two layouts single_file.detect recognises, by the tensor each is told by: the original one's hint encoder (under
#: lllyasviel's prefix, or bare as in some SD 2.1 ControlNets, thibaud's), diffusers' own by its conditioning embedding.
#: Here, not there, so that registering the keys imports no detection code; single_file.py takes them from this module.
LDM_PREFIXES = ("control_model.", "")
LDM_HINT = "input_hint_block.0.weight"
DIFFUSERS_KEY = "controlnet_cond_embedding.conv_in.weight"
#: autopipe_detect_keys, mirroring detect's first checks: a file with no LDM_HINT under one of LDM_PREFIXES and no
#: DIFFUSERS_KEY is not claimed, so every ControlNet file it claims holds one of these.
DETECT_KEYS: tuple[str, ...] = (*(prefix + LDM_HINT for prefix in LDM_PREFIXES), DIFFUSERS_KEY)

#: The package's public names that live in :mod:`.plugin`, whose import (specs, pluggy) waits until one is asked for.
_FROM_PLUGIN = frozenset({"from_single_file", "CONTROLNET", "UNION", "choose", "fits"})


def __getattr__(name: str) -> Any:
    """:func:`from_single_file`, and ``choose``, ``fits``, ``CONTROLNET`` and ``UNION`` (their names here before they moved to the core), from :mod:`.plugin`."""
    if name in _FROM_PLUGIN:
        from . import plugin

        return getattr(plugin, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
