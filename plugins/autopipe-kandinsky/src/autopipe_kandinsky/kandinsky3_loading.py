"""How Kandinsky 3 loads on each kind of device.

- **dtype: float16 on every accelerator, float32 on a CPU**, bfloat16 or
  not. Nothing published says Kandinsky 3 is trained or meant to run in
  bfloat16, and everything published runs it in float16: diffusers' docs,
  its pipelines' examples and its integration tests load
  ``kandinsky-community/kandinsky-3`` with ``variant="fp16",
  torch_dtype=torch.float16``; Sber's own README runs the UNet and the T5
  encoder in float16 (``get_T2I_pipeline('cuda', fp16=True)``); and the only
  half-precision files of the checkpoint are its ``fp16`` ones (no ``bf16``
  variant). :func:`autopipe_core.toolkit.plans.half_precision_plan` with
  ``prefer="float16"``: the ``fp16`` files where the checkpoint lists them.
  Mixing dtypes (Sber's later code keeps the UNet and MoVQ in float32) is not
  possible with diffusers' pipelines, which hand the T5 states' dtype to the
  UNet and the latents' to the MoVQ.
- **T5's float32 layers.** transformers keeps each T5 block's feed-forward
  output layer (``wo``, ``T5PreTrainedModel._keep_in_fp32_modules``) in
  float32 under float16. Flan-UL2's encoder has 32 of them, 16384 -> 4096
  (2.1 B of its 8.7 B parameters, 4 GiB more than float16 says), so
  :data:`ALLOWANCE` counts ``text_encoder`` again from its headers with them
  in float32 when the plan is float16.
- **The memory saver: none of the plan's own; the core's placement rules.**
  Unlike SD3, Kandinsky 3 cannot leave its T5 out: it is the only text
  encoder, and the pipeline encodes nothing without it. The T5 is used once
  a call, before the denoising loop (``model_cpu_offload_seq`` is
  ``text_encoder->unet->movq``), so model CPU offload, diffusers' documented
  way to run Kandinsky 3 (``pipe.enable_model_cpu_offload()``), costs one
  transfer of each model a call; the core's rules choose it where the whole
  pipeline does not fit and its largest model (the T5) does with the
  activations, and layer-by-layer (sequential) offload below that. A
  pipeline that fits stays whole on the device.
- **The activation allowance** (:data:`ALLOWANCE`), at 1024x1024, the size
  Kandinsky 3 draws by default (``Kandinsky3Pipeline.__call__``: height and
  width 1024; its UNet config has no ``sample_size``). An estimate from the
  architecture, not measured on a GPU: the MoVQ decode dominates. Its
  decoder's last level works at the full image size with 256 channels
  (Sber's MoVQ: ``ch`` 256, ``ch_mult`` [1, 2, 2, 4]), 0.5 GiB a feature map
  at 1024x1024 in float16, and the upsampling into it interpolates 512
  channels to full size (1 GiB): about 3 GiB at its peak, twice the SDXL VAE
  decode's (128 channels at full size, 1.5 GiB in autopipe-sdxl). The UNet at
  batch 2 (classifier-free guidance) over 128x128 latents holds far less
  (its widest level, 384 channels at 128x128, is 24 MiB a feature map).

Nothing here imports torch: plans are made from the checkpoint's file list and
the device's facts.
"""

from __future__ import annotations

from dataclasses import replace

from autopipe_core import DeviceFacts, GiB, Identity, LoadPlan
from autopipe_core.toolkit.allowance import Allowance
from autopipe_core.toolkit.plans import half_precision_plan

#: The size Kandinsky3Pipeline draws when the call gives none, and the allowance's reference.
NATIVE = 1024
#: Besides the weights, a 1024x1024 call in float16: the MoVQ decode's peak (see the module's docstring). An estimate.
ACTIVATION_AT_NATIVE = 3 * GiB
#: cuBLAS workspace and allocator slack, whatever the size.
FIXED = GiB // 2

#: The modules transformers' T5 keeps in float32 under torch_dtype=float16 (T5PreTrainedModel._keep_in_fp32_modules).
T5_KEEP_FLOAT32 = ("wo",)

#: The family's autopipe_footprint: the allowance at 1024x1024 unless the call says, and T5 counted with its float32
#: layers under float16.
ALLOWANCE = Allowance(
    at=ACTIVATION_AT_NATIVE, reference=NATIVE, fixed=FIXED, native=None, default=NATIVE,
    what="the UNet at batch 2 and the MoVQ decode (its last level at full size, 256 channels)",
    float32_modules={"text_encoder": T5_KEEP_FLOAT32},
)

#: What the plan says on an accelerator, after the files it loads.
WHY_FLOAT16 = (
    "Kandinsky 3 runs in float16, as diffusers' docs and Sber's own code load it, bfloat16 or not: "
    "its half-precision files are fp16 and nothing published runs it in bfloat16"
)


def plan(identity: Identity, device: DeviceFacts) -> LoadPlan:
    """float32 on a CPU; float16 on an accelerator, from the fp16 files where the checkpoint lists them.

    Placement "device": the core plans the real one from the weights'
    headers and :data:`ALLOWANCE` (model CPU offload where the whole
    pipeline does not fit). Raises nothing of its own.
    """
    half = half_precision_plan(identity, device, prefer="float16")
    if not device.accelerated:
        return half
    return replace(half, reason=f"{half.reason}; {WHY_FLOAT16}")
