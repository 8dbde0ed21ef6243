"""How an LCM checkpoint loads on each kind of device.

The weights are Stable Diffusion 1.5's size (about 2 GB in float16), so the
choices are SD's: float32 on a CPU, where float16 kernels are slow or missing;
float16 on an accelerator, from the fp16 weight files when the checkpoint has
them. Where the pipeline goes (whole on the GPU, or offloaded when memory
is short) is not decided here: the core plans it from the weight files'
sizes and the free memory, so this returns "device".
"""

from __future__ import annotations

from autopipe_core import DeviceFacts, Identity, LoadPlan


def plan(identity: Identity, device: DeviceFacts) -> LoadPlan:
    if not device.accelerated:
        return LoadPlan("float32", None, "device", "cpu", "on the CPU in float32: float16 kernels there are slow or missing")
    variant = "fp16" if identity.has_weight_variant("fp16") else None
    source = "its fp16 weight files" if variant else "its full-precision weight files"
    return LoadPlan("float16", variant, "device", device.type, f"float16 from {source}")
