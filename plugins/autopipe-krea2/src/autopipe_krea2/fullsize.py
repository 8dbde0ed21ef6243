"""Krea 2 at full size without its weights: a diffusers folder whose weight files hold true headers and no data.

For the planner's figures (docs/krea2.md's placement rows): every component
built on the meta device from its config, its state dict's names and shapes
written as a sparse safetensors header in bfloat16 (Krea 2's dtype). The
configs:

- the transformer: the one this plugin ships (configs/krea2), which is
  Krea2Transformer2DModel's defaults, given by its docstring as Krea 2's;
- the text encoder: Qwen3-VL-4B-Instruct's shape (:data:`QWEN3_VL_4B`: 36
  layers 2560 wide, 8 key/value heads, a 151,936-token vocabulary; a 24-layer
  vision tower 1024 wide), which Krea2Pipeline's docstring names and its
  default taps (up to hidden state 35) fit, as ``Qwen3VLModel``, the class it
  takes: language model and vision tower, no LM head. Krea's own repository
  was not read (no network here): a text encoder saved without the vision
  tower would hold 0.4 B parameters fewer;
- the VAE: AutoencoderKLQwenImage's defaults, which are Qwen-Image's (96 base
  channels, 16 latent channels).

Imports torch, diffusers and transformers (to build the meta models).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from autopipe_core.toolkit import fullsize

from .single_file import config_folder

#: Qwen3-VL-4B-Instruct's configuration as ``Qwen3VLConfig`` takes it (the sizes that decide the weights).
QWEN3_VL_4B = {
    "text_config": {
        "hidden_size": 2560, "intermediate_size": 9728, "num_hidden_layers": 36, "num_attention_heads": 32, "num_key_value_heads": 8,
        "head_dim": 128, "vocab_size": 151936, "rope_theta": 5000000,
        "rope_scaling": {"mrope_interleaved": True, "mrope_section": [24, 20, 20], "rope_type": "default"}, "tie_word_embeddings": True,
    },
    "vision_config": {
        "depth": 24, "hidden_size": 1024, "intermediate_size": 4096, "num_heads": 16, "out_hidden_size": 2560, "patch_size": 16,
        "spatial_merge_size": 2, "temporal_patch_size": 2, "num_position_embeddings": 2304, "deepstack_visual_indexes": [5, 11, 17],
    },
    "tie_word_embeddings": True,
}


def write_header_only(folder: str | Path) -> Path:
    """Write Krea 2 at full size to `folder` (model_index.json, configs, header-only bfloat16 weights); return the folder."""
    import torch
    from diffusers import AutoencoderKLQwenImage, Krea2Transformer2DModel
    from transformers import Qwen3VLConfig, Qwen3VLModel

    folder = Path(folder)
    shutil.copytree(config_folder("krea2"), folder, dirs_exist_ok=True)
    with torch.device("meta"):
        transformer = Krea2Transformer2DModel.from_config(Krea2Transformer2DModel.load_config(folder / "transformer"))
        vae = AutoencoderKLQwenImage()
        text_config = Qwen3VLConfig(**QWEN3_VL_4B)
        text_encoder = Qwen3VLModel(text_config)
    (folder / "vae").mkdir(exist_ok=True)
    (folder / "vae" / "config.json").write_text(json.dumps(dict(vae.config), indent=2, default=list))
    (folder / "text_encoder").mkdir(exist_ok=True)
    text_config.save_pretrained(folder / "text_encoder")
    for component, model, stem in (
        ("transformer", transformer, "diffusion_pytorch_model"), ("vae", vae, "diffusion_pytorch_model"), ("text_encoder", text_encoder, "model"),
    ):
        fullsize.write_weights(folder / component, stem, fullsize.state_shapes(model), "BF16")
    return folder
