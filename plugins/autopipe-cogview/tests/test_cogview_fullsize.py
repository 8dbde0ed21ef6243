"""CogView3-Plus, CogView4 and CogView4 Control planned at full size, on header-only copies: the figures docs/cogview.md gives.

Each component is built on the meta device from the published architecture
and written as a safetensors file whose header is real and whose data is a
hole (float32). The planner reads headers only, so it sees these as it would
see the real checkpoints:

- CogView3-Plus-3B: ``CogView3PlusTransformer2DModel()`` at diffusers'
  defaults, which diffusers' CogView3 converter builds (30 blocks, 64 heads of
  40); T5-XXL v1.1's encoder (google/t5-v1_1-xxl, the converter's text
  encoder); the converter's VAE;
- CogView4-6B: the transformer as diffusers' CogView4 converter builds it
  (28 blocks, 32 heads of 128, text width 4096); GLM-4-9B's base model
  (THUDM/glm-4-9b-hf: 40 layers 4096 wide, 13,696 feed-forward, 2 key/value
  heads, attention biases, 151,552 tokens) as the ``GlmModel`` the pipeline
  takes; the same VAE;
- CogView4-6B-Control: CogView4's with a 32-channel transformer.

Building GLM-4-9B and T5-XXL on the meta device takes seconds: marked slow
(``python -m pytest -m slow``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

import autopipe_cogview as cogview
from autopipe_core import DeviceFacts, GiB, resolve
from autopipe_core.planning import plan
from autopipe_core.testing import header_only_checkpoint

pytestmark = pytest.mark.slow

#: Free GPU memory (GiB) -> the placement, as docs/cogview.md lists them (a GPU with bfloat16, 80 GiB in all).
BUDGETS = (8, 12, 16, 24, 32, 40)
EXPECTED = {
    "cogview3": ("sequential_cpu_offload", "model_cpu_offload", "model_cpu_offload", "device", "device", "device"),
    "cogview4": ("sequential_cpu_offload", "sequential_cpu_offload", "sequential_cpu_offload", "model_cpu_offload", "device", "device"),
    "cogview4-control": ("sequential_cpu_offload", "sequential_cpu_offload", "sequential_cpu_offload", "model_cpu_offload", "device", "device"),
}
#: diffusers' CogView3 and CogView4 converters' VAE (scripts/convert_cogview{3,4}_to_diffusers.py).
VAE = dict(
    block_out_channels=(128, 512, 1024, 1024), down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
    layers_per_block=3, latent_channels=16, norm_num_groups=32, sample_size=1024, scaling_factor=1.0, force_upcast=True,
    use_quant_conv=False, use_post_quant_conv=False, mid_block_add_attention=False,
)
#: diffusers' CogView4 converter's transformer, with CogView4Transformer2DModel's sample_size (128: 1024 px).
COGVIEW4_TRANSFORMER = dict(
    patch_size=2, in_channels=16, num_layers=28, attention_head_dim=128, num_attention_heads=32, out_channels=16,
    text_embed_dim=4096, time_embed_dim=512, condition_dim=256, pos_embed_max_size=128, sample_size=128,
)
#: google/t5-v1_1-xxl's encoder.
T5_XXL = dict(vocab_size=32128, d_model=4096, d_kv=64, d_ff=10240, num_layers=24, num_heads=64, feed_forward_proj="gated-gelu", is_encoder_decoder=False)
#: THUDM/glm-4-9b-hf's base model.
GLM_4_9B = dict(
    vocab_size=151552, hidden_size=4096, intermediate_size=13696, num_hidden_layers=40, num_attention_heads=32,
    num_key_value_heads=2, head_dim=128, attention_bias=True, tie_word_embeddings=False,
)


def _checkpoint(root: Path, cls: str, scheduler: str, tokenizer: str, components: dict) -> Path:
    entries = {"scheduler": ["diffusers", scheduler], "tokenizer": ["transformers", tokenizer]}
    return header_only_checkpoint(root, cls, components, entries, dtype="F32")


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    from accelerate import init_empty_weights
    from diffusers import AutoencoderKL, CogView3PlusTransformer2DModel, CogView4Transformer2DModel
    from transformers import GlmConfig, GlmModel, T5Config, T5EncoderModel

    root = tmp_path_factory.mktemp("fullsize")
    with init_empty_weights():
        vae = ("diffusers", AutoencoderKL(**VAE), {"_class_name": "AutoencoderKL", **VAE})
        t5 = ("transformers", T5EncoderModel(T5Config(**T5_XXL)), {"architectures": ["T5EncoderModel"], "model_type": "t5"})
        glm = ("transformers", GlmModel(GlmConfig(**GLM_4_9B)), {"architectures": ["GlmModel"], "model_type": "glm"})
        cogview3 = CogView3PlusTransformer2DModel()
        control = dict(COGVIEW4_TRANSFORMER, in_channels=cogview.CONTROL_CHANNELS)
        return {
            "cogview3": _checkpoint(root / "cogview3", "CogView3PlusPipeline", "CogVideoXDDIMScheduler", "T5Tokenizer", {
                "text_encoder": t5, "vae": vae,
                "transformer": ("diffusers", cogview3, {"_class_name": "CogView3PlusTransformer2DModel", **cogview3.config}),
            }),
            "cogview4": _checkpoint(root / "cogview4", "CogView4Pipeline", "FlowMatchEulerDiscreteScheduler", "PreTrainedTokenizerFast", {
                "text_encoder": glm, "vae": vae,
                "transformer": ("diffusers", CogView4Transformer2DModel(**COGVIEW4_TRANSFORMER), {"_class_name": "CogView4Transformer2DModel", **COGVIEW4_TRANSFORMER}),
            }),
            "cogview4-control": _checkpoint(root / "control", "CogView4ControlPipeline", "FlowMatchEulerDiscreteScheduler", "PreTrainedTokenizerFast", {
                "text_encoder": glm, "vae": vae,
                "transformer": ("diffusers", CogView4Transformer2DModel(**control), {"_class_name": "CogView4Transformer2DModel", **control}),
            }),
        }


def _gib(nbytes: int) -> float:
    return round(nbytes / GiB, 2)


@pytest.mark.parametrize("key, sizes", [
    ("cogview3", {"text_encoder": 9.12, "transformer": 5.31, "vae": 0.76}),  # T5-XXL's encoder 4.89 B, the DiT 2.85 B, the VAE 0.41 B
    ("cogview4", {"text_encoder": 16.35, "transformer": 11.86, "vae": 0.76}),  # GLM-4-9B's base model 8.78 B, the DiT 6.37 B
    ("cogview4-control", {"text_encoder": 16.35, "transformer": 11.86, "vae": 0.76}),  # 262,144 more input weights: the same GiB
])
def test_each_checkpoint_at_full_size(checkpoints, key, sizes):
    resolution = resolve(checkpoints[key], "text2img")
    assert resolution.pipeline_class == {"cogview3": "CogView3PlusPipeline", "cogview4": "CogView4Pipeline", "cogview4-control": "CogView4ControlPipeline"}[key]
    placed = plan(resolution, DeviceFacts("cuda", 1, 80 * GiB, 80 * GiB, True))
    assert {c.name: _gib(c.nbytes) for c in placed.footprint.components} == sizes and placed.plan.dtype == "bfloat16"
    assert (placed.footprint.activation.width, _gib(placed.footprint.activation.nbytes)) == (1024, 2.0)
    placements = tuple(plan(resolution, DeviceFacts("cuda", 1, g * GiB, 80 * GiB, True)).plan.placement for g in BUDGETS)
    assert placements == EXPECTED[key]


def test_a_gpu_without_bfloat16_plans_float32_and_counts_it(checkpoints):
    """A 16 GB T4: float32 doubles CogView3-Plus's weights, so only sequential offload holds it."""
    placed = plan(resolve(checkpoints["cogview3"], "text2img"), DeviceFacts("cuda", 1, 14 * GiB, 15 * GiB, False))
    assert placed.plan.dtype == "float32" and _gib(placed.footprint.weights) == 30.36
    assert placed.plan.placement == "sequential_cpu_offload"
