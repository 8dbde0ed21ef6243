"""Lumina-Next and Lumina-Image 2.0 planned at full size, on header-only copies: the figures docs/lumina.md gives.

Each component is built on the meta device from the published architecture
(Lumina-Next-SFT's Next-DiT as diffusers' scripts/convert_lumina_to_diffusers.py
builds it, gemma-2b and SDXL's VAE; Lumina-Image 2.0's transformer from the
shipped config, gemma-2-2b and FLUX.1's VAE) and written as a safetensors file
whose header is real and whose data is a hole, float32 as the hub repos ship
them. The planner reads headers only, so it sees these as it would see the
real checkpoints. Building the Gemma models on the meta device takes seconds:
marked slow (``python -m pytest -m slow``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

import autopipe_lumina as lumina
from autopipe_core import DeviceFacts, GiB, resolve
from autopipe_core.planning import plan
from autopipe_core.testing import header_only_checkpoint
from autopipe_lumina.single_file import FOLDERS

pytestmark = pytest.mark.slow

#: Free GPU memory (GiB) -> the placement, as docs/lumina.md lists them (a GPU with bfloat16).
BUDGETS = (4, 8, 12, 16, 24)
EXPECTED = {
    lumina.LUMINA: ("sequential_cpu_offload", "model_cpu_offload", "device", "device", "device"),
    lumina.LUMINA2: ("sequential_cpu_offload", "model_cpu_offload", "device", "device", "device"),
}
NEXT_TRANSFORMER = dict(
    sample_size=128, patch_size=2, in_channels=4, hidden_size=2304, num_layers=24, num_attention_heads=32, num_kv_heads=8,
    multiple_of=256, ffn_dim_multiplier=None, norm_eps=1e-5, learn_sigma=True, qk_norm=True, cross_attention_dim=2048, scaling_factor=1.0,
)
SDXL_VAE = dict(block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                layers_per_block=2, scaling_factor=0.13025)
FLUX_VAE = dict(SDXL_VAE, latent_channels=16, scaling_factor=0.3611, shift_factor=0.1159, use_quant_conv=False, use_post_quant_conv=False)


def _checkpoint(root: Path, cls: str, components: dict) -> Path:
    entries = {"scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"], "tokenizer": ["transformers", "GemmaTokenizerFast"]}
    return header_only_checkpoint(root, cls, components, entries, dtype="F32")


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    from accelerate import init_empty_weights
    from diffusers import AutoencoderKL, Lumina2Transformer2DModel, LuminaNextDiT2DModel
    from transformers import Gemma2Config, Gemma2Model, GemmaConfig, GemmaModel

    root = tmp_path_factory.mktemp("fullsize")
    image2 = FOLDERS.config("lumina2-2b", "transformer")
    with init_empty_weights():
        gemma = GemmaModel(GemmaConfig(vocab_size=256000, hidden_size=2048, intermediate_size=16384, num_hidden_layers=18, num_attention_heads=8, num_key_value_heads=1, head_dim=256))
        gemma2 = Gemma2Model(Gemma2Config(vocab_size=256000, hidden_size=2304, intermediate_size=9216, num_hidden_layers=26, num_attention_heads=8, num_key_value_heads=4, head_dim=256))
        return {
            lumina.LUMINA: _checkpoint(root / "next", "LuminaText2ImgPipeline", {
                "text_encoder": ("transformers", gemma, {"architectures": ["GemmaModel"], "model_type": "gemma"}),
                "transformer": ("diffusers", LuminaNextDiT2DModel(**NEXT_TRANSFORMER), {"_class_name": "LuminaNextDiT2DModel", **NEXT_TRANSFORMER}),
                "vae": ("diffusers", AutoencoderKL(**SDXL_VAE), {"_class_name": "AutoencoderKL", **SDXL_VAE}),
            }),
            lumina.LUMINA2: _checkpoint(root / "image2", "Lumina2Pipeline", {
                "text_encoder": ("transformers", gemma2, {"architectures": ["Gemma2Model"], "model_type": "gemma2"}),
                "transformer": ("diffusers", Lumina2Transformer2DModel.from_config(image2), image2),
                "vae": ("diffusers", AutoencoderKL(**FLUX_VAE), {"_class_name": "AutoencoderKL", **FLUX_VAE}),
            }),
        }


def _gib(nbytes: int) -> float:
    return round(nbytes / GiB, 2)


@pytest.mark.parametrize("family, sizes", [
    (lumina.LUMINA, {"text_encoder": 4.67, "transformer": 3.27, "vae": 0.16}),  # gemma-2b 2.51 B, Next-DiT 1.76 B, SDXL's VAE
    (lumina.LUMINA2, {"text_encoder": 4.87, "transformer": 4.86, "vae": 0.16}),  # gemma-2-2b 2.61 B, 2.61 B (FLUX.1's VAE)
])
def test_each_family_at_full_size(checkpoints, family, sizes):
    resolution = resolve(checkpoints[family], "text2img")
    assert resolution.family == family
    placed = plan(resolution, DeviceFacts("cuda", 1, 80 * GiB, 80 * GiB, True))
    assert {c.name: _gib(c.nbytes) for c in placed.footprint.components} == sizes and placed.plan.dtype == "bfloat16"
    assert (placed.footprint.activation.width, _gib(placed.footprint.activation.nbytes)) == (1024, 2.0)
    placements = tuple(plan(resolution, DeviceFacts("cuda", 1, g * GiB, 80 * GiB, True)).plan.placement for g in BUDGETS)
    assert placements == EXPECTED[family]


def test_a_gpu_without_bfloat16_plans_float32_and_counts_it(checkpoints):
    """A 16 GB T4: float32 doubles the weights (19.77 GiB for Lumina 2), so the whole pipeline no longer fits and model offload holds it."""
    placed = plan(resolve(checkpoints[lumina.LUMINA2], "text2img"), DeviceFacts("cuda", 1, 14 * GiB, 15 * GiB, False))
    assert placed.plan.dtype == "float32" and _gib(placed.footprint.weights) == 19.77
    assert placed.plan.placement == "model_cpu_offload"
