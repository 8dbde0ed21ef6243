"""How an LCM checkpoint loads on each kind of device.

The weights are Stable Diffusion 1.5's size (about 2 GB in float16), so the
choices are SD's: float32 on a CPU, where float16 kernels are slow or missing;
float16 on an accelerator, from the fp16 weight files when the checkpoint has
them; model-by-model offload when the GPU is short of memory.
"""

from __future__ import annotations

from autopipe_core import DeviceFacts, Identity, LoadPlan

#: Below this much free GPU memory the pipeline is offloaded model by model instead of moved whole.
MIN_FREE_FOR_DEVICE = 3 << 30


def plan(identity: Identity, device: DeviceFacts) -> LoadPlan:
    if not device.accelerated:
        return LoadPlan("float32", None, "device", "cpu", "on the CPU in float32: float16 kernels there are slow or missing")
    variant = "fp16" if identity.has_weight_variant("fp16") else None
    source = "its fp16 weight files" if variant else "its full-precision weight files"
    if device.type == "cuda" and device.free_bytes is not None and device.free_bytes < MIN_FREE_FOR_DEVICE:
        free = device.free_bytes / (1 << 30)
        return LoadPlan("float16", variant, "model_cpu_offload", device.type, f"float16 from {source}; only {free:.1f} GiB free, so one model at a time on the GPU")
    return LoadPlan("float16", variant, "device", device.type, f"float16 from {source}, the whole pipeline on {device.type}")
