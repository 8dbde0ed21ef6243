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
import re
import shutil
from pathlib import Path
from typing import Any, Mapping

#: ComfyUI's prefix of the diffusion model in a file it saves; BFL's files have none.
COMFY_PREFIX = "model.diffusion_model."

_ONE_TO_ONE = (
    (r"x_embedder\.", "img_in."),
    (r"context_embedder\.", "txt_in."),
    (r"time_guidance_embed\.timestep_embedder\.linear_1\.", "time_in.in_layer."),
    (r"time_guidance_embed\.timestep_embedder\.linear_2\.", "time_in.out_layer."),
    (r"time_guidance_embed\.guidance_embedder\.linear_1\.", "guidance_in.in_layer."),
    (r"time_guidance_embed\.guidance_embedder\.linear_2\.", "guidance_in.out_layer."),
    (r"(double_stream_modulation_img|double_stream_modulation_txt|single_stream_modulation)\.linear\.", r"\1.lin."),
    (r"transformer_blocks\.(\d+)\.attn\.norm_q\.weight", r"double_blocks.\1.img_attn.norm.query_norm.scale"),
    (r"transformer_blocks\.(\d+)\.attn\.norm_k\.weight", r"double_blocks.\1.img_attn.norm.key_norm.scale"),
    (r"transformer_blocks\.(\d+)\.attn\.norm_added_q\.weight", r"double_blocks.\1.txt_attn.norm.query_norm.scale"),
    (r"transformer_blocks\.(\d+)\.attn\.norm_added_k\.weight", r"double_blocks.\1.txt_attn.norm.key_norm.scale"),
    (r"transformer_blocks\.(\d+)\.attn\.to_out\.0\.", r"double_blocks.\1.img_attn.proj."),
    (r"transformer_blocks\.(\d+)\.attn\.to_add_out\.", r"double_blocks.\1.txt_attn.proj."),
    (r"transformer_blocks\.(\d+)\.ff\.linear_in\.", r"double_blocks.\1.img_mlp.0."),
    (r"transformer_blocks\.(\d+)\.ff\.linear_out\.", r"double_blocks.\1.img_mlp.2."),
    (r"transformer_blocks\.(\d+)\.ff_context\.linear_in\.", r"double_blocks.\1.txt_mlp.0."),
    (r"transformer_blocks\.(\d+)\.ff_context\.linear_out\.", r"double_blocks.\1.txt_mlp.2."),
    (r"single_transformer_blocks\.(\d+)\.attn\.to_qkv_mlp_proj\.", r"single_blocks.\1.linear1."),
    (r"single_transformer_blocks\.(\d+)\.attn\.to_out\.", r"single_blocks.\1.linear2."),
    (r"single_transformer_blocks\.(\d+)\.attn\.norm_q\.weight", r"single_blocks.\1.norm.query_norm.scale"),
    (r"single_transformer_blocks\.(\d+)\.attn\.norm_k\.weight", r"single_blocks.\1.norm.key_norm.scale"),
    (r"proj_out\.", "final_layer.linear."),
)
#: The double blocks' q, k and v, joined into one tensor in BFL's order: (pattern, BFL name).
_JOINED = (
    (r"transformer_blocks\.(\d+)\.attn\.to_([qkv])\.weight", "double_blocks.{0}.img_attn.qkv.weight"),
    (r"transformer_blocks\.(\d+)\.attn\.add_([qkv])_proj\.weight", "double_blocks.{0}.txt_attn.qkv.weight"),
)


def _swap_halves(value: Any) -> Any:
    import torch

    first, second = value.chunk(2, dim=0)
    return torch.cat([second, first], dim=0)


def bfl_names(state: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A diffusers Flux2Transformer2DModel state dict under BFL's names, each behind `prefix`.

    Works on real tensors and on meta tensors alike (it only concatenates and
    swaps halves). Raises KeyError naming a tensor it has no BFL name for.
    """
    import torch

    out: dict[str, Any] = {}
    joined: dict[str, dict[str, Any]] = {}
    for key, value in state.items():
        if key == "norm_out.linear.weight":
            out[prefix + "final_layer.adaLN_modulation.1.weight"] = _swap_halves(value)
            continue
        for pattern, name in _JOINED:
            m = re.fullmatch(pattern, key)
            if m:
                joined.setdefault(prefix + name.format(m[1]), {})[m[2]] = value
                break
        else:
            for pattern, name in _ONE_TO_ONE:
                m = re.match(pattern, key)
                if m:
                    out[prefix + m.expand(name) + key[m.end():]] = value
                    break
            else:
                raise KeyError(f"no BFL name for FLUX.2 transformer tensor {key}")
    for target, parts in joined.items():
        out[target] = torch.cat([parts[p] for p in "qkv"], dim=0)
    return out


def _model(config_folder: str | Path, component: str) -> Any:
    """One component a config folder describes, built on the meta device from its config.json (no memory, no weights)."""
    import diffusers
    import torch
    import transformers

    config = json.loads((Path(config_folder) / component / "config.json").read_text())
    with torch.device("meta"):  # tied weights (Qwen3-4B's LM head) stay tied
        if "_class_name" in config:
            return getattr(diffusers, config["_class_name"]).from_config(config)
        return getattr(transformers, config["architectures"][0])(transformers.AutoConfig.for_model(**config))


def meta_shapes(config_folder: str | Path, component: str) -> dict[str, tuple[int, ...]]:
    """The tensor names (diffusers' or transformers' own) and shapes of one component a config folder describes.

    Parameters and persistent buffers (the VAE's batch-norm statistics), as
    ``save_pretrained`` writes them: a tied tensor once.
    """
    seen: set[int] = set()
    out = {}
    for name, tensor in _model(config_folder, component).state_dict(keep_vars=True).items():
        if id(tensor) in seen:
            continue
        seen.add(id(tensor))
        out[name] = tuple(tensor.shape)
    return out


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
    from autopipe_core.headers import write_header

    source, folder = Path(config_folder), Path(folder)
    shutil.copytree(source, folder, dirs_exist_ok=True)
    index = json.loads((source / "model_index.json").read_text())
    for component, spec in index.items():
        if not isinstance(spec, list) or not (source / component / "config.json").is_file():
            continue
        stem = "diffusion_pytorch_model" if spec[0] == "diffusers" else "model"
        shapes = meta_shapes(source, component)
        write_header(folder / component / f"{stem}.safetensors", {n: (_dtype(n, dtype), s) for n, s in shapes.items()})
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
    from safetensors.torch import load_file, save_file

    source = Path(folder) / "transformer"
    tensors: dict[str, Any] = {}
    for shard in sorted(source.glob("*.safetensors")):
        tensors.update(load_file(shard))
    if not tensors:
        raise FileNotFoundError(f"{source} holds no .safetensors weights")
    save_file({k: v.contiguous() for k, v in bfl_names(tensors, prefix).items()}, str(path))
    return Path(path)
