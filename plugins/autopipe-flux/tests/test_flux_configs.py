"""The full-size config folders autopipe-flux ships for single files: written from published architecture numbers, checked
against the published parameter counts.

Each folder is what :func:`config_folder` writes: diffusers' and transformers' own classes, given the architecture
numbers below, save their configs (``save_config``, ``save_pretrained``); model_index.json names the pipeline and its
components. Rewrite them after changing a number with
``python plugins/autopipe-flux/tests/test_flux_configs.py`` (the test below fails until the shipped files match).

Sources of the numbers: Black Forest Labs' FLUX.1 model cards and reference code (github.com/black-forest-labs/flux,
``flux/util.py``: hidden 3072, 24 heads, 19 double and 38 single blocks, context 4096, vector 768, guidance embedding for
dev but not schnell, 64 input channels, 384 for Fill and 128 for Canny/Depth; the autoencoder's 16 latent channels,
scale 0.3611 and shift 0.1159; the sampling shift), OpenAI's CLIP ViT-L/14 text tower and Google's T5 v1.1 XXL encoder
as FLUX uses them, lodestones' Chroma (FLUX.1-schnell's blocks, a 5-layer 5120-wide modulation approximator over 64
channels). The parameter counts they must give: FLUX.1-dev's transformer 11,901,408,320 and schnell's 11,891,178,560
(the files' headers: 23.8 GB of bfloat16), T5-XXL's encoder 4,762,310,656, CLIP ViT-L's text model 123,060,480,
FLUX's VAE 83,819,683, Chroma's transformer 8.9 B (8,899,983,424).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from autopipe_core.testing import json_files

CONFIGS = Path(__file__).resolve().parent.parent / "src" / "autopipe_flux" / "configs"

FLUX_DEV = dict(
    patch_size=1, in_channels=64, num_layers=19, num_single_layers=38, attention_head_dim=128, num_attention_heads=24,
    joint_attention_dim=4096, pooled_projection_dim=768, guidance_embeds=True, axes_dims_rope=[16, 56, 56],
)
TRANSFORMERS = {
    "flux-dev": ("FluxTransformer2DModel", FLUX_DEV),
    "flux-schnell": ("FluxTransformer2DModel", {**FLUX_DEV, "guidance_embeds": False}),
    "flux-fill": ("FluxTransformer2DModel", {**FLUX_DEV, "in_channels": 384, "out_channels": 64}),
    "flux-control": ("FluxTransformer2DModel", {**FLUX_DEV, "in_channels": 128, "out_channels": 64}),
    "chroma": ("ChromaTransformer2DModel", dict(
        patch_size=1, in_channels=64, num_layers=19, num_single_layers=38, attention_head_dim=128, num_attention_heads=24,
        joint_attention_dim=4096, axes_dims_rope=[16, 56, 56], approximator_num_channels=64, approximator_hidden_dim=5120,
        approximator_layers=5,
    )),
}
#: Chroma1-HD's transformer config carries this entry left from FLUX's, and diffusers' ChromaInpaintPipeline reads it.
CHROMA_STALE = {"guidance_embeds": False}
VAE = dict(
    in_channels=3, out_channels=3, down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
    block_out_channels=[128, 256, 512, 512], layers_per_block=2, act_fn="silu", latent_channels=16, norm_num_groups=32,
    sample_size=1024, scaling_factor=0.3611, shift_factor=0.1159, force_upcast=True, use_quant_conv=False, use_post_quant_conv=False,
    mid_block_add_attention=True,
)
CLIP_L = dict(
    vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12, max_position_embeddings=77,
    hidden_act="quick_gelu", layer_norm_eps=1e-5, projection_dim=768, bos_token_id=0, eos_token_id=2, pad_token_id=1,
)
T5_XXL = dict(
    vocab_size=32128, d_model=4096, d_kv=64, d_ff=10240, num_layers=24, num_heads=64, relative_attention_num_buckets=32,
    relative_attention_max_distance=128, dropout_rate=0.1, layer_norm_epsilon=1e-6, feed_forward_proj="gated-gelu",
    tie_word_embeddings=False, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
)
#: FlowMatchEulerDiscreteScheduler: dev shifts with the image's token count; schnell and Chroma use a fixed shift of 1.
DEV_SCHEDULER = dict(num_train_timesteps=1000, shift=3.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15, base_image_seq_len=256, max_image_seq_len=4096)
FIXED_SCHEDULER = {**DEV_SCHEDULER, "shift": 1.0, "use_dynamic_shifting": False}
CLIP_TOKENIZER = {
    "bos_token": "<|startoftext|>", "do_lower_case": True, "eos_token": "<|endoftext|>", "model_max_length": 77,
    "pad_token": "<|endoftext|>", "tokenizer_class": "CLIPTokenizer", "unk_token": "<|endoftext|>",
}
PIPELINES = {"flux-dev": "FluxPipeline", "flux-schnell": "FluxPipeline", "flux-fill": "FluxFillPipeline", "flux-control": "FluxControlPipeline", "chroma": "ChromaPipeline"}

PUBLISHED = {
    ("flux-dev", "transformer"): 11_901_408_320,
    ("flux-schnell", "transformer"): 11_891_178_560,
    # Fill and Control: dev's transformer with img_in taking 384 and 128 channels instead of 64 (3072 outputs each).
    ("flux-fill", "transformer"): 11_901_408_320 + (384 - 64) * 3072,
    ("flux-control", "transformer"): 11_901_408_320 + (128 - 64) * 3072,
    ("chroma", "transformer"): 8_899_983_424,
    ("flux-dev", "text_encoder"): 123_060_480,
    ("flux-dev", "text_encoder_2"): 4_762_310_656,
    ("chroma", "text_encoder"): 4_762_310_656,
    ("flux-dev", "vae"): 83_819_683,
}


def _model_index(name: str) -> dict:
    cls = PIPELINES[name]
    index = {"_class_name": cls, "_diffusers_version": "0.42.1", "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"]}
    if name == "chroma":
        index.update(text_encoder=["transformers", "T5EncoderModel"], tokenizer=["transformers", "T5TokenizerFast"])
    else:
        index.update(
            text_encoder=["transformers", "CLIPTextModel"], tokenizer=["transformers", "CLIPTokenizer"],
            text_encoder_2=["transformers", "T5EncoderModel"], tokenizer_2=["transformers", "T5TokenizerFast"],
        )
    transformer = TRANSFORMERS[name][0]
    index.update(transformer=["diffusers", transformer], vae=["diffusers", "AutoencoderKL"])
    return dict(sorted(index.items()))


def config_folder(name: str, folder: Path) -> Path:
    """Write the config folder `name` to `folder` with the libraries' own save methods; returns `folder`."""
    import diffusers
    import torch
    from transformers import CLIPTextConfig, T5Config

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model_index.json").write_text(json.dumps(_model_index(name), indent=2) + "\n")
    cls, numbers = TRANSFORMERS[name]
    with torch.device("meta"):
        transformer = getattr(diffusers, cls)(**numbers)
        vae = diffusers.AutoencoderKL(**VAE)
    if name == "chroma":
        transformer.register_to_config(**CHROMA_STALE)
    transformer.save_config(folder / "transformer")
    vae.save_config(folder / "vae")
    diffusers.FlowMatchEulerDiscreteScheduler(**(DEV_SCHEDULER if name in ("flux-dev", "flux-fill", "flux-control") else FIXED_SCHEDULER)).save_config(folder / "scheduler")
    t5 = T5Config(**T5_XXL, architectures=["T5EncoderModel"])
    if name == "chroma":
        t5.save_pretrained(folder / "text_encoder")
    else:
        CLIPTextConfig(**CLIP_L, architectures=["CLIPTextModel"]).save_pretrained(folder / "text_encoder")
        t5.save_pretrained(folder / "text_encoder_2")
        (folder / "tokenizer").mkdir(exist_ok=True)
        (folder / "tokenizer" / "tokenizer_config.json").write_text(json.dumps(CLIP_TOKENIZER, indent=2) + "\n")
    return folder


@pytest.mark.parametrize("name", sorted(PIPELINES))
def test_the_shipped_folder_is_what_the_published_numbers_write(name, tmp_path):
    assert json_files(CONFIGS / name) == json_files(config_folder(name, tmp_path / name)), (
        f"configs/{name} differs from what the architecture numbers write: run python {Path(__file__).name} to rewrite it"
    )


def _count(name: str, component: str) -> int:
    import diffusers
    import torch
    import transformers

    folder = CONFIGS / name / component
    config = json.loads((folder / "config.json").read_text())
    with torch.device("meta"):  # tied weights (T5's embedding) stay tied, unlike under accelerate's init_empty_weights
        if "_class_name" in config:
            model = getattr(diffusers, config["_class_name"]).from_config(config)
        else:
            cls = getattr(transformers, config["architectures"][0])
            model = cls(transformers.AutoConfig.for_model(**config))
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(("name", "component"), sorted(PUBLISHED))
def test_each_config_builds_the_published_parameter_count(name, component):
    assert _count(name, component) == PUBLISHED[name, component]


def test_every_flux_folder_shares_the_text_encoders_vae_and_tokenizer():
    files = {name: json_files(CONFIGS / name) for name in PIPELINES if name != "chroma"}
    for part in ("text_encoder/config.json", "text_encoder_2/config.json", "vae/config.json", "tokenizer/tokenizer_config.json"):
        assert len({json.dumps(f[part], sort_keys=True) for f in files.values()}) == 1, part
    assert json_files(CONFIGS / "chroma")["text_encoder/config.json"] == files["flux-dev"]["text_encoder_2/config.json"]


if __name__ == "__main__":
    for folder_name in sorted(PIPELINES):
        config_folder(folder_name, CONFIGS / folder_name)
        print(CONFIGS / folder_name)
    sys.exit(0)
