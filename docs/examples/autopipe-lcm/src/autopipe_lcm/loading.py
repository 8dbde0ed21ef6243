"""How an LCM checkpoint loads on each kind of device.

The weights are Stable Diffusion 1.5's size (about 2 GB in float16), so the
choices are SD's, which the core's toolkit writes once for every family:
float32 on a CPU, where float16 kernels are slow or missing; float16 on an
accelerator, from the fp16 weight files when the checkpoint has them. Where
the pipeline goes (whole on the GPU, or offloaded when memory is short) is
not decided here: the core plans it from the weight files' sizes and the
free memory, so the plan says "device".
"""

from __future__ import annotations

from autopipe_core import DeviceFacts, Identity, LoadPlan, toolkit


def plan(identity: Identity, device: DeviceFacts) -> LoadPlan:
    return toolkit.plans.half_precision_plan(identity, device)
