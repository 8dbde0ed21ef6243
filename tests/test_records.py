"""The records a cold ``autopipe resolve FILE`` builds are named tuples, not dataclasses (dataclasses imports inspect:
autopipe_core/detection.py says why). Each is held here to the frozen dataclass it replaced, as the oracle: the same
fields in the same order, the same defaults, the same checks with the same words, the same equality, and no field can
be set. The oracles are the dataclasses as they were defined before (commit 6972e41), written out below.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autopipe_core.detection import Detection, check_name, check_ref
from autopipe_core.headers import SafetensorsHeader, TensorInfo
from autopipe_core.prediction import EPSILON, V_PREDICTION, Prediction
from autopipe_core.toolkit.transformer_file import BaseCheckpoint, TransformerFile


@dataclass(frozen=True)
class OldDetection:
    family: str
    variant: str
    confidence: float
    reason: str
    pipeline_class: str | None = None
    config: str | None = None
    component: str | None = None
    use: str = ""
    plugin: str = ""
    prefixes: Mapping[str, str] = field(default_factory=dict)
    scheduler: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_name(self.family, "family name")
        where = f"detection {self.family}/{self.variant}"
        object.__setattr__(self, "prefixes", MappingProxyType(dict(self.prefixes)))
        object.__setattr__(self, "scheduler", MappingProxyType(dict(self.scheduler)))
        for component, prefix in self.prefixes.items():
            if not isinstance(component, str) or not isinstance(prefix, str):
                raise ValueError(f"{where}: prefixes map component names to key prefixes (strings)")
        if not isinstance(self.variant, str) or not self.variant:
            raise ValueError(f"{where}: variant must be a non-empty string")
        if isinstance(self.confidence, bool) or not isinstance(self.confidence, (int, float)) or not 0 <= self.confidence <= 1:
            raise ValueError(f"{where}: confidence must be a number from 0 to 1, not {self.confidence!r}")
        if (self.pipeline_class is None) == (self.component is None):
            raise ValueError(f"{where}: name exactly one of pipeline_class (a pipeline checkpoint) or component (one model)")
        for ref in (self.pipeline_class, self.component):
            if ref is not None:
                check_ref(ref, where)


@dataclass(frozen=True)
class OldPrediction:
    type: str | None = None
    zero_terminal_snr: bool | None = None
    source: str = ""

    def __post_init__(self) -> None:
        if self.type not in (None, EPSILON, V_PREDICTION):
            raise ValueError(f"prediction type must be {EPSILON!r}, {V_PREDICTION!r} or None, not {self.type!r}")


@dataclass(frozen=True, slots=True)
class OldTensorInfo:
    dtype: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class OldSafetensorsHeader:
    path: str
    file_size: int
    header_bytes: int
    tensors: Mapping[str, TensorInfo]
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class OldTransformerFile:
    folders: Any
    family: str
    tiny_variant: str
    holds: str
    supplies: str
    checkpoint: str
    example: str
    load_transformer: Any
    others: tuple[str, ...] = ("text_encoder", "tokenizer", "vae")
    tokenizer_files: tuple[str, ...] = ("tokenizer",)
    config_from_source: bool = False


@dataclass(frozen=True)
class OldBaseCheckpoint:
    holds: str
    others: Any
    repo: Any
    load_transformer: Any
    passing: Any = None
    check: Any = None
    choose: Any = None


PAIRS = [
    (Detection, OldDetection), (Prediction, OldPrediction), (TensorInfo, OldTensorInfo),
    (SafetensorsHeader, OldSafetensorsHeader), (TransformerFile, OldTransformerFile), (BaseCheckpoint, OldBaseCheckpoint),
]


#: Each record's required fields, valid (a detection names its class: pipeline_class, the first default, is given).
REQUIRED = {"Detection": ("sd", "v1", 0.5, "why", "diffusers:X"), "Prediction": (), "TensorInfo": ("F16", (1,))}


def _required(record: type) -> tuple:
    return REQUIRED.get(record.__name__, tuple(range(len(record._fields) - len(record._field_defaults))))


def _values(made: Any) -> tuple:
    """A dataclass's field values in order (dataclasses.astuple would deep-copy them, and a mappingproxy cannot be)."""
    return tuple(getattr(made, f.name) for f in dataclasses.fields(made))


@pytest.mark.parametrize("record, oracle", PAIRS, ids=[p[0].__name__ for p in PAIRS])
def test_the_same_fields_in_the_same_order_with_the_same_defaults(record, oracle):
    assert record._fields == tuple(f.name for f in dataclasses.fields(oracle))
    args = _required(record)
    assert tuple(record(*args)) == _values(oracle(*args))  # each default, {} and MappingProxyType({}) alike


@pytest.mark.parametrize("record, oracle", PAIRS, ids=[p[0].__name__ for p in PAIRS])
def test_no_field_can_be_set(record, oracle):
    made = record(*_required(record))
    for name in record._fields:
        with pytest.raises(AttributeError):
            setattr(made, name, None)


_NAMES = st.sampled_from(["sd", "stable-diffusion", "Bad Name", "", "x.y_z-1", 3])
_REFS = st.sampled_from([None, "diffusers:StableDiffusionPipeline", "diffusers.pipelines:X", "no colon", ":X", 7])
_CONFIDENCES = st.sampled_from([0, 1, 0.5, 1.5, -0.1, True, "0.5", None])
_MAPPINGS = st.sampled_from([{}, {"unet": "model.diffusion_model."}, {"unet": 3}, {1: "x"}, [("vae", "first_stage_model.")]])


def _outcome(make, *args, **kwargs):
    try:
        return "made", make(*args, **kwargs)
    except (ValueError, TypeError) as exc:
        return type(exc).__name__, str(exc)


@settings(max_examples=400, deadline=None)
@given(family=_NAMES, variant=st.sampled_from(["v1", "", None, 2]), confidence=_CONFIDENCES, reason=st.text(max_size=5),
       pipeline_class=_REFS, component=_REFS, config=st.sampled_from([None, "/a/b"]), prefixes=_MAPPINGS, scheduler=_MAPPINGS)
def test_a_detection_is_checked_and_held_as_the_dataclass_was(family, variant, confidence, reason, pipeline_class, component,
                                                               config, prefixes, scheduler):
    kwargs = {"pipeline_class": pipeline_class, "component": component, "config": config, "prefixes": prefixes, "scheduler": scheduler}
    new, old = _outcome(Detection, family, variant, confidence, reason, **kwargs), _outcome(OldDetection, family, variant, confidence, reason, **kwargs)
    assert new[0] == old[0], (new, old)
    if new[0] != "made":
        assert new == old
        return
    made, expected = new[1], old[1]
    assert tuple(made) == _values(expected)
    assert type(made.prefixes) is MappingProxyType and type(made.scheduler) is MappingProxyType
    assert tuple(made._replace(plugin="autopipe-sd")) == _values(dataclasses.replace(expected, plugin="autopipe-sd"))


def test_replace_checks_again_as_dataclasses_replace_does():
    made = Detection("sd", "v1", 0.5, "why", "diffusers:X", prefixes={"unet": "u."})
    with pytest.raises(ValueError, match="confidence must be a number from 0 to 1, not 2") as new:
        made._replace(confidence=2)
    with pytest.raises(ValueError) as old:
        dataclasses.replace(OldDetection("sd", "v1", 0.5, "why", "diffusers:X"), confidence=2)
    assert str(new.value) == str(old.value)
    assert made._replace(prefixes={"vae": "v."}).prefixes == MappingProxyType({"vae": "v."})


@pytest.mark.parametrize("kind", [None, EPSILON, V_PREDICTION, "v", "", 1])
def test_a_prediction_is_checked_as_the_dataclass_was(kind):
    new, old = _outcome(Prediction, kind, True, "said"), _outcome(OldPrediction, kind, True, "said")
    assert new[0] == old[0]
    assert tuple(new[1]) == _values(old[1]) if new[0] == "made" else new == old


def test_a_header_keeps_its_index_and_compares_as_the_dataclass_did():
    tensors = MappingProxyType({"b": TensorInfo("F16", (2, 3)), "a": TensorInfo("BF16", ())})
    header = SafetensorsHeader("/f", 100, 40, tensors)
    assert header.metadata == {} and header.names == ("a", "b") and header.with_prefix("b") == ("b",)
    assert header == SafetensorsHeader("/f", 100, 40, tensors, {})
    assert tuple(header) == _values(OldSafetensorsHeader("/f", 100, 40, tensors))
    assert header.data_bytes == 2 * 3 * 2 + 2 and TensorInfo("F16", (2, 3)).nbytes == 12
