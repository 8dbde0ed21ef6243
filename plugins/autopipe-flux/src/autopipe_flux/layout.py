"""diffusers' FLUX and Chroma transformer state dicts -> Black Forest Labs' original single-file names: the inverse of diffusers' conversion.

For tests and benchmarks: the true tensor names and shapes of full-size
single files and diffusers folders, computed from the configs this plugin
ships on the meta device, with no weights (:func:`write_header_only` writes a
header-only copy of FLUX.1-dev or Chroma1-HD for planning). Never used to load anything (diffusers' own converter,
``convert_flux_transformer_checkpoint_to_diffusers`` and its Chroma twin in
``diffusers.loaders.single_file_utils``, does that; tests/test_flux_single_file.py
checks that it gives back every tensor of the model from these names).

The mapping (BFL's ``flux/model.py``, as diffusers reads it), with ``i`` a block:

- ``x_embedder`` / ``context_embedder`` -> ``img_in`` / ``txt_in``;
  ``time_text_embed.{timestep,text,guidance}_embedder.linear_1/2`` ->
  ``{time,vector,guidance}_in.in_layer/out_layer`` (FLUX);
  ``distilled_guidance_layer.layers.i.linear_1/2`` -> ``.in_layer/out_layer``, ``.norms.i.weight`` -> ``.norms.i.scale`` (Chroma)
- ``transformer_blocks.i`` -> ``double_blocks.i``: ``norm1(_context).linear`` -> ``img_mod/txt_mod.lin``
  (FLUX only: Chroma's modulation comes from its distilled guidance layer);
  ``attn.to_q/k/v`` and ``attn.add_q/k/v_proj`` joined into ``img_attn.qkv`` and ``txt_attn.qkv``;
  ``attn.norm_q/k`` and ``norm_added_q/k`` -> ``img_attn/txt_attn.norm.query_norm/key_norm.scale``;
  ``ff(_context).net.0.proj`` / ``.net.2`` -> ``img_mlp/txt_mlp.0`` / ``.2``; ``attn.to_out.0`` / ``to_add_out`` -> ``img_attn/txt_attn.proj``
- ``single_transformer_blocks.i`` -> ``single_blocks.i``: ``attn.to_q/k/v`` and ``proj_mlp`` joined into ``linear1``;
  ``proj_out`` -> ``linear2``; ``norm.linear`` -> ``modulation.lin`` (FLUX); ``attn.norm_q/k`` -> ``norm.query_norm/key_norm.scale``
- ``proj_out`` -> ``final_layer.linear``; ``norm_out.linear`` -> ``final_layer.adaLN_modulation.1``, its two halves
  swapped (BFL keeps shift then scale, diffusers scale then shift) (FLUX)

Other components of an all-in-one file (ComfyUI's layout): the text encoders
keep transformers' own names under ``text_encoders.clip_l.transformer.`` and
``text_encoders.t5xxl.transformer.`` (diffusers strips those prefixes), the
VAE takes the original (LDM) names under ``vae.``.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from autopipe_core.toolkit import fullsize
from autopipe_core.toolkit.renames import Join, Rename, renamed, swap_halves

from . import CLIP_L, COMFY_PREFIX, T5XXL, VAE_PREFIXES  # the text encoders' and the VAE's prefixes: detection reads them too

#: Where the transformer's tensors are in ComfyUI's all-in-one files; BFL's own files have no prefix.
TRANSFORMER = COMFY_PREFIX

#: diffusers' names -> BFL's, in the order tried (the first match wins).
_RENAMES = (
    Rename(r"norm_out\.linear\.", "final_layer.adaLN_modulation.1.", swap_halves),  # BFL keeps shift then scale
    Rename(r"x_embedder\.", "img_in."),
    Rename(r"context_embedder\.", "txt_in."),
    Rename(r"time_text_embed\.timestep_embedder\.linear_1\.", "time_in.in_layer."),
    Rename(r"time_text_embed\.timestep_embedder\.linear_2\.", "time_in.out_layer."),
    Rename(r"time_text_embed\.text_embedder\.linear_1\.", "vector_in.in_layer."),
    Rename(r"time_text_embed\.text_embedder\.linear_2\.", "vector_in.out_layer."),
    Rename(r"time_text_embed\.guidance_embedder\.linear_1\.", "guidance_in.in_layer."),
    Rename(r"time_text_embed\.guidance_embedder\.linear_2\.", "guidance_in.out_layer."),
    Rename(r"distilled_guidance_layer\.layers\.(\d+)\.linear_1\.", r"distilled_guidance_layer.layers.\1.in_layer."),
    Rename(r"distilled_guidance_layer\.layers\.(\d+)\.linear_2\.", r"distilled_guidance_layer.layers.\1.out_layer."),
    Rename(r"distilled_guidance_layer\.norms\.(\d+)\.weight", r"distilled_guidance_layer.norms.\1.scale"),
    Rename(r"distilled_guidance_layer\.(in_proj|out_proj)\.", r"distilled_guidance_layer.\1."),
    Rename(r"transformer_blocks\.(\d+)\.norm1\.linear\.", r"double_blocks.\1.img_mod.lin."),
    Rename(r"transformer_blocks\.(\d+)\.norm1_context\.linear\.", r"double_blocks.\1.txt_mod.lin."),
    Rename(r"transformer_blocks\.(\d+)\.attn\.norm_q\.weight", r"double_blocks.\1.img_attn.norm.query_norm.scale"),
    Rename(r"transformer_blocks\.(\d+)\.attn\.norm_k\.weight", r"double_blocks.\1.img_attn.norm.key_norm.scale"),
    Rename(r"transformer_blocks\.(\d+)\.attn\.norm_added_q\.weight", r"double_blocks.\1.txt_attn.norm.query_norm.scale"),
    Rename(r"transformer_blocks\.(\d+)\.attn\.norm_added_k\.weight", r"double_blocks.\1.txt_attn.norm.key_norm.scale"),
    Rename(r"transformer_blocks\.(\d+)\.ff\.net\.0\.proj\.", r"double_blocks.\1.img_mlp.0."),
    Rename(r"transformer_blocks\.(\d+)\.ff\.net\.2\.", r"double_blocks.\1.img_mlp.2."),
    Rename(r"transformer_blocks\.(\d+)\.ff_context\.net\.0\.proj\.", r"double_blocks.\1.txt_mlp.0."),
    Rename(r"transformer_blocks\.(\d+)\.ff_context\.net\.2\.", r"double_blocks.\1.txt_mlp.2."),
    Rename(r"transformer_blocks\.(\d+)\.attn\.to_out\.0\.", r"double_blocks.\1.img_attn.proj."),
    Rename(r"transformer_blocks\.(\d+)\.attn\.to_add_out\.", r"double_blocks.\1.txt_attn.proj."),
    Rename(r"single_transformer_blocks\.(\d+)\.norm\.linear\.", r"single_blocks.\1.modulation.lin."),
    Rename(r"single_transformer_blocks\.(\d+)\.attn\.norm_q\.weight", r"single_blocks.\1.norm.query_norm.scale"),
    Rename(r"single_transformer_blocks\.(\d+)\.attn\.norm_k\.weight", r"single_blocks.\1.norm.key_norm.scale"),
    Rename(r"single_transformer_blocks\.(\d+)\.proj_out\.", r"single_blocks.\1.linear2."),
    Rename(r"proj_out\.", "final_layer.linear."),
)
#: Tensors joined into one: (pattern, BFL name, the diffusers parts in BFL's order).
_JOINS = (
    Join(r"transformer_blocks\.(\d+)\.attn\.to_(?P<part>[qkv])\.(weight|bias)", r"double_blocks.\1.img_attn.qkv.\3", "qkv"),
    Join(r"transformer_blocks\.(\d+)\.attn\.add_(?P<part>[qkv])_proj\.(weight|bias)", r"double_blocks.\1.txt_attn.qkv.\3", "qkv"),
    Join(r"single_transformer_blocks\.(\d+)\.attn\.to_(?P<part>[qkv])\.(weight|bias)", r"single_blocks.\1.linear1.\3", ("q", "k", "v", "proj_mlp")),
    Join(r"single_transformer_blocks\.(\d+)\.(?P<part>proj_mlp)\.(weight|bias)", r"single_blocks.\1.linear1.\3", ("q", "k", "v", "proj_mlp")),
)


def bfl_names(state: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A diffusers FluxTransformer2DModel or ChromaTransformer2DModel state dict under BFL's names, each behind `prefix`.

    Works on real tensors and on meta tensors alike (it only concatenates and
    swaps halves). Raises KeyError naming a tensor it has no BFL name for.
    """
    return renamed(state, _RENAMES, _JOINS, prefix=prefix, what="FLUX.1 transformer tensor")


def transformers_names(state: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """A transformers text encoder's state dict behind `prefix`, as all-in-one files store it.

    CLIP with its ``text_model.`` (which transformers 5 leaves out); T5 with
    its embedding under both names, ``shared.weight`` and
    ``encoder.embed_tokens.weight``, as those files carry it (stable-diffusion.cpp
    lists the second as a tensor such files have and inference does not use),
    and as diffusers needs it: its T5 loader leaves ``encoder.embed_tokens``
    on the meta device when a file has only ``shared.weight``.
    """
    out = {}
    for key, value in state.items():
        if key.endswith("position_ids"):
            continue
        if prefix == CLIP_L and not key.startswith("text_model."):
            key = "text_model." + key
        out[prefix + key] = value
    if prefix == T5XXL and "shared.weight" in state:
        out.setdefault(prefix + "encoder.embed_tokens.weight", state["shared.weight"])
    return out


#: How the hub repositories shard each component's weights (FLUX.1-dev: the transformer in 3 files, T5 in 2), with the file
#: stem of its library; diffusers and transformers name the shards ``<stem>-0000i-of-0000n.safetensors`` beside an index.
SHARDS = MappingProxyType({"transformer": ("diffusion_pytorch_model", 3), "text_encoder_2": ("model", 2), "text_encoder": ("model", 1), "vae": ("diffusion_pytorch_model", 1)})
CHROMA_SHARDS = MappingProxyType({"transformer": ("diffusion_pytorch_model", 2), "text_encoder": ("model", 2), "vae": ("diffusion_pytorch_model", 1)})


def meta_shapes(config_folder: str | Path, component: str) -> dict[str, tuple[int, ...]]:
    """The tensor names (diffusers' or transformers' own) and shapes of one component a config folder describes.

    Built on the meta device from its config.json: no memory, no weights. A
    tied tensor is listed once (T5's ``encoder.embed_tokens.weight`` is
    ``shared.weight``), as ``save_pretrained`` writes it.
    """
    return fullsize.state_shapes(fullsize.meta_model_from_config(config_folder, component), skip=lambda name: name.endswith("position_ids"))


def write_header_only(config_folder: str | Path, folder: str | Path, dtype: str = "BF16", shards: Mapping[str, tuple[str, int]] = SHARDS) -> Path:
    """A diffusers folder of the checkpoint `config_folder` describes, whose weight files hold a true header and no data.

    Each file is sparse (``autopipe_core.headers.write_header``): the planner,
    which reads headers only, sees it as it would see the real checkpoint.
    The files are the plain ones (the official FLUX.1 and Chroma repositories
    store bfloat16 there and ship no variant), sharded as `shards` says, with
    the index diffusers and transformers write. Returns the folder.
    """
    import shutil

    source, folder = Path(config_folder), Path(folder)
    shutil.copytree(source, folder, dirs_exist_ok=True)
    for component, (stem, count) in shards.items():
        fullsize.write_weights(folder / component, stem, meta_shapes(source, component), dtype, count)
    return folder


def single_file_layout(config_folder: str | Path, all_in_one: bool = False, vae_key: Any = None) -> dict[str, tuple[int, ...]]:
    """The tensor names and shapes of a single file of the checkpoint `config_folder` describes: BFL's transformer file, or
    (`all_in_one`) ComfyUI's, with the transformer behind ``model.diffusion_model.`` and the text encoders and the VAE beside it.

    `vae_key(name, levels)` gives the VAE's original (LDM) name of a diffusers
    VAE tensor (``autopipe_sd.ldm.vae_key`` is one); without it the VAE's
    tensors keep diffusers' names under ``vae.`` (the same counts and
    prefixes, which is all detection and planning read). Built on the meta
    device: no memory, no weights.
    """
    import torch

    folder = Path(config_folder)
    shapes = meta_shapes(folder, "transformer")
    state = {name: torch.empty(shape, device="meta") for name, shape in shapes.items()}
    out = {name: tuple(t.shape) for name, t in bfl_names(state, TRANSFORMER if all_in_one else "").items()}
    if not all_in_one:
        return out
    index = json.loads((folder / "model_index.json").read_text())
    encoders = {"text_encoder": CLIP_L, "text_encoder_2": T5XXL} if "text_encoder_2" in index else {"text_encoder": T5XXL}
    for component, prefix in encoders.items():
        out.update(transformers_names(meta_shapes(folder, component), prefix))
    levels = len(json.loads((folder / "vae" / "config.json").read_text())["block_out_channels"])
    for name, shape in meta_shapes(folder, "vae").items():
        if vae_key is None:
            out[VAE_PREFIXES[0] + name] = shape
            continue
        ldm = VAE_PREFIXES[0] + vae_key(name, levels).split(".", 1)[1]  # the LDM name behind FLUX's "vae." prefix
        out[ldm] = (*shape, 1, 1) if ".mid.attn_1." in ldm and ldm.endswith(".weight") and len(shape) == 2 else shape
    return out
