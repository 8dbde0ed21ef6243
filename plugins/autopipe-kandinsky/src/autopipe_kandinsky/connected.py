"""Loading a Kandinsky decoder as the combined pipeline: its prior, found through the decoder's model card.

The mechanism is the core toolkit's (:mod:`autopipe_core.toolkit.connected`,
shared with every family whose combined pipelines diffusers builds from a
decoder and the prior its model card names): the card's ``prior:`` key
(diffusers' CONNECTED_PIPES_KEYS), a relative path taken relative to the
decoder folder, prior components passed as ``prior_prior=``,
``prior_text_encoder=``, ``prior_image_encoder=``, ``prior_tokenizer=``,
``prior_scheduler=``, ``prior_image_processor=`` used as they are (all six:
no card needed), the prior checked by the guard before diffusers sees it.
kandinsky-community/kandinsky-2-2-decoder's card says ``prior:
[kandinsky-community/kandinsky-2-2-prior]``.

This module declares Kandinsky 2.1's and 2.2's :class:`Connection`: which
classes are combined, which are decoders, the prior class and its
components. A hub repo id is left to diffusers, which downloads the card with
the snapshot; a folder that already holds a combined pipeline is loaded by
the class's own from_pretrained.
"""

from __future__ import annotations

from typing import Any

from autopipe_core.toolkit.connected import CARD_KEY, Connection, card_priors, resolve_prior, split_kwargs
from autopipe_core.toolkit.connected import from_pretrained as _connected_from_pretrained

from . import COMBINED, DECODER_ONLY, KANDINSKY21, KANDINSKY22, PRIOR_CLASS, PRIOR_COMPONENTS

__all__ = ["CARD_KEY", "CONNECTIONS", "card_priors", "from_pretrained", "resolve_prior", "split_kwargs"]

_TITLE = {KANDINSKY21: "Kandinsky 2.1", KANDINSKY22: "Kandinsky 2.2"}
_PRIOR_REPO = {KANDINSKY21: "kandinsky-community/kandinsky-2-1-prior", KANDINSKY22: "kandinsky-community/kandinsky-2-2-prior"}

#: Each family's combined pipelines, decoders and prior, as the toolkit takes them.
CONNECTIONS = {
    family: Connection(
        title=_TITLE[family],
        combined=frozenset(COMBINED[family].values()),
        decoders=frozenset(DECODER_ONLY[family].values()),
        prior_class=PRIOR_CLASS[family],
        prior_components=PRIOR_COMPONENTS,
        example=_PRIOR_REPO[family],
    )
    for family in (KANDINSKY21, KANDINSKY22)
}


def from_pretrained(family: str, pipeline_class: type, model: Any, kwargs: dict[str, Any]) -> Any:
    """The combined pipeline from a decoder folder and its prior; None where the class's own from_pretrained does it."""
    return _connected_from_pretrained(CONNECTIONS[family], pipeline_class, model, kwargs)
