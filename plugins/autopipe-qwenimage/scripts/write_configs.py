"""Write the config folders autopipe-qwenimage ships for single files, from published architecture numbers.

Run from the repository root: ``.venv/bin/python plugins/autopipe-qwenimage/scripts/write_configs.py``.
Each config is diffusers' own model class instantiated on the meta device with
the numbers below and saved with ``save_config``, so the files hold exactly
the keys this diffusers writes. tests/test_qwenimage_single_file.py checks
the shipped files against these numbers and the parameter counts.

Sources of the numbers:

- Qwen-Image's transformer (Qwen/Qwen-Image, transformer/config.json; the
  Qwen-Image technical report, arXiv 2508.02324: a 20B MMDiT with 60 blocks):
  2 x 2 patches of 16 latent channels (64 in, 16 out), 60 dual-stream blocks
  of 24 heads x 128, joint attention over Qwen2.5-VL-7B's 3584-wide states,
  rope axes 16, 56, 56. These are also QwenImageTransformer2DModel's defaults.
- Qwen-Image-Layered (Qwen/Qwen-Image-Layered): the same transformer with the
  RGB/RGBA timestep condition and the layer-aware 3-D rope.
- Qwen-Image 2.1 (Qwen/Qwen-Image-2.1): QwenImage21Transformer2DModel's
  defaults (32 single-stream blocks of 32 heads x 128 over Qwen3-VL's
  4096-wide states, 64 latent channels unpatched, MLP ratio 3), which diffusers
  wrote for that checkpoint; no published parameter count was at hand to check them.
- The scheduler: Qwen-Image's FlowMatchEulerDiscreteScheduler settings (autopipe_qwenimage.tiny.SCHEDULER).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "src" / "autopipe_qwenimage"
sys.path.insert(0, str(ROOT.parent))

QWENIMAGE = dict(
    patch_size=2, in_channels=64, out_channels=16, num_layers=60, attention_head_dim=128, num_attention_heads=24,
    joint_attention_dim=3584, guidance_embeds=False, axes_dims_rope=(16, 56, 56),
)
LAYERED = dict(QWENIMAGE, use_additional_t_cond=True, use_layer3d_rope=True)
QWENIMAGE21 = dict(
    patch_size=1, in_channels=64, out_channels=64, num_layers=32, attention_head_dim=128, num_attention_heads=32,
    context_in_dim=4096, mlp_ratio=3, axes_dims_rope=(16, 56, 56), causal_condition=True,
)

#: folder -> (pipeline class, model_index components, transformer class, transformer config, ship the scheduler)
FOLDERS = {
    "qwen-image": ("QwenImagePipeline", {
        "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"], "text_encoder": ["transformers", "Qwen2_5_VLForConditionalGeneration"],
        "tokenizer": ["transformers", "Qwen2Tokenizer"], "transformer": ["diffusers", "QwenImageTransformer2DModel"],
        "vae": ["diffusers", "AutoencoderKLQwenImage"],
    }, "QwenImageTransformer2DModel", QWENIMAGE, True),
    "qwen-image-layered": ("QwenImageLayeredPipeline", {
        "processor": ["transformers", "Qwen2VLProcessor"], "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
        "text_encoder": ["transformers", "Qwen2_5_VLForConditionalGeneration"], "tokenizer": ["transformers", "Qwen2Tokenizer"],
        "transformer": ["diffusers", "QwenImageTransformer2DModel"], "vae": ["diffusers", "AutoencoderKLQwenImage"],
    }, "QwenImageTransformer2DModel", LAYERED, True),
    "qwen-image-2.1": ("QwenImage21Pipeline", {
        "processor": ["transformers", "Qwen3VLProcessor"], "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
        "text_encoder": ["transformers", "Qwen3VLForConditionalGeneration"], "transformer": ["diffusers", "QwenImage21Transformer2DModel"],
        "vae": ["diffusers", "AutoencoderKLQwenImage21"],
    }, "QwenImage21Transformer2DModel", QWENIMAGE21, False),
}


def tiny_folder() -> tuple:
    """The tiny layout's folder: autopipe_qwenimage.tiny's transformer config."""
    from autopipe_qwenimage import tiny

    config = dict(tiny.transformer().config)
    return ("QwenImagePipeline", FOLDERS["qwen-image"][1], "QwenImageTransformer2DModel", {k: v for k, v in config.items() if not k.startswith("_")}, True)


def write(name: str, spec: tuple, root: Path = ROOT / "configs") -> Path:
    import diffusers
    import torch

    from autopipe_qwenimage.tiny import SCHEDULER

    pipeline, components, model, numbers, scheduler = spec
    folder = root / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    index = {"_class_name": pipeline, "_diffusers_version": diffusers.__version__, **components}
    (folder / "model_index.json").write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
    with torch.device("meta"):
        getattr(diffusers, model)(**numbers).save_config(folder / "transformer")
    if scheduler:
        diffusers.FlowMatchEulerDiscreteScheduler(**SCHEDULER).save_config(folder / "scheduler")
    return folder


if __name__ == "__main__":
    for name, spec in {**FOLDERS, "tiny": tiny_folder()}.items():
        print(write(name, spec))
