"""diffusers' Flux2Transformer2DModel state dict -> Black Forest Labs' original single-file names: the inverse of diffusers' conversion.

For tests and benchmarks: the true tensor names and shapes of full-size
FLUX.2 single files and diffusers folders, computed from the configs this
plugin ships on the meta device, with no weights (:func:`write_header_only`
writes a header-only copy of FLUX.2 [dev] or [klein] for planning), and the
tiny test file (:func:`transformer_file`). Never used to load anything:
diffusers' own converter (``convert_flux2_transformer_checkpoint_to_diffusers``
in ``diffusers.loaders.single_file_utils``) does that, and
tests/test_flux2_single_file.py checks that it gives back every tensor of the
model from these names.

The mapping (BFL's ``flux2`` reference code as diffusers 0.42.1 reads it), ``i`` a block; FLUX.2 has no biases:

- ``x_embedder`` / ``context_embedder`` -> ``img_in`` / ``txt_in``;
  ``time_guidance_embed.{timestep,guidance}_embedder.linear_1/2`` -> ``{time,guidance}_in.in_layer/out_layer``;
  the shared modulations ``double_stream_modulation_img/txt.linear`` and ``single_stream_modulation.linear`` -> ``.lin``
- ``transformer_blocks.i`` -> ``double_blocks.i``: ``attn.to_q/k/v`` and ``attn.add_q/k/v_proj`` joined into
  ``img_attn.qkv`` and ``txt_attn.qkv``; ``attn.norm_q/k`` and ``norm_added_q/k`` ->
  ``img_attn/txt_attn.norm.query_norm/key_norm.scale``; ``attn.to_out.0`` / ``to_add_out`` -> ``img_attn/txt_attn.proj``;
  ``ff(_context).linear_in`` / ``linear_out`` -> ``img_mlp/txt_mlp.0`` / ``.2``
- ``single_transformer_blocks.i`` -> ``single_blocks.i``: ``attn.to_qkv_mlp_proj`` -> ``linear1`` (fused in both),
  ``attn.to_out`` -> ``linear2``, ``attn.norm_q/k`` -> ``norm.query_norm/key_norm.scale``
- ``proj_out`` -> ``final_layer.linear``; ``norm_out.linear`` -> ``final_layer.adaLN_modulation.1``, its two halves
  swapped (BFL keeps shift then scale, diffusers scale then shift)

ComfyUI's diffusion-model files put the same names behind ``model.diffusion_model.``
(:data:`COMFY_PREFIX`); BFL's own (``flux2-dev.safetensors``, ``flux-2-klein-4b.safetensors``) have none.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Mapping

from autopipe_core.toolkit import fullsize
from autopipe_core.toolkit.renames import Join, Rename, renamed, swap_halves
from autopipe_core.toolkit.transformer_file import component_tensors, save_tensors

from . import COMFY_PREFIX  # ComfyUI's prefix of the diffusion model in a file it saves; BFL's files have none

#: diffusers' names -> BFL's, in the order tried (the first match wins).
_RENAMES = (
    Rename(r"norm_out\.linear\.weight", "final_layer.adaLN_modulation.1.weight", swap_halves),  # BFL keeps shift then scale
    Rename(r"x_embedder\.", "img_in."),
    Rename(r"context_embedder\.", "txt_in."),
    Rename(r"time_guidance_embed\.timestep_embedder\.linear_1\.", "time_in.in_layer."),
    Rename(r"time_guidance_embed\.timestep_embedder\.linear_2\.", "time_in.out_layer."),
    Rename(r"time_guidance_embed\.guidance_embedder\.linear_1\.", "guidance_in.in_layer."),
    Rename(r"time_guidance_embed\.guidance_embedder\.linear_2\.", "guidance_in.out_layer."),
    Rename(r"(double_stream_modulation_img|double_stream_modulation_txt|single_stream_modulation)\.linear\.", r"\1.lin."),
    Rename(r"transformer_blocks\.(\d+)\.attn\.norm_q\.weight", r"double_blocks.\1.img_attn.norm.query_norm.scale"),
    Rename(r"transformer_blocks\.(\d+)\.attn\.norm_k\.weight", r"double_blocks.\1.img_attn.norm.key_norm.scale"),
    Rename(r"transformer_blocks\.(\d+)\.attn\.norm_added_q\.weight", r"double_blocks.\1.txt_attn.norm.query_norm.scale"),
    Rename(r"transformer_blocks\.(\d+)\.attn\.norm_added_k\.weight", r"double_blocks.\1.txt_attn.norm.key_norm.scale"),
    Rename(r"transformer_blocks\.(\d+)\.attn\.to_out\.0\.", r"double_blocks.\1.img_attn.proj."),
    Rename(r"transformer_blocks\.(\d+)\.attn\.to_add_out\.", r"double_blocks.\1.txt_attn.proj."),
    Rename(r"transformer_blocks\.(\d+)\.ff\.linear_in\.", r"double_blocks.\1.img_mlp.0."),
    Rename(r"transformer_blocks\.(\d+)\.ff\.linear_out\.", r"double_blocks.\1.img_mlp.2."),
    Rename(r"transformer_blocks\.(\d+)\.ff_context\.linear_in\.", r"double_blocks.\1.txt_mlp.0."),
    Rename(r"transformer_blocks\.(\d+)\.ff_context\.linear_out\.", r"double_blocks.\1.txt_mlp.2."),
    Rename(r"single_transformer_blocks\.(\d+)\.attn\.to_qkv_mlp_proj\.", r"single_blocks.\1.linear1."),
    Rename(r"single_transformer_blocks\.(\d+)\.attn\.to_out\.", r"single_blocks.\1.linear2."),
    Rename(r"single_transformer_blocks\.(\d+)\.attn\.norm_q\.weight", r"single_blocks.\1.norm.query_norm.scale"),
    Rename(r"single_transformer_blocks\.(\d+)\.attn\.norm_k\.weight", r"single_blocks.\1.norm.key_norm.scale"),
    Rename(r"proj_out\.", "final_layer.linear."),
)
#: The double blocks' q, k and v, joined into one tensor in BFL's order.
_JOINS = (
    Join(r"transformer_blocks\.(\d+)\.attn\.to_(?P<part>[qkv])\.weight", r"double_blocks.\1.img_attn.qkv.weight", "qkv"),
    Join(r"transformer_blocks\.(\d+)\.attn\.add_(?P<part>[qkv])_proj\.weight", r"double_blocks.\1.txt_attn.qkv.weight", "qkv"),
)


def bfl_names(state: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A diffusers Flux2Transformer2DModel state dict under BFL's names, each behind `prefix`.

    Works on real tensors and on meta tensors alike (it only concatenates and
    swaps halves). Raises KeyError naming a tensor it has no BFL name for.
    """
    return renamed(state, _RENAMES, _JOINS, prefix=prefix, what="FLUX.2 transformer tensor")


#: One component a config folder describes, built on the meta device from its config.json (no memory, no weights).
_model = fullsize.meta_model_from_config


def meta_shapes(config_folder: str | Path, component: str) -> dict[str, tuple[int, ...]]:
    """The tensor names (diffusers' or transformers' own) and shapes of one component a config folder describes.

    Parameters and persistent buffers (the VAE's batch-norm statistics), as
    ``save_pretrained`` writes them: a tied tensor once.
    """
    return fullsize.state_shapes(fullsize.meta_model_from_config(config_folder, component))


#: safetensors' dtype names of the state dicts' tensors: bfloat16 weights, the batch norm's step counter an int64.
def _dtype(name: str, dtype: str) -> str:
    return "I64" if name.endswith("num_batches_tracked") else dtype


def write_header_only(config_folder: str | Path, folder: str | Path, dtype: str = "BF16") -> Path:
    """A diffusers folder of the checkpoint `config_folder` describes, whose weight files hold a true header and no data.

    Each weighted component (those whose config.json is in the folder) gets one
    sparse ``.safetensors`` file (``autopipe_core.headers.write_header``): the
    planner, which reads headers only, sees it as it would see the real
    checkpoint (the official repositories store bfloat16 as their plain
    files, sharded; the planner sums shards the same way). Returns the folder.
    """
    source, folder = Path(config_folder), Path(folder)
    shutil.copytree(source, folder, dirs_exist_ok=True)
    index = json.loads((source / "model_index.json").read_text())
    for component, spec in index.items():
        if not isinstance(spec, list) or not (source / component / "config.json").is_file():
            continue
        fullsize.write_weights(folder / component, fullsize.STEMS[spec[0]], meta_shapes(source, component), lambda name: _dtype(name, dtype))
    return folder


def single_file_layout(config_folder: str | Path, prefix: str = "") -> dict[str, tuple[int, ...]]:
    """The tensor names and shapes of a FLUX.2 transformer file of the checkpoint `config_folder` describes, each behind `prefix`."""
    import torch

    state = {name: torch.empty(shape, device="meta") for name, shape in meta_shapes(config_folder, "transformer").items()}
    return {name: tuple(t.shape) for name, t in bfl_names(state, prefix).items()}


def transformer_file(folder: str | Path, path: str | Path, prefix: str = "") -> Path:
    """Write the transformer of the diffusers folder `folder` as one file in BFL's layout at `path`, each tensor behind `prefix`.

    With no prefix the layout of BFL's own files; with :data:`COMFY_PREFIX`
    that of ComfyUI's. Used to write the tiny test file; reads the folder's
    weights with safetensors, never a pickle.
    """
    return save_tensors(bfl_names(component_tensors(folder, "transformer"), prefix), path)
