"""The rule for a hook answer that is a list of one kind, and the one the cold path needs: ``autopipe_detect``'s.

Apart from :mod:`autopipe_core.answers` (the table of every hook's check) so
that a cold ``autopipe resolve FILE`` checks a plugin's detections exactly as
the registry does without importing :mod:`autopipe_core.specs` (its
dataclasses import ``inspect``). Imports nothing but :mod:`autopipe_core.detection`.
"""

from __future__ import annotations

from itertools import islice

from .detection import Detection

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: static tools read it as True
if TYPE_CHECKING:
    from typing import Any, Callable, Mapping

#: The most items a registration or detection hook may return. A real plugin registers tens; an
#: endless generator is cut off here instead of hanging the process.
MAX_ITEMS = 10_000


def many(kind: type, one_alone: bool = False) -> Callable[[Any, Mapping[str, Any]], list]:
    """An answer that is a list (any finite iterable) of `kind`, None for none; with `one_alone`, a lone `kind` too."""

    def check(answer: Any, kwargs: Mapping[str, Any]) -> list:
        if answer is None:
            return []
        if one_alone and isinstance(answer, kind):
            return [answer]
        if isinstance(answer, (str, bytes, dict)) or not hasattr(answer, "__iter__"):
            raise TypeError(f"must return a list of {kind.__name__}, not {type(answer).__name__}")
        items = list(islice(answer, MAX_ITEMS + 1))
        if len(items) > MAX_ITEMS:
            raise TypeError(f"returned more than {MAX_ITEMS} items (an endless generator?); it was cut off")
        for item in items:
            if not isinstance(item, kind):
                raise TypeError(f"must return {kind.__name__} objects, got {type(item).__name__}: {str(item)[:200]}")
        return items

    return check


#: ``autopipe_detect``'s answer: Detection objects (a lone one is taken as a list of one).
detections = many(Detection, one_alone=True)
