"""SD3 single files for the tests: diffusers' state dicts renamed to the original layout Stability AI's files have.

The inverse of diffusers' ``convert_sd3_transformer_checkpoint_to_diffusers``
(diffusers/loaders/single_file_utils.py), for the transformer under
``model.diffusion_model.``:

- ``pos_embed.pos_embed`` / ``pos_embed.proj`` -> ``pos_embed`` / ``x_embedder.proj``;
  ``time_text_embed.timestep_embedder.linear_1/2`` -> ``t_embedder.mlp.0/2``;
  ``time_text_embed.text_embedder.linear_1/2`` -> ``y_embedder.mlp.0/2``;
  ``context_embedder`` as it is; ``proj_out`` -> ``final_layer.linear``;
  ``norm_out.linear`` -> ``final_layer.adaLN_modulation.1`` with its two halves swapped
  (diffusers' AdaLayerNormContinuous takes scale then shift, SD3's shift then scale);
- in block i: ``attn.to_q/to_k/to_v`` -> ``x_block.attn.qkv`` (concatenated),
  ``attn.add_q_proj/add_k_proj/add_v_proj`` -> ``context_block.attn.qkv``,
  ``attn.norm_q/norm_k`` -> ``x_block.attn.ln_q/ln_k``, ``attn.norm_added_q/k`` ->
  ``context_block.attn.ln_q/ln_k``, ``attn.to_out.0`` / ``attn.to_add_out`` ->
  ``x_block.attn.proj`` / ``context_block.attn.proj``, ``attn2.*`` -> ``x_block.attn2.*``
  likewise, ``norm1.linear`` / ``norm1_context.linear`` -> ``x_block`` / ``context_block.adaLN_modulation.1``
  (the last block's text half swapped as above), ``ff.net.0.proj`` / ``ff.net.2`` ->
  ``x_block.mlp.fc1`` / ``fc2``, ``ff_context`` -> ``context_block.mlp``.

The text encoders take transformers' names under ``text_encoders.clip_l.transformer.``,
``text_encoders.clip_g.transformer.`` and ``text_encoders.t5xxl.transformer.``
(T5's tied input embedding under both its names); the VAE the LDM
names under ``first_stage_model.`` (autopipe_sd.ldm.vae_key: SD3's VAE is
converted by diffusers' LDM VAE converter, as SD's and SDXL's are).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Callable, Mapping

TRANSFORMER = "model.diffusion_model."
VAE = "first_stage_model."
TEXT = {"text_encoder": "text_encoders.clip_l.transformer.", "text_encoder_2": "text_encoders.clip_g.transformer.", "text_encoder_3": "text_encoders.t5xxl.transformer."}

_GLOBAL = {
    "pos_embed.pos_embed": "pos_embed",
    "pos_embed.proj.": "x_embedder.proj.",
    "time_text_embed.timestep_embedder.linear_1.": "t_embedder.mlp.0.",
    "time_text_embed.timestep_embedder.linear_2.": "t_embedder.mlp.2.",
    "time_text_embed.text_embedder.linear_1.": "y_embedder.mlp.0.",
    "time_text_embed.text_embedder.linear_2.": "y_embedder.mlp.2.",
    "context_embedder.": "context_embedder.",
    "proj_out.": "final_layer.linear.",
    "norm_out.linear.": "final_layer.adaLN_modulation.1.",
}
_BLOCK = {
    "attn.norm_q.": "x_block.attn.ln_q.", "attn.norm_k.": "x_block.attn.ln_k.",
    "attn.norm_added_q.": "context_block.attn.ln_q.", "attn.norm_added_k.": "context_block.attn.ln_k.",
    "attn.to_out.0.": "x_block.attn.proj.", "attn.to_add_out.": "context_block.attn.proj.",
    "attn2.norm_q.": "x_block.attn2.ln_q.", "attn2.norm_k.": "x_block.attn2.ln_k.", "attn2.to_out.0.": "x_block.attn2.proj.",
    "norm1.linear.": "x_block.adaLN_modulation.1.", "norm1_context.linear.": "context_block.adaLN_modulation.1.",
    "ff.net.0.proj.": "x_block.mlp.fc1.", "ff.net.2.": "x_block.mlp.fc2.",
    "ff_context.net.0.proj.": "context_block.mlp.fc1.", "ff_context.net.2.": "context_block.mlp.fc2.",
}
_QKV = {"attn.to_": "x_block.attn.qkv.", "attn.add_": "context_block.attn.qkv.", "attn2.to_": "x_block.attn2.qkv."}


def _swap(tensor: Any) -> Any:
    import torch

    first, second = tensor.chunk(2, dim=0)
    return torch.cat([second, first], dim=0)


def transformer_to_original(state: Mapping[str, Any], num_layers: int) -> dict[str, Any]:
    """A diffusers SD3Transformer2DModel state dict (tensors, meta ones too) in the original names, under model.diffusion_model."""
    import torch

    out: dict[str, Any] = {}
    qkv: dict[str, dict[str, Any]] = {}
    for key, value in state.items():
        m = re.match(r"transformer_blocks\.(\d+)\.(.*)", key)
        if m is None:
            old = next(o for o in _GLOBAL if key.startswith(o))
            name = _GLOBAL[old] + key[len(old):]
            out[TRANSFORMER + name] = _swap(value) if old == "norm_out.linear." else value
            continue
        i, rest = int(m[1]), m[2]
        q = re.match(r"(attn2?\.(?:to_|add_))([qkv])(?:_proj)?\.(weight|bias)$", rest)
        if q is not None:
            qkv.setdefault(f"joint_blocks.{i}.{_QKV[q[1]]}{q[3]}", {})[q[2]] = value
            continue
        old = next(o for o in _BLOCK if rest.startswith(o))
        swap = old == "norm1_context.linear." and i == num_layers - 1
        out[TRANSFORMER + f"joint_blocks.{i}.{_BLOCK[old]}{rest[len(old):]}"] = _swap(value) if swap else value
    for name, parts in qkv.items():
        out[TRANSFORMER + name] = torch.cat([parts["q"], parts["k"], parts["v"]], dim=0)
    return out


def vae_to_original(state: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, Any]:
    from autopipe_sd.ldm import vae_key

    return {VAE + vae_key(k, len(config["block_out_channels"])): v for k, v in state.items()}


def text_to_original(component: str, state: Mapping[str, Any]) -> dict[str, Any]:
    """A text encoder's state dict under its SD3 prefix. T5's tied input embedding is there twice, as ``shared.weight``
    (diffusers' marker of T5 in a file) and ``encoder.embed_tokens.weight``, as Stability AI's files with T5 hold it
    (stable-diffusion.cpp lists the latter among their unused tensors; AUTOMATIC1111's SD3 loader looks for it)."""
    prefix = TEXT[component]
    return {prefix + k: v for k, v in state.items() if not k.endswith("position_ids")}


def to_original(models: Mapping[str, Any], transformer_config: Mapping[str, Any], vae_config: Mapping[str, Any], keep: Callable[[str], bool] = lambda c: True) -> dict[str, Any]:
    """Every component of `models` (name -> torch module) that `keep` accepts, in the original single-file names."""
    out: dict[str, Any] = {}
    for name, model in models.items():
        if not keep(name):
            continue
        state = model.state_dict()
        if name == "transformer":
            out.update(transformer_to_original(state, transformer_config["num_layers"]))
        elif name == "vae":
            out.update(vae_to_original(state, vae_config))
        else:
            out.update(text_to_original(name, state))
    return out


def build_tiny_file(path: Path, folder: Path, text_encoders: tuple[str, ...] = ("text_encoder", "text_encoder_2", "text_encoder_3"), metadata: Mapping[str, str] | None = None) -> Path:
    """The tiny checkpoint at `folder` as one .safetensors file in the original layout, with these text encoders."""
    from diffusers import AutoencoderKL, SD3Transformer2DModel
    from safetensors.torch import save_file
    from transformers import CLIPTextModelWithProjection, T5EncoderModel

    classes = {"transformer": SD3Transformer2DModel, "vae": AutoencoderKL, "text_encoder": CLIPTextModelWithProjection,
               "text_encoder_2": CLIPTextModelWithProjection, "text_encoder_3": T5EncoderModel}
    models = {name: cls.from_pretrained(folder / name) for name, cls in classes.items() if name in ("transformer", "vae", *text_encoders)}
    read = lambda name: json.loads((folder / name / "config.json").read_text())  # noqa: E731
    state = to_original(models, read("transformer"), read("vae"))
    save_file({k: v.detach().clone().contiguous() for k, v in state.items()}, str(path), metadata=dict(metadata or {}))
    return path


def fullsize_layout(variant: str, components: tuple[str, ...] = ("transformer", "vae", "text_encoder", "text_encoder_2", "text_encoder_3"), dtype: str = "F16") -> dict[str, tuple[str, tuple[int, ...]]]:
    """The true tensor names and shapes of a full-size single file of `variant` with these components (built on the meta device)."""
    from autopipe_sd3 import architectures

    models = {name: model for name, model in architectures.meta_models(variant).items() if name in components}
    numbers = architectures.numbers(variant)
    state = to_original(models, numbers["transformer"], numbers["vae"])
    return {name: (dtype, tuple(t.shape)) for name, t in state.items()}
