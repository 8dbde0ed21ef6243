"""How HiDream-I1 loads on each kind of device, what a call needs besides the weights, and the Llama it needs.

The weights decide it. In bfloat16 (HiDream-ai publishes bfloat16 weights;
parameter counts from the configs, built on the meta device with diffusers'
and transformers' own classes, docs/hidream.md):

- the transformer 17.11 B (31.9 GiB), Llama 3.1 8B Instruct
  (``LlamaForCausalLM``, its LM head included) 8.03 B (15.0 GiB), T5-XXL's
  encoder 4.76 B (8.9 GiB), the two CLIPs 0.82 B (1.5 GiB), the VAE 84 M:
  about 57.4 GiB in all.

- **dtype**: bfloat16 where the device has it (HiDream-I1 is trained and
  published in bfloat16; HiDream-ai's inference code and diffusers' example
  load it so); float32 on a CPU; and float32, not float16, on an accelerator
  without bfloat16 (:data:`NO_FLOAT16`). The weight variant follows the files
  present (``half_precision_plan``).
- **Float32 modules**: none in a bfloat16 or float32 plan. transformers keeps
  T5's ``wo`` in float32 under float16 only (``T5PreTrainedModel._keep_in_fp32_modules``),
  which :data:`ALLOWANCE` counts should a float16 plan ever be made; Llama,
  CLIP, HiDreamImageTransformer2DModel and AutoencoderKL keep none.
- **The memory saver, decided**: the Llama (15 GiB, the second largest
  component) is used once, to encode the prompt before the transformer
  denoises. Two ways to keep it off the GPU while the transformer works:
  *model CPU offload*, which the core's rules plan when the whole pipeline
  does not fit but the transformer with the allowance does (a 40-48 GiB GPU:
  each encoder comes to the GPU in turn, then goes back before the 32 GiB
  transformer comes; two GPUs that each hold a model get
  ``device_map="balanced"``), and *loading it separately*, as HiDream-ai's
  own repositories require: HiDream-ai/HiDream-I1-Full, -Dev and -Fast ship
  no ``text_encoder_4`` or ``tokenizer_4`` (Llama 3.1 is Meta's, gated), and
  diffusers' own example passes ``tokenizer_4=`` and ``text_encoder_4=``
  loaded from meta-llama/Meta-Llama-3.1-8B-Instruct — where the caller may
  quantise it or put it on another device; the planner counts what is passed.
  No component can be left out (``skip``): HiDreamImagePipeline encodes the
  prompt with all four encoders, and none has a fallback.

A checkpoint without the Llama (HiDream-ai's) is refused by the core before
any weight is read (``autopipe_core.loading.check_components``: an
``InvalidModelError`` that names ``text_encoder_4=`` and ``tokenizer_4=``);
where they come from (:data:`LLAMA_ADVICE`) is said by docs/hidream.md and by
the single-file loader, which checks its base itself. The core has no place
for a family's advice in that error (a core change the plugin does not make).
Planned, such a checkpoint counts the Llama it will run with (:func:`footprint`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping

from autopipe_core import sources
from autopipe_core import Activation, ComponentBytes, DeviceFacts, Footprint, GiB, Identity, LoadPlan
from autopipe_core.planning import ITEMSIZE
from autopipe_core.toolkit.allowance import Allowance
from autopipe_core.toolkit.plans import CPU_REASON, bfloat16_plan


#: Why an accelerator without bfloat16 gets float32 (said in the plan's reason).
NO_FLOAT16 = (
    "float32, not float16: HiDream-I1 is trained and published in bfloat16, and neither HiDream-ai nor diffusers publishes "
    "a float16 run of it; pass torch_dtype=torch.float16 to try it"
)
#: What a float32 load takes in RAM, for the CPU plan's reason: about 30.8 B parameters x 4 bytes.
CPU_RAM = "HiDream-I1 then needs about 123 GB of RAM"

#: HiDreamImagePipeline.default_sample_size (diffusers 0.42.1): latents a side; x the VAE's factor = the drawn side.
DEFAULT_SAMPLE_SIZE = 128
#: The drawn side with FLUX.1's VAE (factor 8), HiDream-I1's: 1024.
NATIVE = 1024

#: Besides the weights, a 1024x1024 call in bfloat16: the transformer (2560 wide) over 4,096 image tokens and 384
#: text tokens (T5's 128, the Llama's 128 twice) at batch 2 (classifier-free guidance: Full's guidance 5.0; Dev and
#: Fast run at guidance 0.0, batch 1), a 4 x 2560-wide SwiGLU in each of its 2 active experts and the shared one: under
#: 1 GiB; FLUX.1's VAE decode at 1024x1024 (128 to 512 channels) about 1.25 GiB, after it; the Llama's pass over 128
#: tokens (33 hidden states of 4096 kept, eager attention since the pipeline asks for attentions) well below that.
#: Estimated from those shapes, as FLUX.1's (the same VAE) is, not measured on a GPU (docs/hidream.md says so).
ACTIVATION = 3 * GiB // 2
#: cuBLAS workspace and allocator slack, whatever the size.
FIXED = GiB // 2
#: transformers keeps T5's feed-forward output layers in float32 under float16 (T5PreTrainedModel._keep_in_fp32_modules).
T5_KEEP_FLOAT32 = ("wo",)

ALLOWANCE = Allowance(
    at=ACTIVATION, reference=NATIVE, fixed=FIXED, default=NATIVE,
    what="the transformer over 4096 image and 384 text tokens at batch 2, and the VAE decode",
    float32_modules={"text_encoder_3": T5_KEEP_FLOAT32},
)


def plan(family: str, identity: Identity, device: DeviceFacts) -> LoadPlan:
    """bfloat16 where the device has it, float32 on a CPU and on an accelerator without bfloat16; the variant from the files.

    Placement "device": the core plans the real one from the weights' sizes
    and :func:`footprint` (the module's docstring: model offload is the saver).
    """
    return bfloat16_plan(identity, device, NO_FLOAT16, on_cpu=f"{CPU_REASON} ({CPU_RAM})")


def native_side(identity: Identity) -> int:
    """The side HiDreamImagePipeline draws by default: 128 latents x the VAE's factor (2 ** (levels - 1)); 1024 when unread.

    The VAE's levels are its config's ``block_out_channels`` (FLUX.1's VAE:
    4 levels, factor 8; the tiny checkpoint's: 2 levels, 256 pixels).
    """
    config = identity.configs.get("vae") or {}
    levels = config.get("block_out_channels")
    if not isinstance(levels, (list, tuple)) or not levels:
        return NATIVE
    return DEFAULT_SAMPLE_SIZE * 2 ** (len(levels) - 1)


def drawn(width: int | None, height: int | None, native: int = NATIVE) -> tuple[int, int]:
    """The size HiDreamImagePipeline really draws for a call at `width` x `height` (None: `native`).

    It keeps the aspect ratio and rescales to the native area, rounded down
    to whole 16-pixel steps (the VAE's factor x the 2 x 2 patches):
    ``__call__`` of diffusers 0.42.1, ``scale = sqrt(native**2 / (w * h))``.
    320x192 is drawn 1312x784; 2048x2048 is drawn 1024x1024.
    """
    w, h = width or native, height or native
    scale = math.sqrt(native * native / (w * h))
    step = 2 * native // DEFAULT_SAMPLE_SIZE
    return int(w * scale // step * step), int(h * scale // step * step)


def footprint(family: str, identity: Identity, plan: LoadPlan, footprint: Footprint, width: int | None, height: int | None) -> Footprint:
    """The ``autopipe_footprint`` hook: the Llama a checkpoint lacks, and :data:`ALLOWANCE` for the image the pipeline will draw.

    A checkpoint without ``text_encoder_4`` (HiDream-ai's own) cannot load
    unless the caller passes the Llama, so where the core counted none (it
    counts a passed object itself) :func:`llama_bytes` counts Llama 3.1 8B
    Instruct in the plan's dtype: the plan is then for the pipeline that will
    run, 15 GiB more. The Activation names the size asked (None: the native
    one); its bytes are those of :func:`drawn`'s size: HiDreamImagePipeline
    draws the native area whatever the size asked, so a small request costs
    as much as 1024x1024.
    """
    if footprint.component("text_encoder_4") is None and not has_component(identity, "text_encoder_4"):
        footprint = footprint.with_component(llama_bytes(plan.component_dtypes.get("text_encoder_4", plan.dtype)))
    native = native_side(identity)
    w, h = width or native, height or native
    real_w, real_h = drawn(w, h, native)
    counted = ALLOWANCE.footprint(identity, plan, footprint, real_w, real_h)
    said = counted.activation.reason
    if (real_w, real_h) != (w, h):
        said += f" (asked {w}x{h}: HiDreamImagePipeline draws the native {native}x{native} area whatever the size asked)"
    return counted.with_activation(Activation(counted.activation.nbytes, w, h, said))


#: Llama 3.1 8B Instruct's parameters as LlamaForCausalLM (its LM head included): meta/Llama-3.1-8B-Instruct's config
#: built on the meta device (autopipe_hidream.fullsize.LLAMA_31_8B; tests/test_hidream_fullsize.py checks it).
LLAMA_PARAMETERS = 8_030_261_248


def has_component(identity: Identity, name: str) -> bool:
    """Whether the checkpoint gives `name`: model_index.json names its class, and its files (where known) have its folder."""
    library, cls = identity.components.get(name, (None, None))
    if library is None or cls is None:
        return False
    return identity.files is None or any(f.startswith(name + "/") for f in identity.files)


def llama_bytes(dtype: str) -> ComponentBytes:
    """Llama 3.1 8B Instruct's weights in `dtype` ("bfloat16": 14.96 GiB), for a checkpoint that lacks them."""
    return ComponentBytes(
        "text_encoder_4", LLAMA_PARAMETERS * ITEMSIZE[dtype], LLAMA_PARAMETERS, dtype,
        f"Llama 3.1 8B Instruct ({LLAMA_PARAMETERS:,} parameters), which the checkpoint lacks and the caller must pass "
        f"(from {LLAMA_REPO}); a smaller passed one (quantised) is counted as passed",
    )


# The Llama: HiDream-ai's repositories do not ship it.

#: The components HiDream-ai's repositories leave out, and what to pass for each.
LLAMA_COMPONENTS = ("text_encoder_4", "tokenizer_4")
LLAMA_REPO = "meta-llama/Meta-Llama-3.1-8B-Instruct"
LLAMA_ADVICE = (
    f"pass tokenizer_4=transformers.AutoTokenizer.from_pretrained({LLAMA_REPO!r}) and "
    f"text_encoder_4=transformers.LlamaForCausalLM.from_pretrained({LLAMA_REPO!r}, output_hidden_states=True, "
    "output_attentions=True, torch_dtype=torch.bfloat16), as HiDream-ai's model cards and diffusers' HiDreamImagePipeline "
    "example do (the Llama is Meta's, gated: accept its licence on the hub first)"
)


def _index(model: Any) -> Mapping[str, Any] | None:
    """The checkpoint's model_index.json as a dict (a local folder, else the local hub cache), or None when it cannot be read."""
    if not isinstance(model, (str, Path)):
        return None
    path = Path(model) / "model_index.json"
    if not path.is_file():
        try:
            from huggingface_hub import try_to_load_from_cache

            cached = try_to_load_from_cache(str(model), "model_index.json")
        except Exception:  # not a repo id: diffusers says what is wrong with it
            return None
        if not isinstance(cached, str):
            return None
        path = Path(cached)
    try:
        index = sources.read_json(path, "model_index.json")  # capped: the caller's checkpoint
    except (OSError, ValueError):
        return None
    return index if isinstance(index, dict) else None


def lacks_llama(model: Any) -> list[str] | None:
    """Which of :data:`LLAMA_COMPONENTS` the checkpoint does not give (empty: it gives both); None when that cannot be told.

    A component is lacking when model_index.json does not name it (or names
    ``[null, null]``), or when a local folder has no subfolder for it.
    """
    index = _index(model)
    if index is None:
        return None
    local = Path(str(model)).is_dir()
    lacking = []
    for name in LLAMA_COMPONENTS:
        entry = index.get(name)
        named = isinstance(entry, (list, tuple)) and len(entry) == 2 and all(isinstance(part, str) for part in entry)
        if not named or (local and not (Path(str(model)) / name).is_dir()):
            lacking.append(name)
    return lacking
