"""How Kandinsky loads on each kind of device.

- CPU: float32 (float16 kernels there are slow or missing).
- An accelerator: float16, from the fp16 weight files when the checkpoint has
  them (kandinsky-community's decoders and priors ship ``.fp16.`` files).
- CUDA with less free memory than the whole combined pipeline needs:
  ``enable_model_cpu_offload`` (diffusers' combined pipelines declare the order
  prior text encoder -> prior image encoder -> UNet -> MoVQ), which keeps one
  model on the GPU at a time.

The thresholds, from the float16 weights of kandinsky-community's checkpoints
plus about 2 GiB for a 768x768 call (UNet attention and the MoVQ decode):

- Kandinsky 2.2: prior (PriorTransformer 2.0 GB, CLIP ViT-bigG/14 image
  encoder 3.7 GB, text encoder 1.4 GB) + decoder (UNet 2.5 GB, MoVQ 0.2 GB)
  is about 9.8 GB (9.1 GiB): 12 GiB free keeps it whole.
- Kandinsky 2.1: prior (PriorTransformer 2.0 GB, CLIP ViT-L/14 0.9 GB) +
  decoder (MultilingualCLIP 1.1 GB, UNet 2.4 GB, MoVQ 0.2 GB) is about
  6.6 GB (6.2 GiB): 9 GiB free keeps it whole.

The same thresholds apply to a decoder-only pipeline (which needs less): the
checkpoint read from disk loads as the combined pipeline anyway.
"""

from __future__ import annotations

from autopipe_core import DeviceFacts, Identity, LoadPlan

from . import KANDINSKY21, KANDINSKY22

GiB = 1 << 30

#: Free CUDA memory below which the models go to the GPU one at a time (model_cpu_offload).
MIN_FREE_FOR_DEVICE = {KANDINSKY22: 12 * GiB, KANDINSKY21: 9 * GiB}


def _files(identity: Identity, has_fp16: bool) -> str:
    if has_fp16:
        return "its fp16 weight files"
    if identity.files is not None:
        return "its full-precision files (no fp16 variant found)"
    return "its default files (file list unknown)"


def plan(family: str, identity: Identity, device: DeviceFacts) -> LoadPlan:
    """The LoadPlan for this Kandinsky checkpoint on this device."""
    if not device.accelerated:
        return LoadPlan("float32", None, "device", "cpu", "on the CPU float32: float16 kernels there are slow or missing")
    has_fp16 = identity.has_weight_variant("fp16")
    variant = "fp16" if has_fp16 else None
    files = _files(identity, has_fp16)
    need = MIN_FREE_FOR_DEVICE[family]
    if device.type == "cuda" and device.free_bytes is not None and device.free_bytes < need:
        return LoadPlan(
            "float16",
            variant,
            "model_cpu_offload",
            device.type,
            f"float16 from {files}; only {device.free_bytes / GiB:.1f} GiB free, less than the {need // GiB} GiB the prior and "
            "the decoder need together, so the models are moved to the GPU one at a time",
        )
    free = "" if device.free_bytes is None else f" ({device.free_bytes / GiB:.1f} GiB free)"
    return LoadPlan("float16", variant, "device", device.type, f"float16 from {files}, prior and decoder whole on {device.type}{free}")
