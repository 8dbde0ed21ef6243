"""A header-only HiDream-I1 checkpoint: every component's true tensor names and shapes, no data, for full-size placement plans.

The core plans placement from the safetensors headers of the files a plan
would load (docs/placement.md); these folders have exactly those headers and
sparse data (holes: about 60 GB of apparent size, a few hundred KiB on disk),
so ``autopipe plan`` and ``autopipe_core.planning.plan`` give the figures a
real download would, with no download. The components are built on the meta
device with diffusers' and transformers' own classes from these configs:

- the transformer: the config this plugin ships (``configs/hidream-i1``);
- ``text_encoder``, ``text_encoder_2``: Long-CLIP L/14 and G/14 text towers with
  projection (768 and 1280 wide, 12 and 32 layers, 248 positions);
- ``text_encoder_3``: T5 v1.1 XXL's encoder (4096 wide, 24 layers, 64 heads, d_ff 10240);
- ``text_encoder_4``: Llama 3.1 8B Instruct (``LlamaForCausalLM``: 4096 wide,
  32 layers, 32 heads over 8 key/value heads, MLP 14336, 128,256 tokens,
  untied LM head) — which HiDream-ai's repositories leave out (third-party
  copies such as terminusresearch/hidream-i1-dev ship it);
  :func:`write_header_only` writes it unless ``llama=False``;
- ``vae``: FLUX.1's AutoencoderKL (16 latent channels, 128-512 channels over 4
  levels, no quantisation convolutions).

Tied weights are written once, as ``save_pretrained`` writes them (T5's
embedding). Every tensor in bfloat16, as HiDream-ai publishes them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from autopipe_core.toolkit import fullsize

from .single_file import config_folder

CLIP_L = dict(vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
              max_position_embeddings=248, projection_dim=768, hidden_act="quick_gelu")
CLIP_G = dict(vocab_size=49408, hidden_size=1280, intermediate_size=5120, num_hidden_layers=32, num_attention_heads=20,
              max_position_embeddings=248, projection_dim=1280, hidden_act="gelu")
T5_XXL = dict(vocab_size=32128, d_model=4096, d_kv=64, d_ff=10240, num_layers=24, num_heads=64, feed_forward_proj="gated-gelu",
              is_encoder_decoder=False, tie_word_embeddings=False)
LLAMA_31_8B = dict(vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
                   num_key_value_heads=8, rope_theta=500000.0, max_position_embeddings=131072, tie_word_embeddings=False)
FLUX_VAE = dict(in_channels=3, out_channels=3, latent_channels=16, block_out_channels=[128, 256, 512, 512], layers_per_block=2,
                down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4, scaling_factor=0.3611,
                shift_factor=0.1159, use_quant_conv=False, use_post_quant_conv=False)


def models(llama: bool = True) -> dict[str, Any]:
    """The full-size components on the meta device (no memory), by component name."""
    import torch
    from diffusers import AutoencoderKL, HiDreamImageTransformer2DModel
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection, LlamaConfig, LlamaForCausalLM, T5Config, T5EncoderModel

    with torch.device("meta"):
        built = {
            "transformer": HiDreamImageTransformer2DModel.from_config(
                HiDreamImageTransformer2DModel.load_config(config_folder("hidream-i1") / "transformer")
            ),
            "text_encoder": CLIPTextModelWithProjection(CLIPTextConfig(**CLIP_L)),
            "text_encoder_2": CLIPTextModelWithProjection(CLIPTextConfig(**CLIP_G)),
            "text_encoder_3": T5EncoderModel(T5Config(**T5_XXL)),
            "vae": AutoencoderKL(**FLUX_VAE),
        }
        if llama:
            built["text_encoder_4"] = LlamaForCausalLM(LlamaConfig(**LLAMA_31_8B))
    return built


def write_header_only(root: str | Path, llama: bool = True) -> Path:
    """Write a header-only HiDream-I1 diffusers folder at `root` (see the module's docstring); return it.

    With ``llama=False`` it is laid out as HiDream-ai's repositories are: no
    ``text_encoder_4`` or ``tokenizer_4``, in the folder or its model_index.json.
    """
    root = Path(root)
    index = json.loads((config_folder("hidream-i1") / "model_index.json").read_text())
    if not llama:
        index.pop("text_encoder_4"), index.pop("tokenizer_4")
    root.mkdir(parents=True, exist_ok=True)
    (root / "model_index.json").write_text(json.dumps(index, indent=2))
    for name, model in models(llama).items():
        folder = root / name
        folder.mkdir(exist_ok=True)
        config = dict(model.config) if index[name][0] == "diffusers" else model.config.to_dict()
        config["_class_name"] = type(model).__name__
        (folder / "config.json").write_text(json.dumps(config, indent=2, default=str))
        fullsize.write_weights(folder, fullsize.STEMS[index[name][0]], fullsize.state_shapes(model), "BF16")
    scheduler = root / "scheduler"
    scheduler.mkdir(exist_ok=True)
    (scheduler / "scheduler_config.json").write_text((config_folder("hidream-i1") / "scheduler" / "scheduler_config.json").read_text())
    return root
