"""How DeepFloyd IF stage I loads on each kind of device.

The weights are what decide it. In float16, the largest stage I checkpoint,
IF-I-XL, holds:

- the T5-v1.1-XXL text encoder: about 4.76 B parameters, 9.5 GB (8.9 GiB);
- the UNet: 4.3 B parameters, 8.6 GB (8.0 GiB).

A call at 64x64 (batch 2 with classifier-free guidance) needs little on top:
well under 1 GiB of activations, plus cuBLAS workspace and allocator slack,
which we budget at 2 GiB. The core cannot tell IF-I-M from IF-I-XL without
reading the UNet's config, which no family may ask for except through a
Variant, so the thresholds are sized for IF-I-XL; the smaller stage I
checkpoints share the same T5-XXL, which is most of their weight anyway.
"""

from __future__ import annotations

from autopipe_core import DeviceFacts, Identity, LoadPlan

GiB = 1 << 30

#: Everything on the GPU at once: T5-XXL (8.9 GiB) + IF-I-XL UNet (8.0 GiB) + 2 GiB working room, rounded up.
#: A 24 GB card (about 23 GiB free) keeps the pipeline whole; a 16 GB card does not.
MIN_FREE_FOR_DEVICE = 20 * GiB

#: One model on the GPU at a time (enable_model_cpu_offload): the largest, T5-XXL (8.9 GiB), + 2 GiB, rounded up.
#: Below this, even the text encoder alone does not fit and the weights are streamed layer by layer.
MIN_FREE_FOR_MODEL_OFFLOAD = 11 * GiB


def _files(identity: Identity, has_fp16: bool) -> str:
    if has_fp16:
        return "its fp16 weight files"
    if identity.files is not None:
        return "its full-precision files (no fp16 variant found)"
    return "its default files (file list unknown)"


def plan(identity: Identity, device: DeviceFacts) -> LoadPlan:
    if not device.accelerated:
        return LoadPlan(
            "float32", None, "device", "cpu",
            "on the CPU float32: float16 kernels there are slow or missing (IF-I-XL then needs about 36 GB of RAM)",
        )
    has_fp16 = identity.has_weight_variant("fp16")
    variant = "fp16" if has_fp16 else None
    files = _files(identity, has_fp16)
    free = device.free_bytes if device.free_bytes is not None else device.total_bytes
    if device.type != "cuda" or free is None:
        known = "" if device.type != "cuda" else " (free memory unknown)"
        return LoadPlan("float16", variant, "device", device.type, f"float16 from {files}, whole pipeline on {device.type}{known}")
    gib = free / GiB
    if free >= MIN_FREE_FOR_DEVICE:
        return LoadPlan("float16", variant, "device", device.type, f"float16 from {files}, whole pipeline on cuda ({gib:.1f} GiB free)")
    if free >= MIN_FREE_FOR_MODEL_OFFLOAD:
        return LoadPlan(
            "float16", variant, "model_cpu_offload", device.type,
            f"float16 from {files}; only {gib:.1f} GiB free, less than the {MIN_FREE_FOR_DEVICE // GiB} GiB that T5-XXL and "
            "the UNet need together, so they are moved to the GPU one at a time",
        )
    return LoadPlan(
        "float16", variant, "sequential_cpu_offload", device.type,
        f"float16 from {files}; only {gib:.1f} GiB free, less than the {MIN_FREE_FOR_MODEL_OFFLOAD // GiB} GiB the T5-XXL "
        "text encoder needs on its own, so weights are streamed to the GPU layer by layer (slow)",
    )
