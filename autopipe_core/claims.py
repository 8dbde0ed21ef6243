"""How a single file's header is shown to the plugins and their claims ranked: one rule for the full path
(:func:`autopipe_core.single_file.detect`) and the cold one (:mod:`autopipe_core.quick`), which has no registry.

Imports nothing, so the cold path pays nothing for it.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: the cold path ranks claims too
if TYPE_CHECKING:
    from typing import Any, Collection, Mapping


def shown(keys: Collection[str] | None, tensors: Mapping[str, Any]) -> bool:
    """Whether a file holding `tensors` (names -> anything) is shown to the autopipe_detect of a plugin whose
    autopipe_detect_keys are `keys`: it gave none (None), or the file holds one of them."""
    return keys is None or any(key in tensors for key in keys)


def rank(plugin: str, confidence: float, owner: str | None, priority: int, prefer: tuple[str, ...]) -> tuple:
    """The sort key of one claim, best first: the distributions named in AUTOPIPE_PREFER (`prefer`, in its order),
    then the higher confidence, then a claim made by the plugin that owns the family (`owner`), then the family's
    higher priority, then the distribution name."""
    return (prefer.index(plugin) if plugin in prefer else len(prefer), -confidence, owner != plugin, -priority, plugin)
