"""Kandinsky 3 at full size without its weights: its architecture, and a header-only checkpoint folder for planning.

The numbers, and where each comes from (no Kandinsky 3 config is in this
repository or in ``/work/shared/real_configs``, so they are rebuilt from what
is published, and checked against the published parameter counts):

- ``unet``: ``Kandinsky3UNet()``'s defaults, which are kandinsky-community/kandinsky-3's
  UNet config (block_out_channels 384, 768, 1536, 3072, 3 blocks a level,
  heads of 64, cross-attention and encoder width 4096, time embedding 1536;
  the same numbers as Sber's ``get_T2I_unet``: model_channels 384,
  dim_mult 1, 2, 4, 8, time_embed_dim 1536, context_dim 4096):
  3,055,348,228 parameters, Sber's "Latent Diffusion U-Net - 3B";
- ``text_encoder``: Flan-UL2's encoder as a ``T5EncoderModel``: d_model 4096
  (Sber's ``model_dims``), 32 layers, 16 heads of 256, feed-forward 16384
  gated-SiLU, vocabulary 32128 (Flan-UL2's published config): 8,721,797,632
  parameters, Sber's "Text encoder Flan-UL2 (encoder part) - 8.6B";
- ``movq``: Sber's MoVQ as diffusers' ``VQModel`` (Sber's ``get_movq``
  generator config: ch 256, ch_mult 1, 2, 2, 4, 2 residual blocks a level,
  attention at the lowest resolution, z_channels 4; spatial norm; a 16384-entry
  codebook of 4): 270,669,103 parameters, Sber's "MoVQ encoder/decoder - 267M".

:func:`write_fullsize` writes a diffusers folder whose weight files are
sparse header-only safetensors files of the true shapes in float16 (the
checkpoint's ``fp16`` variant): the planner reads it as it would the real
one. Importing this module imports nothing heavy.
"""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from autopipe_core.toolkit import fullsize
from autopipe_core.toolkit.fullsize import STEMS, dump_json, state_shapes

#: Each component's constructor settings (transformers' T5 takes a T5Config of them).
NUMBERS: Mapping[str, Mapping[str, Any]] = MappingProxyType({
    "unet": MappingProxyType({}),  # Kandinsky3UNet's defaults
    "text_encoder": MappingProxyType({
        "vocab_size": 32128, "d_model": 4096, "d_kv": 256, "d_ff": 16384, "num_layers": 32, "num_heads": 16,
        "relative_attention_num_buckets": 32, "relative_attention_max_distance": 128, "feed_forward_proj": "gated-silu",
        "is_encoder_decoder": False, "tie_word_embeddings": False, "pad_token_id": 0, "eos_token_id": 1,
    }),
    "movq": MappingProxyType({
        "in_channels": 3, "out_channels": 3, "latent_channels": 4, "vq_embed_dim": 4, "num_vq_embeddings": 16384,
        "block_out_channels": (256, 512, 512, 1024), "layers_per_block": 2, "norm_num_groups": 32, "norm_type": "spatial",
        "down_block_types": ("DownEncoderBlock2D",) * 3 + ("AttnDownEncoderBlock2D",),
        "up_block_types": ("AttnUpDecoderBlock2D",) + ("UpDecoderBlock2D",) * 3,
    }),
})

#: The parameter counts the built models have (tests check them against the published figures above).
PARAMETERS: Mapping[str, int] = MappingProxyType({"unet": 3_055_348_228, "text_encoder": 8_721_797_632, "movq": 270_669_103})

INDEX = {
    "_class_name": "Kandinsky3Pipeline",
    "movq": ["diffusers", "VQModel"],
    "scheduler": ["diffusers", "DDPMScheduler"],
    "text_encoder": ["transformers", "T5EncoderModel"],
    "tokenizer": ["transformers", "T5TokenizerFast"],
    "unet": ["diffusers", "Kandinsky3UNet"],
}


def build(component: str) -> Any:
    """The component `component` names, at full size (call under ``torch.device("meta")``: no memory)."""
    settings = dict(NUMBERS[component])
    if component == "unet":
        from diffusers import Kandinsky3UNet

        return Kandinsky3UNet(**settings)
    if component == "text_encoder":
        from transformers import T5Config, T5EncoderModel

        return T5EncoderModel(T5Config(**settings))
    from diffusers import VQModel

    return VQModel(**settings)


def meta_models() -> dict[str, Any]:
    """component -> the model on torch's meta device (shapes, no memory; the T5's tied embedding stays tied)."""
    return fullsize.meta_models(lambda name, _: build(name), NUMBERS)


def write_fullsize(folder: str | Path) -> Path:
    """A Kandinsky3Pipeline folder of header-only ``.fp16.`` files (F16) of the true shapes, with every config. Returns it.

    A few hundred kilobytes on disk (the data are holes): 22.44 GiB of
    float16 weights, which the planner counts as 26.44 GiB, transformers
    keeping the T5's ``wo`` layers (2,147,483,648 parameters) in float32.
    """
    from diffusers import DDPMScheduler

    folder = Path(folder)
    for name, model in meta_models().items():
        library = INDEX[name][0]
        if library == "diffusers":
            model.save_config(folder / name)
        else:
            model.config.save_pretrained(folder / name)
        fullsize.write_weights(folder / name, STEMS[library], state_shapes(model), "F16", variant="fp16")
    DDPMScheduler(beta_schedule="squaredcos_cap_v2", clip_sample=True).save_config(folder / "scheduler")
    dump_json(folder / "tokenizer" / "tokenizer_config.json", {"tokenizer_class": "T5Tokenizer", "model_max_length": 512})
    dump_json(folder / "model_index.json", {**INDEX, "_diffusers_version": "0.42.1"})
    return folder
