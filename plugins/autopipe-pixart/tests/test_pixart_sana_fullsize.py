"""PixArt-α 1024 and Sana 1.6B 1024 planned at full size, on header-only copies: the figures docs/pixart.md and docs/sana.md give.

Each component is built on the meta device from the published architecture
(T5-v1.1-XXL's encoder, PixArt-XL-2, SD's VAE; Gemma 2 2B, Sana 1.6B from the
shipped config, DC-AE f32c32) and written as a safetensors file whose header
is real and whose data is a hole, as the hub repos ship them (float32, one
file a component). The planner reads headers only, so it sees these as it
would see the real checkpoints. Building T5-XXL and Gemma 2 on the meta
device takes several seconds: marked slow (``python -m pytest -m slow``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

import autopipe_pixart as pixart
from autopipe_core import DeviceFacts, GiB, resolve
from autopipe_core.planning import plan
from autopipe_core.testing import header_only_checkpoint
from autopipe_pixart.single_file import FOLDERS

pytestmark = pytest.mark.slow

#: Free GPU memory -> the placement, as docs/pixart.md and docs/sana.md list them (a GPU with bfloat16).
BUDGETS = (4, 8, 12, 16, 24)
EXPECTED = {
    "pixart-alpha-1024": ("sequential_cpu_offload", "sequential_cpu_offload", "sequential_cpu_offload", "device", "device"),
    "sana-1600m-1024": ("sequential_cpu_offload", "model_cpu_offload", "device", "device", "device"),
}


def _checkpoint(root: Path, cls: str, tokenizer: str, components: dict) -> Path:
    # the parameters alone: tied weights once, as save_pretrained writes them
    entries = {"scheduler": ["diffusers", "DPMSolverMultistepScheduler"], "tokenizer": ["transformers", tokenizer]}
    return header_only_checkpoint(root, cls, components, entries, parameters_only=True, dtype="F32")


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    from accelerate import init_empty_weights
    from diffusers import AutoencoderDC, AutoencoderKL, PixArtTransformer2DModel, SanaTransformer2DModel
    from transformers import Gemma2Config, Gemma2Model, T5Config, T5EncoderModel

    root = tmp_path_factory.mktemp("fullsize")
    pixart_config = dict(
        sample_size=128, num_layers=28, attention_head_dim=72, num_attention_heads=16, in_channels=4, out_channels=8, patch_size=2,
        attention_bias=True, cross_attention_dim=1152, activation_fn="gelu-approximate", num_embeds_ada_norm=1000,
        norm_type="ada_norm_single", norm_elementwise_affine=False, norm_eps=1e-6, caption_channels=4096, use_additional_conditions=True,
    )
    sana_config = FOLDERS.config("sana-1600m-1024", "transformer")
    dc_ae = dict(
        latent_channels=32, attention_head_dim=32, encoder_block_types=("ResBlock",) * 3 + ("EfficientViTBlock",) * 3,
        decoder_block_types=("ResBlock",) * 3 + ("EfficientViTBlock",) * 3, encoder_block_out_channels=(128, 256, 512, 512, 1024, 1024),
        decoder_block_out_channels=(128, 256, 512, 512, 1024, 1024), encoder_layers_per_block=(2, 2, 2, 3, 3, 3),
        decoder_layers_per_block=(3, 3, 3, 3, 3, 3), encoder_qkv_multiscales=((), (), (), (5,), (5,), (5,)),
        decoder_qkv_multiscales=((), (), (), (5,), (5,), (5,)), upsample_block_type="interpolate", downsample_block_type="Conv",
        decoder_norm_types="rms_norm", decoder_act_fns="silu", scaling_factor=0.41407,
    )
    with init_empty_weights():
        t5 = T5EncoderModel(T5Config(vocab_size=32128, d_model=4096, d_kv=64, d_ff=10240, num_layers=24, num_heads=64, feed_forward_proj="gated-gelu", is_encoder_decoder=False))
        t5.encoder.embed_tokens = t5.shared  # tied, as the released T5-XXL encoder stores it once
        sd_vae = AutoencoderKL(block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4, layers_per_block=2)
        gemma = Gemma2Model(Gemma2Config(vocab_size=256000, hidden_size=2304, intermediate_size=9216, num_hidden_layers=26, num_attention_heads=8, num_key_value_heads=4, head_dim=256))
        return {
            "pixart-alpha-1024": _checkpoint(root / "pixart", "PixArtAlphaPipeline", "T5Tokenizer", {
                "text_encoder": ("transformers", t5, {"architectures": ["T5EncoderModel"]}),
                "transformer": ("diffusers", PixArtTransformer2DModel(**pixart_config), {"_class_name": "PixArtTransformer2DModel", **pixart_config}),
                "vae": ("diffusers", sd_vae, {"_class_name": "AutoencoderKL"}),
            }),
            "sana-1600m-1024": _checkpoint(root / "sana", "SanaPipeline", "GemmaTokenizer", {
                "text_encoder": ("transformers", gemma, {"architectures": ["Gemma2Model"]}),
                "transformer": ("diffusers", SanaTransformer2DModel.from_config(sana_config), sana_config),
                "vae": ("diffusers", AutoencoderDC(**dc_ae), {"_class_name": "AutoencoderDC"}),
            }),
        }


def _gib(nbytes: int) -> float:
    return round(nbytes / GiB, 2)


def test_pixart_alpha_at_full_size(checkpoints):
    resolution = resolve(checkpoints["pixart-alpha-1024"], "text2img")
    assert resolution.family == pixart.PIXART_ALPHA
    placed = plan(resolution, DeviceFacts("cuda", 1, 80 * GiB, 80 * GiB, True))
    sizes = {c.name: _gib(c.nbytes) for c in placed.footprint.components}
    # T5-XXL's encoder, 4.76 B parameters, 8.87 GiB in float16, and 1.01 B of them (wo) in float32: as IF-I-XL's T5 in docs/placement.md.
    assert sizes == {"text_encoder": 10.75, "transformer": 1.14, "vae": 0.16} and placed.plan.dtype == "float16"
    assert (placed.footprint.activation.width, _gib(placed.footprint.activation.nbytes)) == (1024, 2.0)
    placements = tuple(plan(resolution, DeviceFacts("cuda", 1, g * GiB, 80 * GiB, True)).plan.placement for g in BUDGETS)
    assert placements == EXPECTED["pixart-alpha-1024"]


def test_sana_1600m_at_full_size(checkpoints):
    resolution = resolve(checkpoints["sana-1600m-1024"], "text2img")
    assert resolution.family == pixart.SANA
    placed = plan(resolution, DeviceFacts("cuda", 1, 80 * GiB, 80 * GiB, True))
    sizes = {c.name: _gib(c.nbytes) for c in placed.footprint.components}
    assert sizes == {"text_encoder": 4.87, "transformer": 2.99, "vae": 0.58} and placed.plan.dtype == "bfloat16"
    assert (placed.footprint.activation.width, _gib(placed.footprint.activation.nbytes)) == (1024, 2.0)
    placements = tuple(plan(resolution, DeviceFacts("cuda", 1, g * GiB, 80 * GiB, True)).plan.placement for g in BUDGETS)
    assert placements == EXPECTED["sana-1600m-1024"]
    t4 = plan(resolution, DeviceFacts("cuda", 1, 14 * GiB, 15 * GiB, False))  # no bfloat16: Gemma 2 and DC-AE in float32
    assert dict(t4.plan.component_dtypes) == {"text_encoder": "float32", "vae": "float32"} and _gib(t4.footprint.weights) == 13.89
