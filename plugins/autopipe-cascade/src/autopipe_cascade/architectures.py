"""Stable Cascade's published StableCascadeUNet architectures, as constructor arguments: the shipped single-file configs.

From diffusers' conversion script for the original checkpoints
(scripts/convert_stable_cascade.py, which builds the diffusers models Stability
AI's stabilityai/stable-cascade and stable-cascade-prior repos hold) and the
model card's sizes: Stage C 3.6B and 1.0B parameters (lite), Stage B 1.5B and
700M (lite). tests/test_single_file.py builds each on the meta device and
counts them, and checks that the config folders this plugin ships
(``configs/<variant>/config.json``) are these, written by :func:`config`.
Nothing here imports torch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from .tiny import STAGE_B as STAGE_B_TINY
from .tiny import STAGE_C as STAGE_C_TINY

_RES, _TIME, _ATTN = "SDCascadeResBlock", "SDCascadeTimestepBlock", "SDCascadeAttnBlock"

_STAGE_B_COMMON: Mapping[str, Any] = {
    "in_channels": 4, "out_channels": 4, "conditioning_dim": 1280, "down_blocks_repeat_mappers": [1, 1, 1, 1],
    "block_types_per_layer": [[_RES, _TIME], [_RES, _TIME], [_RES, _TIME, _ATTN], [_RES, _TIME, _ATTN]],
    "switch_level": None, "clip_text_pooled_in_channels": 1280, "clip_text_in_channels": None, "clip_image_in_channels": None,
    "clip_seq": 4, "effnet_in_channels": 16, "pixel_mapper_in_channels": 3, "patch_size": 2, "kernel_size": 3,
    "dropout": [0, 0, 0.1, 0.1], "self_attn": True, "timestep_conditioning_type": ["sca"], "timestep_ratio_embedding_dim": 64,
}
STAGE_B: Mapping[str, Any] = {
    **_STAGE_B_COMMON, "block_out_channels": [320, 640, 1280, 1280], "num_attention_heads": [0, 0, 20, 20],
    "down_num_layers_per_block": [2, 6, 28, 6], "up_num_layers_per_block": [6, 28, 6, 2], "up_blocks_repeat_mappers": [3, 3, 2, 2],
}
STAGE_B_LITE: Mapping[str, Any] = {
    **_STAGE_B_COMMON, "block_out_channels": [320, 576, 1152, 1152], "num_attention_heads": [0, 9, 18, 18],
    "down_num_layers_per_block": [2, 4, 14, 4], "up_num_layers_per_block": [4, 14, 4, 2], "up_blocks_repeat_mappers": [2, 2, 2, 2],
}
_STAGE_C_COMMON: Mapping[str, Any] = {
    "in_channels": 16, "out_channels": 16, "down_blocks_repeat_mappers": [1, 1], "up_blocks_repeat_mappers": [1, 1],
    "block_types_per_layer": [[_RES, _TIME, _ATTN], [_RES, _TIME, _ATTN]], "switch_level": [False],
    "clip_text_pooled_in_channels": 1280, "clip_text_in_channels": 1280, "clip_image_in_channels": 768, "clip_seq": 4,
    "effnet_in_channels": None, "pixel_mapper_in_channels": None, "patch_size": 1, "kernel_size": 3, "dropout": [0.1, 0.1],
    "self_attn": True, "timestep_conditioning_type": ["sca", "crp"], "timestep_ratio_embedding_dim": 64,
}
STAGE_C: Mapping[str, Any] = {
    **_STAGE_C_COMMON, "conditioning_dim": 2048, "block_out_channels": [2048, 2048], "num_attention_heads": [32, 32],
    "down_num_layers_per_block": [8, 24], "up_num_layers_per_block": [24, 8],
}
STAGE_C_LITE: Mapping[str, Any] = {
    **_STAGE_C_COMMON, "conditioning_dim": 1536, "block_out_channels": [1536, 1536], "num_attention_heads": [24, 24],
    "down_num_layers_per_block": [4, 12], "up_num_layers_per_block": [12, 4],
}

#: Single-file variant -> its StableCascadeUNet's constructor arguments.
ARCHITECTURES: Mapping[str, Mapping[str, Any]] = {
    "stage-b": STAGE_B,
    "stage-b-lite": STAGE_B_LITE,
    "stage-c": STAGE_C,
    "stage-c-lite": STAGE_C_LITE,
    "stage-b-tiny": STAGE_B_TINY,
    "stage-c-tiny": STAGE_C_TINY,
}
#: Parameters of the full-size models, as the model card gives them (rounded: 3.6B, 1B, 1.5B, 700M).
PUBLISHED_PARAMETERS: Mapping[str, float] = {"stage-c": 3.6e9, "stage-c-lite": 1.0e9, "stage-b": 1.5e9, "stage-b-lite": 0.7e9}


def config(variant: str) -> dict[str, Any]:
    """The config.json of `variant`'s StableCascadeUNet, as ``configs/<variant>/config.json`` ships it."""
    return {"_class_name": "StableCascadeUNet", **ARCHITECTURES[variant]}


def write_configs(root: Path) -> None:
    """Write every variant's ``<root>/<variant>/config.json`` (how the shipped folders were made)."""
    for variant in ARCHITECTURES:
        (root / variant).mkdir(parents=True, exist_ok=True)
        (root / variant / "config.json").write_text(json.dumps(config(variant), indent=2, sort_keys=True) + "\n")
