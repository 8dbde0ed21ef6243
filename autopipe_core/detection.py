"""What a plugin recognised in a single-file checkpoint: the record ``autopipe_detect`` returns, and the checks of its names.

A named tuple (``collections.namedtuple``), frozen as the dataclasses of
:mod:`autopipe_core.specs` are, and not one of them, for a measured reason: a
cold ``autopipe resolve FILE`` builds detections, and ``dataclasses`` imports
``inspect`` (with ``ast``, ``dis`` and ``tokenize``: about 8 ms, more than a
third of the whole run's own cost). ``collections`` is already imported by
``json``. A test holds it to the frozen dataclass it replaces: the same
fields, defaults, checks and errors (tests/test_records.py).

Imports ``re`` and ``collections`` only: no typing, no dataclasses.
"""

from __future__ import annotations

import re
from collections import namedtuple
from types import MappingProxyType

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: static tools read it as True
if TYPE_CHECKING:
    from typing import Any, Mapping

_CLASS_REF = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


def check_ref(ref: object, where: str) -> str:
    """`ref` if it is a "module:ClassName" reference; a ValueError naming `where` otherwise."""
    if not isinstance(ref, str) or not _CLASS_REF.match(ref):
        raise ValueError(f"{where}: class reference {ref!r} is not of the form 'module:ClassName'")
    return ref


def check_name(name: object, what: str) -> str:
    """`name` if it is a family, modifier or variant name (lower case letters, digits, ".", "_", "-"); a ValueError otherwise."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"{what} {name!r} must be lower case letters, digits, '.', '_' or '-'")
    return name


_FIELDS = ("family", "variant", "confidence", "reason", "pipeline_class", "config", "component", "use", "plugin", "prefixes", "scheduler")


class Detection(namedtuple("Detection", _FIELDS, defaults=(None, None, None, "", "", None, None))):
    """What a plugin recognised in a single-file checkpoint's header (``autopipe_detect``).

    `family` and `variant` name what the file is ("stable-diffusion",
    "sd1"); `confidence` (0 to 1) and `reason` say how sure the plugin is and
    from which tensors. A pipeline checkpoint names its `pipeline_class`
    ("diffusers:StableDiffusionPipeline", as the family's table has it) and
    `config`, a local folder the plugin ships with the model_index.json and
    component configs diffusers' ``from_single_file`` needs offline. A
    checkpoint of one component (a ControlNet) leaves `pipeline_class` None,
    names its `component` class and says in `use` how to load and pass it.
    `plugin` is filled in by the core: the distribution that said so
    (``detection._replace(plugin=...)``).

    `prefixes` maps component -> the key prefix of its tensors in the file
    ({"unet": "model.diffusion_model.", "vae": "first_stage_model."}): how
    ``autopipe plan`` counts a single file's bytes per component from its
    header. `scheduler` holds the scheduler config entries the file says
    (prediction_type, rescale_betas_zero_snr from metadata or marker keys),
    applied at load unless the caller passes a scheduler or these entries.
    Both are held read-only (``MappingProxyType``); None means empty.

    Raises ValueError, naming the detection, for a family name that is not
    one, an empty variant, a confidence outside 0 to 1, a class reference not
    of the form "module:Class", or not exactly one of `pipeline_class` and
    `component`.
    """

    __slots__ = ()

    def __new__(
        cls, family: str, variant: str, confidence: float, reason: str, pipeline_class: str | None = None,
        config: str | None = None, component: str | None = None, use: str = "", plugin: str = "",
        prefixes: Mapping[str, str] | None = None, scheduler: Mapping[str, Any] | None = None,
    ) -> Detection:
        check_name(family, "family name")
        where = f"detection {family}/{variant}"
        prefixes = MappingProxyType(dict(prefixes if prefixes is not None else {}))
        scheduler = MappingProxyType(dict(scheduler if scheduler is not None else {}))
        for key, prefix in prefixes.items():
            if not isinstance(key, str) or not isinstance(prefix, str):
                raise ValueError(f"{where}: prefixes map component names to key prefixes (strings)")
        if not isinstance(variant, str) or not variant:
            raise ValueError(f"{where}: variant must be a non-empty string")
        if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0 <= confidence <= 1:
            raise ValueError(f"{where}: confidence must be a number from 0 to 1, not {confidence!r}")
        if (pipeline_class is None) == (component is None):
            raise ValueError(f"{where}: name exactly one of pipeline_class (a pipeline checkpoint) or component (one model)")
        for ref in (pipeline_class, component):
            if ref is not None:
                check_ref(ref, where)
        return super().__new__(cls, family, variant, confidence, reason, pipeline_class, config, component, use, plugin, prefixes, scheduler)

    def _replace(self, **changes: Any) -> Detection:
        """A copy with `changes`, checked again, as ``dataclasses.replace`` does (the named tuple's own skips ``__new__``)."""
        return type(self)(**{**self._asdict(), **changes})

    @property
    def is_pipeline(self) -> bool:
        return self.pipeline_class is not None
