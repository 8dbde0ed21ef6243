"""The config folders autopipe-flux2 ships for single files: written from published architecture numbers, checked against
the published parameter counts.

Each folder is what :func:`config_folder` writes: diffusers' and transformers' own classes, given the numbers below, save
their configs (``save_config``, ``save_pretrained``); model_index.json names the pipeline and its components. Rewrite
them after changing a number with ``python plugins/autopipe-flux2/tests/test_flux2_configs.py`` (the first test fails
until the shipped files match).

Sources of the numbers:
- the transformers: diffusers' own conversion script (scripts/convert_flux2_to_diffusers.py,
  ``get_flux2_transformer_config``): [dev] 8 double and 48 single blocks, 48 heads of 128, joint_attention_dim 15360 (3 x
  Mistral's 5120), guidance embedded; [klein] 4B 5 and 20 blocks, 24 heads, 7680 (3 x Qwen3-4B's 2560); 9B 8 and 24,
  32 heads, 12288 (3 x Qwen3-8B's 4096); no guidance embedding for [klein]; 128 input channels (32 latent channels
  patchified 2 x 2), rotary axes 4 x 32, theta 2000, MLP ratio 3;
- the VAE: ``AutoencoderKLFlux2()``'s defaults, which that script converts FLUX.2's ``ae.safetensors`` into;
- the text encoders: Mistral Small 3.2 24B Instruct 2506 (the script's text encoder; mistralai's config.json: a 40-layer,
  5120-wide Mistral with 32 heads, 8 key/value heads of 128, a 32768-wide MLP, 131072 tokens, rope theta 1e9, its LM head
  untied, and a 24-layer, 1024-wide Pixtral vision tower for 14-pixel patches); Qwen3-4B and Qwen3-8B (Qwen's config.json:
  36 layers, 32 heads, 8 key/value heads of 128, 2560 and 4096 wide, MLPs of 9728 and 12288, 151936 tokens, rope theta
  1e6, the 4B's LM head tied to its embedding, the 8B's not);
- the scheduler: FLUX.1-dev's FlowMatchEulerDiscreteScheduler settings, which the conversion script gives FLUX.2.

The parameter counts they give, against the published ones: [dev]'s transformer 32,223,281,152 ("32B"), [klein] 4B's
3,875,544,576 ("4B") and 9B's 9,078,581,248 ("9B"), Mistral Small 3.x 24,011,361,280 ("24B"), Qwen3-4B 4,022,468,096
("4.0B") and Qwen3-8B 8,190,735,360 ("8.2B"), the VAE 84,046,115.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from autopipe_core.testing import json_files

CONFIGS = Path(__file__).resolve().parent.parent / "src" / "autopipe_flux2" / "configs"

_COMMON = dict(
    patch_size=1, in_channels=128, attention_head_dim=128, timestep_guidance_channels=256, mlp_ratio=3.0,
    axes_dims_rope=[32, 32, 32, 32], rope_theta=2000, eps=1e-6,
)
TRANSFORMERS = {
    "flux2-dev": {**_COMMON, "num_layers": 8, "num_single_layers": 48, "num_attention_heads": 48, "joint_attention_dim": 15360, "guidance_embeds": True},
    "flux2-klein-4b": {**_COMMON, "num_layers": 5, "num_single_layers": 20, "num_attention_heads": 24, "joint_attention_dim": 7680, "guidance_embeds": False},
    "flux2-klein-9b": {**_COMMON, "num_layers": 8, "num_single_layers": 24, "num_attention_heads": 32, "joint_attention_dim": 12288, "guidance_embeds": False},
}
MISTRAL_SMALL = dict(
    text_config=dict(
        model_type="mistral", vocab_size=131072, hidden_size=5120, intermediate_size=32768, num_hidden_layers=40,
        num_attention_heads=32, num_key_value_heads=8, head_dim=128, hidden_act="silu", max_position_embeddings=131072,
        rms_norm_eps=1e-5, rope_theta=1e9, sliding_window=None, tie_word_embeddings=False,
    ),
    vision_config=dict(
        model_type="pixtral", hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
        head_dim=64, hidden_act="silu", image_size=1540, patch_size=14, num_channels=3, rope_theta=10000.0,
    ),
    image_token_index=10, multimodal_projector_bias=False, projector_hidden_act="gelu", spatial_merge_size=2,
    vision_feature_layer=-1, tie_word_embeddings=False,
)
_QWEN3 = dict(
    vocab_size=151936, num_hidden_layers=36, num_attention_heads=32, num_key_value_heads=8, head_dim=128, hidden_act="silu",
    max_position_embeddings=40960, max_window_layers=36, rms_norm_eps=1e-6, rope_theta=1000000, bos_token_id=151643, eos_token_id=151645,
)
QWEN3 = {
    "flux2-klein-4b": {**_QWEN3, "hidden_size": 2560, "intermediate_size": 9728, "tie_word_embeddings": True},
    "flux2-klein-9b": {**_QWEN3, "hidden_size": 4096, "intermediate_size": 12288, "tie_word_embeddings": False},
}
SCHEDULER = dict(num_train_timesteps=1000, shift=3.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15, base_image_seq_len=256, max_image_seq_len=4096)
PIPELINES = {"flux2-dev": "Flux2Pipeline", "flux2-klein-4b": "Flux2KleinPipeline", "flux2-klein-9b": "Flux2KleinPipeline"}
#: The tiny test layouts' folders: model_index.json, the tiny transformer's and scheduler's configs (autopipe_flux2.tiny).
TINY = {"flux2-tiny": "Flux2Pipeline", "flux2-klein-tiny": "Flux2KleinPipeline"}

PUBLISHED = {
    ("flux2-dev", "transformer"): 32_223_281_152,
    ("flux2-klein-4b", "transformer"): 3_875_544_576,
    ("flux2-klein-9b", "transformer"): 9_078_581_248,
    ("flux2-dev", "text_encoder"): 24_011_361_280,
    ("flux2-klein-4b", "text_encoder"): 4_022_468_096,
    ("flux2-klein-9b", "text_encoder"): 8_190_735_360,
    ("flux2-dev", "vae"): 84_046_115,
}
#: The published rounded figures (model cards and Black Forest Labs' announcements), in billions: each count rounds to its own.
ROUNDED = {
    ("flux2-dev", "transformer"): 32, ("flux2-klein-4b", "transformer"): 4, ("flux2-klein-9b", "transformer"): 9,
    ("flux2-dev", "text_encoder"): 24, ("flux2-klein-4b", "text_encoder"): 4.0, ("flux2-klein-9b", "text_encoder"): 8.2,
}


def _model_index(name: str) -> dict:
    cls = PIPELINES.get(name) or TINY[name]
    index: dict = {"_class_name": cls, "_diffusers_version": "0.42.1", "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"]}
    if cls == "Flux2Pipeline":
        index.update(text_encoder=["transformers", "Mistral3ForConditionalGeneration"], tokenizer=["transformers", "PixtralProcessor"])
    else:
        index.update(is_distilled=True, text_encoder=["transformers", "Qwen3ForCausalLM"], tokenizer=["transformers", "Qwen2TokenizerFast"])
    index.update(transformer=["diffusers", "Flux2Transformer2DModel"], vae=["diffusers", "AutoencoderKLFlux2"])
    return dict(sorted(index.items()))


def config_folder(name: str, folder: Path) -> Path:
    """Write the config folder `name` to `folder` with the libraries' own save methods; returns `folder`."""
    import diffusers
    import torch
    from transformers import Mistral3Config, Qwen3Config

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model_index.json").write_text(json.dumps(_model_index(name), indent=2) + "\n")
    diffusers.FlowMatchEulerDiscreteScheduler(**SCHEDULER).save_config(folder / "scheduler")
    with torch.device("meta"):
        if name in TINY:
            from autopipe_flux2 import tiny

            tiny.transformer(name == "flux2-tiny").save_config(folder / "transformer")
            return folder
        diffusers.Flux2Transformer2DModel(**TRANSFORMERS[name]).save_config(folder / "transformer")
        diffusers.AutoencoderKLFlux2().save_config(folder / "vae")
    if name == "flux2-dev":
        Mistral3Config(**MISTRAL_SMALL, architectures=["Mistral3ForConditionalGeneration"]).save_pretrained(folder / "text_encoder")
    else:
        Qwen3Config(**QWEN3[name], architectures=["Qwen3ForCausalLM"]).save_pretrained(folder / "text_encoder")
    return folder


@pytest.mark.parametrize("name", sorted({**PIPELINES, **TINY}))
def test_the_shipped_folder_is_what_the_published_numbers_write(name, tmp_path):
    assert json_files(CONFIGS / name) == json_files(config_folder(name, tmp_path / name)), (
        f"configs/{name} differs from what the architecture numbers write: run python {Path(__file__).name} to rewrite it"
    )


def _count(name: str, component: str) -> int:
    from autopipe_flux2.layout import _model

    return sum(p.numel() for p in _model(CONFIGS / name, component).parameters())


@pytest.mark.parametrize(("name", "component"), sorted(PUBLISHED))
def test_each_config_builds_its_parameter_count_which_rounds_to_the_published_one(name, component):
    count = _count(name, component)
    assert count == PUBLISHED[name, component]
    if (name, component) in ROUNDED:
        figure = ROUNDED[name, component]
        assert round(count / 1e9, 1 if isinstance(figure, float) else 0) == figure


def test_every_folder_shares_the_vae_and_scheduler_and_klein_s_differ_only_in_sizes():
    files = {name: json_files(CONFIGS / name) for name in PIPELINES}
    for part in ("vae/config.json", "scheduler/scheduler_config.json"):
        assert len({json.dumps(f[part], sort_keys=True) for f in files.values()}) == 1, part
    four, nine = files["flux2-klein-4b"], files["flux2-klein-9b"]
    assert four["model_index.json"] == nine["model_index.json"]
    differ = {k for k in four["transformer/config.json"] if four["transformer/config.json"][k] != nine["transformer/config.json"][k]}
    assert differ == {"num_layers", "num_single_layers", "num_attention_heads", "joint_attention_dim"}


def test_the_joint_attention_width_is_three_stacked_text_encoder_states():
    """FLUX.2 stacks three hidden states of its text encoder (layers 10, 20, 30 of Mistral; 9, 18, 27 of Qwen3)."""
    for name in PIPELINES:
        encoder = json_files(CONFIGS / name)["text_encoder/config.json"]
        width = encoder["text_config"]["hidden_size"] if "text_config" in encoder else encoder["hidden_size"]
        layers = encoder["text_config"]["num_hidden_layers"] if "text_config" in encoder else encoder["num_hidden_layers"]
        assert json_files(CONFIGS / name)["transformer/config.json"]["joint_attention_dim"] == 3 * width
        assert layers >= (30 if name == "flux2-dev" else 27)


if __name__ == "__main__":
    for folder_name in sorted({**PIPELINES, **TINY}):
        config_folder(folder_name, CONFIGS / folder_name)
        print(CONFIGS / folder_name)
    sys.exit(0)
