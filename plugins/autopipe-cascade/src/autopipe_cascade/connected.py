"""Loading a Würstchen or Stable Cascade decoder as the combined pipeline, with the prior its model card names.

The mechanism is the core toolkit's (:mod:`autopipe_core.toolkit.connected`),
as diffusers' combined pipelines find their prior (the card's ``prior:``
key, diffusers' CONNECTED_PIPES_KEYS): stabilityai/stable-cascade's card
names stabilityai/stable-cascade-prior, warp-ai/wuerstchen's
warp-ai/wuerstchen-prior. This module declares each family's
:class:`~autopipe_core.toolkit.connected.Connection`, and loads every
checkpoint, decoder and prior alike, through
:func:`autopipe_cascade.components.load`: diffusers 0.42.1 cannot load
Würstchen's model classes by the names their model_index.json gives them.
So nothing is left to diffusers' own from_pretrained, a hub decoder
included: its card is read through the hub cache.

Prior components passed explicitly are used as they are: Stable Cascade's
``prior_prior=``, ``prior_text_encoder=``, ``prior_tokenizer=``,
``prior_scheduler=``, ``prior_feature_extractor=``, ``prior_image_encoder=``
(the last two are optional in diffusers: a prior saved without its CLIP image
encoder has them None), Würstchen's ``prior_prior=``, ``prior_text_encoder=``,
``prior_tokenizer=``, ``prior_scheduler=``.
"""

from __future__ import annotations

from typing import Any

from autopipe_core.toolkit import connected
from autopipe_core.toolkit.connected import Connection

from . import FAMILIES
from .components import load
from .plugin import COMBINED, DECODER_ONLY, OLD_ENTRIES, PRIOR_CLASS, PRIOR_COMPONENTS, PRIOR_REPO, TITLE

#: Each family's combined pipeline, decoder and prior, as the toolkit takes them.
CONNECTIONS = {
    family: Connection(
        title=TITLE[family],
        combined=frozenset({COMBINED[family]}),
        decoders=frozenset({DECODER_ONLY[family]}),
        prior_class=PRIOR_CLASS[family],
        prior_components=PRIOR_COMPONENTS[family],
        example=PRIOR_REPO[family],
        loads_itself=OLD_ENTRIES,
    )
    for family in FAMILIES
}


def from_pretrained(family: str, pipeline_class: type, model: Any, kwargs: dict[str, Any]) -> Any:
    """The combined pipeline from a decoder and its prior, or `pipeline_class` loaded from `model`; never None.

    Raises ``UnsupportedModelError`` for a decoder whose card names no prior
    when not every prior component is passed (saying what to pass), the
    guard's ``UntrustedCodeError`` for a prior naming a foreign library, and
    what diffusers raises loading the rest.
    """
    return connected.from_pretrained(CONNECTIONS[family], pipeline_class, model, kwargs, load=load)
