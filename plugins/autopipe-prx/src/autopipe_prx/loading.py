"""How PRX and PRXPixel load on each kind of device, what a call needs besides the weights, and a loading repair.

The weights of PRX (Photoroom/prx-512-t2i-sft), counted with diffusers' and
transformers' own classes on the meta device at their default settings,
which are PRX's (there is no network here to read the repository's headers;
docs/prx.md): the transformer 1.17 B parameters (2.2 GiB in bfloat16),
T5Gemma's encoder (t5gemma-2b's: Gemma 2 2B's shape, 256,000 tokens 2304
wide) 2.61 B (4.9 GiB), FLUX.1's VAE 84 M or the DC-AE 363 M: about 7.2 to
7.7 GiB in bfloat16. PRXPixel's transformer is about 7 B (diffusers'
docstring), its Qwen3-VL text backbone of a size this plugin does not know.
The planner counts the real files' headers, never these figures.

- **CPU**: float32 (the toolkit's plan: half-precision kernels there are slow
  or missing).
- **An accelerator with bfloat16**: bfloat16, from ``bf16`` weight files
  where the checkpoint has some, else its plain files. PRX's T5Gemma encoder
  is Gemma 2's, trained and published in bfloat16; PRXPixel's docstring
  loads it in bfloat16.
- **An accelerator without bfloat16** (a T4, a V100): float32, not float16
  (:data:`NO_FLOAT16`): Gemma 2's activations exceed float16's range
  (Google publishes and documents Gemma 2 in bfloat16 and float32 only), and
  both PRX pipelines draw their latents in the text encoder's output dtype
  and hand them to the transformer uncast, so the pipeline has one dtype.
- **No float32 modules**: neither transformers' T5Gemma or Qwen3-VL nor
  diffusers' PRX transformer and VAEs keep modules in float32
  (``_keep_in_fp32_modules`` is None; tests/test_prx_plugin.py checks it).
- **The memory saver**: the core's rules. The text encoder runs once per
  prompt before the transformer denoises, so where the whole pipeline does
  not fit but the transformer with the allowance does the rules plan
  ``model_cpu_offload``; nothing is left out (neither pipeline can encode a
  prompt without its encoder).

**The repair** (:func:`from_pretrained`): PRX checkpoints name their text
encoder ``["transformers", "T5GemmaEncoder"]``, a class transformers does
not export; diffusers' ``diffusers.pipelines.prx`` module adds it to the
``transformers`` module as it is imported, but with diffusers 0.42.1 and
transformers 5 that attribute can land on a module object that is no longer
``sys.modules["transformers"]`` (transformers' lazy module is replaced after
diffusers imported it), and ``PRXPipeline.from_pretrained`` then fails with
"`transformers` has no class `T5GemmaEncoder`" (tests/test_prx_plugin.py
shows it, and that the repair loads the folder). The hook puts diffusers'
own class where diffusers looks, then lets the core load as usual.

Nothing here imports torch but :func:`from_pretrained`: plans are made from
the checkpoint's JSON and weight-file headers and the device's facts.
"""

from __future__ import annotations

import sys
from types import MappingProxyType
from typing import Any

from autopipe_core import DeviceFacts, Footprint, GiB, Identity, LoadPlan
from autopipe_core.toolkit.allowance import Allowance
from autopipe_core.toolkit.plans import bfloat16_plan

from . import PIXEL, PRX

#: Why a device without bfloat16 gets float32 (said in the plan's reason).
NO_FLOAT16 = (
    "float32, not float16: PRX's text encoders are trained and published in bfloat16 (T5Gemma's is Gemma 2's, whose "
    "activations exceed float16's range), and the PRX pipelines run the transformer in the text encoder's dtype"
)

#: PRXPipeline's default side when its model_index.json gives no default_sample_size (DEFAULT_RESOLUTION, 512), and
#: PRXPixelPipeline's (1024). The core does not read model_index.json's own values (a 256 or 1024 px PRX checkpoint
#: says its side there), so a call that gives no size is counted at these.
NATIVE = MappingProxyType({PRX: 512, PIXEL: 1024})

#: Besides the weights, a 512x512 PRX call in bfloat16: the prompt and the negative prompt as one batch of 2 through a
#: 1792-wide transformer over 1,024 image tokens (FLUX.1's VAE and 2 x 2 patches; a DC-AE gives 256) and 256 text tokens,
#: well under 0.25 GiB; the VAE decode at full resolution (FLUX.1's decoder on 512x512 maps of 128 to 256 channels, or
#: the DC-AE's), about 0.5 GiB; T5Gemma's encoder over 2 x 256 tokens. An estimate from those shapes, not measured on a
#: GPU (none was at hand): 0.75 GiB at 512x512, plus 0.5 GiB fixed for cuBLAS workspace and allocator slack.
PRX_AT_NATIVE = 3 * GiB // 4
#: Besides the weights, a 1024x1024 PRXPixel call in bfloat16: no VAE; the 7 B transformer at batch 2 over the image's
#: patches (1,024 at 32-pixel patches) and 256 text tokens, and the 1024x1024x3 image itself. An estimate from those
#: shapes, not measured: 1 GiB, plus 0.5 GiB fixed.
PIXEL_AT_NATIVE = GiB
FIXED = GiB // 2

ALLOWANCES = MappingProxyType({
    PRX: Allowance(
        at=PRX_AT_NATIVE, reference=NATIVE[PRX], fixed=FIXED, default=NATIVE[PRX],
        what="the transformer at batch 2 (classifier-free guidance) and the VAE decode at full resolution",
    ),
    PIXEL: Allowance(
        at=PIXEL_AT_NATIVE, reference=NATIVE[PIXEL], fixed=FIXED, default=NATIVE[PIXEL],
        what="the pixel-space transformer at batch 2 (classifier-free guidance) over the image's patches",
    ),
})


def plan(identity: Identity, device: DeviceFacts) -> LoadPlan:
    """The ``autopipe_load_plan`` hook: float32 on a CPU, bfloat16 on an accelerator that has it, float32 on one that has not.

    Placement "device": the core plans the real one from the weights' sizes and :data:`ALLOWANCES`.
    """
    return bfloat16_plan(identity, device, NO_FLOAT16)


def footprint(family: str, identity: Identity, plan: LoadPlan, footprint: Footprint, width: int | None, height: int | None) -> Footprint:
    """The ``autopipe_footprint`` hook: the family's allowance at width x height (None: :data:`NATIVE`), in the plan's dtype."""
    return ALLOWANCES[family].footprint(identity, plan, footprint, width, height)


def t5gemma_encoder_missing() -> bool:
    """Whether ``sys.modules["transformers"]`` lacks the ``T5GemmaEncoder`` PRX's model_index.json names (diffusers then cannot load it)."""
    return getattr(sys.modules.get("transformers"), "T5GemmaEncoder", None) is None


def from_pretrained(pipeline_class: type, model: Any, kwargs: dict[str, Any]) -> None:
    """The ``autopipe_from_pretrained`` hook for ``prx``: the repair in the module's docstring; the core then loads as usual (None).

    Sets ``transformers.T5GemmaEncoder`` to diffusers' own
    ``diffusers.pipelines.prx.T5GemmaEncoder`` (transformers' encoder built
    from the encoder half of a T5Gemma config, the class diffusers means)
    where the live ``transformers`` module lacks it; a caller's
    ``text_encoder=`` needs nothing.
    """
    if "text_encoder" not in kwargs and t5gemma_encoder_missing():
        import transformers
        from diffusers.pipelines import prx

        transformers.T5GemmaEncoder = prx.T5GemmaEncoder
    return None
