"""How Stable Diffusion 1.x/2.x loads on each kind of device."""

from __future__ import annotations

from autopipe_core import DeviceFacts, Identity, LoadPlan

# Below this much free device memory, SD (about 2.6 GB of weights in float16
# plus activations at 512x512) is offloaded model by model instead of moved whole.
MIN_FREE_FOR_DEVICE = 4 << 30


def plan(identity: Identity, device: DeviceFacts) -> LoadPlan:
    if not device.accelerated:
        return LoadPlan("float32", None, "device", "cpu", "on the CPU float32: float16 kernels there are slow or missing")
    has_fp16 = identity.has_weight_variant("fp16")
    variant = "fp16" if has_fp16 else None
    files = "its fp16 weight files" if has_fp16 else ("its full-precision files (no fp16 variant found)" if identity.files is not None else "its default files (file list unknown)")
    if device.type == "cuda" and device.free_bytes is not None and device.free_bytes < MIN_FREE_FOR_DEVICE:
        gib = device.free_bytes / (1 << 30)
        return LoadPlan("float16", variant, "model_cpu_offload", device.type, f"float16 from {files}; only {gib:.1f} GiB free, so models are moved to the GPU one at a time")
    return LoadPlan("float16", variant, "device", device.type, f"float16 from {files}, whole pipeline on {device.type}")
