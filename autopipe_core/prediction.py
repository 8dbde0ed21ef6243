"""What a single-file checkpoint says about its prediction type and zero terminal SNR, read from its header.

A UNet trained for v-prediction, or on a zero-terminal-SNR noise schedule,
has exactly the tensors of an epsilon one: nothing in the names or shapes
tells them apart, and loading such a file with an epsilon scheduler gives
noise. What files do say, when they say it, is in the header, and this module
is the one reading of it that every family's detection shares (plugin authors:
call :func:`read` from ``autopipe_detect`` and put
:meth:`Prediction.scheduler_config` into ``Detection.scheduler``, which the
core applies at load unless the caller passes a scheduler or the entries).

Metadata (``__metadata__``, strings), most explicit first:

- ``modelspec.prediction_type``: the Stability AI model spec
  (github.com/Stability-AI/ModelSpec, README, "Image Generation Models":
  "In Stable Diffusion, ``v`` or ``epsilon``"). kohya-ss/sd-scripts writes it
  on every checkpoint and LoRA it saves (``library/sai_model_spec.py``:
  ``PRED_TYPE_V = "v"`` when trained with ``--v_parameterization``, else
  ``"epsilon"``).
- ``modelspec.predict_key``: ComfyUI's own key, ``"v"`` or ``"epsilon"``,
  written by its Save Checkpoint node (``comfy_extras/nodes_model_merging.py``,
  ``save_checkpoint``).
- ``modelspec.architecture``: the model spec's architecture ids name the
  SD 2 variants apart because they need different inference:
  ``stable-diffusion-v2-768-v`` (v) and ``stable-diffusion-v2-512`` (epsilon);
  adapters append ``-lora`` / ``-textual-inversion`` (the spec) or ``/lora``
  (kohya's ``determine_architecture``). An id whose base ends in
  ``<resolution>-v`` is read as v-prediction, one starting with
  ``stable-diffusion-v2-512`` as epsilon; any other id says nothing here
  (``stable-diffusion-xl-v1-base`` is written for epsilon and v-prediction
  SDXL files alike).
- ``ss_v_parameterization``: ``"True"`` / ``"False"`` in the ``ss_`` namespace
  of kohya-style training metadata, written by some kohya-derived tools and
  shown by metadata viewers (kohya-ss/sd-scripts itself, through its
  history, writes ``ss_v2`` and the model-spec key instead).
- ``ss_zero_terminal_snr``: kohya-ss/sd-scripts ``train_network.py`` writes
  ``str(args.zero_terminal_snr)``, ``"True"`` or ``"False"``, for its
  ``--zero_terminal_snr`` option.

Marker tensors (names at the top level of the file, outside every model prefix):

- ``v_pred``: an empty tensor (``torch.tensor([])``) that ComfyUI adds when it
  saves a v-prediction model (``comfy/model_base.py``
  ``state_dict_for_saving``; ``comfy_extras/nodes_model_merging.py``) and that
  v-prediction SDXL fine-tunes (NoobAI-XL v-pred and its merges) ship with.
  ComfyUI's SDXL detection loads a file with this key as v-prediction
  (``comfy/supported_models.py``, ``SDXL.model_type``), and so do the
  loaders built on its detection code.
- ``ztsnr``: the same kind of empty tensor, written beside ``v_pred`` when the
  model was trained with zero terminal SNR; ComfyUI reads it only together
  with ``v_pred`` ("Some zsnr anime checkpoints") and then samples with
  zero-terminal-SNR sigmas. Read the same way here: without v-prediction it is
  recorded and nothing is applied.

When markers and metadata disagree the markers win, since they are what the
loaders people test their files with (ComfyUI and those built on its
detection code) act on; the disagreement is named in
:attr:`Prediction.source`. Between metadata keys, the order above decides.

diffusers' own single-file loading reads none of these (it guesses SD 2's
prediction type from a ``.ckpt``'s ``global_step`` only), so the scheduler
entries are what autopipe adds: ``prediction_type="v_prediction"``, and for
zero terminal SNR the two settings diffusers documents for such models
(DDIMScheduler docs, "Tips", after Lin et al. 2023, "Common Diffusion Noise
Schedules and Sample Steps are Flawed"): ``rescale_betas_zero_snr=True`` and
``timestep_spacing="trailing"`` (its third tip, ``guidance_rescale``, is an
argument of the call, not of the scheduler).

Nothing here imports anything but the standard library: detection reads the
header's names and metadata, never a byte of tensor data.
"""

from __future__ import annotations

import re
from collections import namedtuple

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: SD's and SDXL's detection read the prediction
if TYPE_CHECKING:
    from typing import Any, Mapping

    from .headers import SafetensorsHeader

EPSILON = "epsilon"
V_PREDICTION = "v_prediction"

#: Metadata keys read for the prediction type, most explicit first.
PREDICTION_TYPE_KEY = "modelspec.prediction_type"
PREDICT_KEY_KEY = "modelspec.predict_key"
ARCHITECTURE_KEY = "modelspec.architecture"
V_PARAMETERIZATION_KEY = "ss_v_parameterization"
#: Metadata key read for zero terminal SNR.
ZERO_TERMINAL_SNR_KEY = "ss_zero_terminal_snr"
#: Marker tensors.
V_PRED_MARKER = "v_pred"
ZTSNR_MARKER = "ztsnr"
#: EDM v-prediction markers (CosXL and the like): continuous sigmas that these scheduler entries cannot express.
EDM_V_MARKERS = ("edm_vpred.sigma_max", "edm_vpred.sigma_min")

#: Scheduler config entries for zero terminal SNR, as diffusers documents them (DDIMScheduler docs, "Tips").
ZERO_TERMINAL_SNR_ENTRIES: Mapping[str, Any] = {"rescale_betas_zero_snr": True, "timestep_spacing": "trailing"}

_V_VALUES = frozenset({"v", "v_prediction", "v-prediction", "vpred", "v_pred", "v-pred"})
_EPSILON_VALUES = frozenset({"epsilon", "eps"})
_TRUE, _FALSE = frozenset({"true", "1", "yes"}), frozenset({"false", "0", "no"})
_ADAPTER_SUFFIXES = ("-lora", "-textual-inversion")
_V_ARCHITECTURE = re.compile(r"\d+-v$")  # stable-diffusion-v2-768-v
_EPSILON_ARCHITECTURES = ("stable-diffusion-v2-512",)


class Prediction(namedtuple("Prediction", ("type", "zero_terminal_snr", "source"), defaults=(None, None, ""))):
    """What the header says: the prediction type, zero terminal SNR, and exactly where it was found.

    ``type`` is ``"epsilon"``, ``"v_prediction"`` or None (the file does not
    say); ``zero_terminal_snr`` is True or False when the file says, else
    None; ``source`` names the keys and values read ("metadata
    modelspec.prediction_type = 'v'", "marker tensors v_pred, ztsnr"), empty
    when nothing was found. ValueError for any other type.

    A frozen named tuple, not a dataclass, as :class:`autopipe_core.detection.Detection` is and for its reason:
    detection builds it in a cold ``autopipe resolve FILE``.
    """

    __slots__ = ()

    def __new__(cls, type: str | None = None, zero_terminal_snr: bool | None = None, source: str = "") -> Prediction:  # noqa: A002 - the field's name
        if type not in (None, EPSILON, V_PREDICTION):
            raise ValueError(f"prediction type must be {EPSILON!r}, {V_PREDICTION!r} or None, not {type!r}")
        return super().__new__(cls, type, zero_terminal_snr, source)

    @property
    def found(self) -> bool:
        """True when the header said anything about the prediction type or zero terminal SNR."""
        return bool(self.source)

    @property
    def applies_zero_terminal_snr(self) -> bool:
        """Zero terminal SNR is applied with v-prediction only (as ComfyUI reads ``ztsnr``; with epsilon the last step divides by zero)."""
        return self.type == V_PREDICTION and self.zero_terminal_snr is True

    def scheduler_config(self) -> dict[str, Any]:
        """The diffusers scheduler config entries the file calls for: empty when it says nothing.

        ``{"prediction_type": "v_prediction"}`` (or ``"epsilon"``), plus
        ``rescale_betas_zero_snr=True`` and ``timestep_spacing="trailing"`` for
        a v-prediction model with zero terminal SNR.
        """
        if self.type is None:
            return {}
        entries: dict[str, Any] = {"prediction_type": self.type}
        if self.applies_zero_terminal_snr:
            entries.update(ZERO_TERMINAL_SNR_ENTRIES)
        return entries

    def describe(self) -> str:
        """One clause for a detection's reason: what was read, from where, and the scheduler entries it gives."""
        if not self.found:
            return "the file does not say its prediction type (no model-spec or kohya metadata, no v_pred marker)"
        if self.type is None:
            return f"no prediction type applied: {self.source}"
        what = "v-prediction" if self.type == V_PREDICTION else "epsilon prediction"
        if self.applies_zero_terminal_snr:
            what += " with zero terminal SNR"
        entries = ", ".join(f"{k}={v!r}" for k, v in self.scheduler_config().items())
        return f"{what} from {self.source} (scheduler {entries})"


def _flag(value: str) -> bool | None:
    text = value.strip().lower()
    return True if text in _TRUE else False if text in _FALSE else None


def _from_value(value: str) -> str | None:
    text = value.strip().lower()
    return V_PREDICTION if text in _V_VALUES else EPSILON if text in _EPSILON_VALUES else None


def _from_architecture(value: str) -> str | None:
    base = value.strip().lower().split("/", 1)[0]
    for suffix in _ADAPTER_SUFFIXES:
        base = base.removesuffix(suffix)
    if _V_ARCHITECTURE.search(base):
        return V_PREDICTION
    if base.startswith(_EPSILON_ARCHITECTURES):
        return EPSILON
    return None


def _metadata_statements(metadata: Mapping[str, str]) -> tuple[list[tuple[str, str]], list[str]]:
    """[(prediction type, "metadata KEY = 'value'")] in order of precedence, and notes on values not understood."""
    statements: list[tuple[str, str]] = []
    notes: list[str] = []
    for key, parse in (
        (PREDICTION_TYPE_KEY, _from_value),
        (PREDICT_KEY_KEY, _from_value),
        (ARCHITECTURE_KEY, _from_architecture),
        (V_PARAMETERIZATION_KEY, lambda v: {True: V_PREDICTION, False: EPSILON}.get(_flag(v))),  # type: ignore[arg-type]
    ):
        value = metadata.get(key)
        if not isinstance(value, str) or not value.strip():
            continue
        kind = parse(value)
        if kind is not None:
            statements.append((kind, f"metadata {key} = {value!r}"))
        elif key != ARCHITECTURE_KEY:  # most architecture ids say nothing about prediction; that is no oddity
            notes.append(f"metadata {key} = {value!r} is not a prediction type autopipe knows (ignored)")
    return statements, notes


def read(header: SafetensorsHeader) -> Prediction:
    """The prediction type and zero terminal SNR a single file states, from its metadata and marker tensors.

    Takes anything with ``.tensors`` (names) and ``.metadata`` (str -> str),
    as :class:`autopipe_core.headers.SafetensorsHeader` has them.
    """
    tensors = header.tensors
    metadata = header.metadata or {}
    parts: list[str] = []
    kind: str | None = None

    markers = [name for name in (V_PRED_MARKER, ZTSNR_MARKER) if name in tensors]
    statements, notes = _metadata_statements(metadata)
    if V_PRED_MARKER in markers:
        kind = V_PREDICTION
        parts.append(("marker tensors " if len(markers) > 1 else "marker tensor ") + ", ".join(markers))
        against = [where for other, where in statements if other != kind]
        if against:
            parts.append(f"{'; '.join(against)} disagrees: the v_pred marker wins, as ComfyUI loads by it")
    elif statements:
        kind, where = statements[0]
        parts.append(where)
        against = [w for other, w in statements[1:] if other != kind]
        if against:
            parts.append(f"{'; '.join(against)} disagrees: {where.split(' = ')[0].removeprefix('metadata ')} is read first")
    parts.extend(notes)

    zsnr: bool | None = None
    if ZTSNR_MARKER in markers:
        zsnr = True
        if V_PRED_MARKER not in markers:
            parts.append("marker tensor ztsnr")
    flag = metadata.get(ZERO_TERMINAL_SNR_KEY)
    if isinstance(flag, str) and _flag(flag) is not None:
        said = _flag(flag)
        parts.append(f"metadata {ZERO_TERMINAL_SNR_KEY} = {flag!r}" + (" (the ztsnr marker wins)" if zsnr and not said else ""))
        zsnr = zsnr or said
    if zsnr and kind != V_PREDICTION:
        parts.append("zero terminal SNR is applied with v-prediction only (as ComfyUI reads ztsnr), so not here")

    edm = [name for name in EDM_V_MARKERS if name in tensors]
    if edm:  # ComfyUI looks for these before v_pred: the file is EDM, whatever else it says
        parts.insert(0, (
            f"marker tensor{'s' if len(edm) > 1 else ''} {', '.join(edm)}: EDM v-prediction (continuous sigmas, e.g. CosXL), "
            "which these scheduler entries cannot express, so none are applied"
        ))
        return Prediction(None, None, "; ".join(parts))
    return Prediction(kind, zsnr, "; ".join(parts))


def scheduler_config(header: SafetensorsHeader) -> dict[str, Any]:
    """Shorthand: ``read(header).scheduler_config()``, the entries for ``Detection.scheduler``."""
    return read(header).scheduler_config()
