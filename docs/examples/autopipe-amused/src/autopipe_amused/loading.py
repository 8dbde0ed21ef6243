"""How an aMUSEd checkpoint loads on each kind of device, and what a call needs besides the weights.

- CPU: float32 everywhere (float16 kernels there are slow or missing).
- An accelerator: float16, from the fp16 weight files when the checkpoint has
  them (the amused repositories ship them: ``variant="fp16"``), else from
  the full-precision files.
- The VQ-GAN (``vqvae``) in float32 on an accelerator as well: the aMUSEd
  release's own examples load the pipeline in float16 and then move the
  VQ-GAN to float32 because it produces NaNs in float16, and its config does
  not set ``force_upcast``, so diffusers' pipelines would decode in float16.
  Loading it in float32 from the start does the same in one step.
- Where the pipeline goes (whole on the GPU, or offloaded when memory is
  short) is not decided here: the core plans it from the weight files' sizes,
  the free memory and :data:`ALLOWANCE`, so the plan says "device".
"""

from __future__ import annotations

from autopipe_core import DeviceFacts, GiB, Identity, LoadPlan, toolkit

#: Why the plan keeps the VQ-GAN in float32; the plan's reason says it.
VQVAE_IN_FLOAT32 = "aMUSEd's VQ-GAN produces NaNs in float16 (its release's examples move it to float32)"

#: Pixels a side per token: the VQ-GAN's 5 blocks downsample by 2**4 = 16, so the transformer's sample_size
#: (tokens a side: 16 in amused-256, 32 in amused-512) times 16 is the native image side.
VQ_SCALE = 16

#: Besides the weights, at 512x512 (an estimate from the shapes, not a measurement): the peak is the VQ-GAN
#: decode in float32, whose last blocks hold 512x512 feature maps of 128 channels (128 MiB each, a few alive at
#: once); the transformer at batch 2 (classifier-free guidance) sees 32x32 tokens, downsampled to 16x16 inside,
#: and its logits over the codebook are 2 x 8192 x 32 x 32 values. Plus 0.5 GiB for cuBLAS workspace and slack.
ALLOWANCE = toolkit.allowance.Allowance(
    at=3 * GiB // 4, reference=512, fixed=GiB // 2, native=("transformer", "sample_size", VQ_SCALE),
    what="the transformer at batch 2 and the VQ-GAN decode in float32",
)


def plan(identity: Identity, device: DeviceFacts) -> LoadPlan:
    return toolkit.plans.half_precision_plan(identity, device, keep_float32={"vqvae": VQVAE_IN_FLOAT32})
