"""The load plan most families want, as a function: half precision on an accelerator, from the files the checkpoint has.

:func:`half_precision_plan` is what SD, SDXL, Kandinsky, DeepFloyd IF and
LCM each wrote by hand, and the core's default for a family that gives no
``autopipe_load_plan`` (:func:`autopipe_core.planning.family_plan`):

- a CPU: float32 (float16 kernels there are slow or missing);
- an accelerator: bfloat16 where the family prefers it and the device has it
  (``DeviceFacts.bf16``), else float16;
- the weight variant from the files present (:func:`weight_files`): the
  dtype's own (``fp16``, ``bf16``) where the checkpoint has them, else the
  full-precision files, else (a checkpoint saved only as half-precision
  files) the variant every weighted folder has; the reason says which files.
  On a CPU the plain files, and the planner's ``fit_variant`` gives a
  checkpoint without any the variant it has, as it does for every plan.

:func:`leave_out` makes a plan skip components (diffusers is handed None for
each; the planner does not count them). Importing this module imports no
torch, diffusers or transformers.
"""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType
from typing import Any, Iterable, Mapping

from ..weight_variants import WEIGHT_VARIANTS, stored_variants
from ..specs import DeviceFacts, Identity, LoadPlan

__all__ = ["CPU_REASON", "HALF", "asked_dtype", "bfloat16_plan", "half_precision_plan", "leave_out", "weight_files"]

#: The reason of a CPU plan.
CPU_REASON = "on the CPU float32: float16 kernels there are slow or missing"

#: Each half-precision dtype and the weight variant (the files' ".<tag>." part) saved in it.
HALF: Mapping[str, str] = MappingProxyType({"float16": "fp16", "bfloat16": "bf16"})


def asked_dtype(kwargs: Mapping[str, Any], component: str) -> Any:
    """The dtype the loading keywords ask for `component`: ``dtype`` (or the older ``torch_dtype``), or the entry of
    diffusers' per-component mapping for it, else its ``"default"``; None when none is asked. What a family's own
    loading code (single files, components it builds itself) gives each model it loads."""
    value = kwargs.get("dtype", kwargs.get("torch_dtype"))
    if isinstance(value, Mapping):  # diffusers' per-component form: {"default": ..., name: ...}
        return value.get(component, value.get("default"))
    return value


def _weighted_folders(files: Iterable[str]) -> dict[str, set[str | None]]:
    """folder -> the weight variants its files are saved in (None: the plain files), for every folder holding weights."""
    files = tuple(files)
    folders = sorted({f.partition("/")[0] for f in files if f.count("/") == 1})
    return {name: kinds for name in folders if (kinds := stored_variants(files, name))}


def weight_files(identity: Identity, dtype: str) -> tuple[str | None, str]:
    """(the weight variant to load for `dtype`, the words that say which files), from ``identity.files``.

    The dtype's own half-precision files where the checkpoint has some (half
    the download and the reads); else the plain files; else, when some folder
    has no plain files, the one variant every weighted folder has (a
    checkpoint saved only as bf16 files loads them whatever the dtype, as
    diffusers falls back to nothing else). None and "its default files" when
    the file list is unknown.
    """
    files = identity.files
    if files is None:
        return None, "its default files (file list unknown)"
    tag = HALF.get(dtype)
    if tag is not None and identity.has_weight_variant(tag):
        return tag, f"its {tag} weight files"
    stored = _weighted_folders(files)
    lacking = sorted(name for name, kinds in stored.items() if None not in kinds)
    if lacking:
        tags = sorted({k for kinds in stored.values() for k in kinds if k}, key=lambda k: (k not in WEIGHT_VARIANTS, k))
        covering = [v for v in tags if all(None in kinds or v in kinds for kinds in stored.values())]
        if covering:
            chosen = covering[0]
            return chosen, f"its {chosen} weight files ({', '.join(lacking)} {'has' if len(lacking) == 1 else 'have'} no others)"
    return None, "its full-precision files" + (f" (no {tag} variant found)" if tag else "")


def half_precision_plan(
    identity: Identity,
    device: DeviceFacts,
    prefer: str = "float16",
    keep_float32: Iterable[str] | Mapping[str, str] = (),
    on_cpu: str = CPU_REASON,
) -> LoadPlan:
    """dtype, weight variant and per-component dtypes for this checkpoint on this device; placement "device".

    `prefer` is "float16" (the default) or "bfloat16" (taken where
    ``device.bf16``, float16 elsewhere). `keep_float32` names components loaded
    in float32 on an accelerator (``component_dtypes``), or maps each to why
    (``{"vae": "it overflows in float16"}``). `on_cpu` is the reason of the
    CPU plan. The placement is the core's to plan from the weights' sizes.
    Raises ValueError for another `prefer`.
    """
    if prefer not in HALF:
        raise ValueError(f"prefer must be one of {', '.join(HALF)}, not {prefer!r}")
    if not device.accelerated:
        # The plain files, as every family's CPU plan said; a checkpoint without them gets the variant it has from the
        # planner (planning.fit_variant, applied to any family's plan), which says so.
        return LoadPlan("float32", None, "device", "cpu", on_cpu)
    dtype = "bfloat16" if prefer == "bfloat16" and device.bf16 else "float16"
    variant, files = weight_files(identity, dtype)
    said = f" ({device.type} has no bfloat16)" if prefer == "bfloat16" and dtype != prefer else ""
    reason = f"{dtype}{said} from {files}"
    kept = dict(keep_float32) if isinstance(keep_float32, Mapping) else dict.fromkeys(keep_float32, "")
    for name, why in kept.items():
        reason += f"; {name} in float32" + (f": {why}" if why else "")
    return LoadPlan(dtype, variant, "device", device.type, reason, {name: "float32" for name in kept})


def bfloat16_plan(identity: Identity, device: DeviceFacts, no_float16: str, *, why: str = "", on_cpu: str = CPU_REASON) -> LoadPlan:
    """The plan of a family trained and published in bfloat16: float32 on a CPU, bfloat16 where the device has it, else float32.

    - on a CPU: :func:`half_precision_plan`'s, float32 with the reason `on_cpu`;
    - on an accelerator with bfloat16 (``device.bf16``): bfloat16 from bf16 weight files where the checkpoint has some
      (:func:`weight_files`), else its plain ones; `why` (the source: "as CogView is trained and diffusers' examples
      load it"), when given, ends the reason after a comma;
    - on an accelerator without (a T4, a V100): float32, not float16, with the reason
      ``"{no_float16} ({device} has no bfloat16); from {files}"``: `no_float16` says why float16 is not taken instead
      (the model overflows in it, or no float16 run of the weights is documented).

    Placement stays "device": the core plans the real one from the weights' headers and the family's allowance.
    """
    half = half_precision_plan(identity, device, prefer="bfloat16", on_cpu=on_cpu)
    if half.dtype == "float16":
        variant, files = weight_files(identity, "float32")
        return replace(half, dtype="float32", variant=variant, reason=f"{no_float16} ({device.type} has no bfloat16); from {files}")
    if why and device.accelerated:
        return replace(half, reason=f"{half.reason}, {why}")
    return half


def leave_out(plan: LoadPlan, components: Iterable[str], why: str) -> LoadPlan:
    """`plan` with `components` not loaded (``plan.skip``: passed to diffusers as None, not counted), and why in its reason.

    The usual way to fit a large pipeline on a small GPU: SD3 without its
    ``text_encoder_3`` (T5-XXL) and ``tokenizer_3``. The caller's own
    ``text_encoder_3=...`` still wins.
    """
    names = frozenset(components)
    if not names:
        return plan
    return replace(plan, skip=plan.skip | names, reason=f"{plan.reason}; {', '.join(sorted(names))} left out: {why}")
