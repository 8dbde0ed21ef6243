"""FLUX.2 single files: recognised from their header alone, loaded offline with diffusers' own transformer loader.

What diffusers 0.42.1's ``from_single_file`` knows of FLUX.2 is the
transformer, never a whole pipeline: ``Flux2Transformer2DModel`` is
single-file loadable (``convert_flux2_transformer_checkpoint_to_diffusers``),
no Flux2 pipeline class has ``FromSingleFileMixin``, and neither the VAE nor
the text encoders load from one file. ``infer_diffusers_model_type`` calls
every FLUX.2 file "flux-2-dev" (``CHECKPOINT_KEY_NAMES["flux2"]``:
``single_stream_modulation.lin.weight``, with or without ComfyUI's
``model.diffusion_model.`` prefix), and would fetch FLUX.2-dev's config for a
[klein] file too. This plugin tells them apart from the header's shapes and
ships each one's config (configs/, written from published numbers:
tests/test_flux2_configs.py):

- the FLUX.2 key, ``single_stream_modulation.lin.weight``: FLUX.1 has none (it
  modulates each block), although its files share ``double_blocks`` and
  ``img_attn.norm.key_norm.scale`` with FLUX.2's;
- ``guidance_in`` present: FLUX.2 [dev] (guidance-distilled), absent: [klein];
- ``img_in.weight`` and ``txt_in.weight`` ([width, 128] and [width, 3 x the
  text encoder's width]) and the block counts: [dev] 6144 over 15360 (8
  double and 48 single blocks), [klein] 4B 3072 over 7680 (5 and 20), 9B
  4096 over 12288 (8 and 24). A file of another geometry is claimed with a
  low confidence and told to pass ``config=``.

What a header cannot tell: [klein]'s base and step-distilled checkpoints, and
the 9B KV one, have the same tensors (the difference is in the weights, and
in model_index.json's ``is_distilled`` and class). A file is taken as the
distilled model (FLUX.2-klein-4B or -9B), and the reason says so.

Such a file holds the transformer alone: the text encoder (Mistral Small,
24 B, or Qwen3), tokenizer and VAE come from a diffusers checkpoint of the
model, the *base*: the caller's ``config=`` (a folder or hub repo with
weights), else the variant's repository (``black-forest-labs/FLUX.2-dev``,
``-klein-4B``, ``-klein-9B``) from the local Hugging Face cache only, else the
components the caller passes (``text_encoder=``, ``tokenizer=``, ``vae=``;
the scheduler then comes from the shipped config). The transformer's config
comes from the folder shipped for its variant, so nothing is fetched. The
tiny test layout's base is the family's tiny checkpoint (built offline).
Nothing here imports torch until a file is loaded.
"""

from __future__ import annotations

import functools
import os
from types import MappingProxyType

from autopipe_core import Detection, serialized
from autopipe_core.headers import SafetensorsHeader
from autopipe_core.toolkit.single_file import ConfigFolders, block_count, shape
from autopipe_core.toolkit.transformer_file import BaseCheckpoint, load_from_base, prefixed_tensors

from . import COMFY_PREFIX, FLUX2, FLUX2_KEY, KLEIN

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: a cold `autopipe resolve FILE` imports this module
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any, Mapping

CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs")
FOLDERS = ConfigFolders(CONFIGS, "autopipe-flux2")

PREFIXES = ("", COMFY_PREFIX)
GUIDANCE = "guidance_in.in_layer.weight"
IMG_IN = "img_in.weight"
TXT_IN = "txt_in.weight"

#: variant -> (family, pipeline class, the repository whose other components a transformer-only file loads with, what it is).
VARIANTS: Mapping[str, tuple[str, str, str | None, str]] = MappingProxyType({
    "flux2-dev": (FLUX2, "Flux2Pipeline", "black-forest-labs/FLUX.2-dev", "FLUX.2 [dev]"),
    "flux2-klein-4b": (KLEIN, "Flux2KleinPipeline", "black-forest-labs/FLUX.2-klein-4B", "FLUX.2 [klein] 4B"),
    "flux2-klein-9b": (KLEIN, "Flux2KleinPipeline", "black-forest-labs/FLUX.2-klein-9B", "FLUX.2 [klein] 9B"),
    # autopipe-flux2's tiny test layouts: their base is the family's tiny checkpoint.
    "flux2-tiny": (FLUX2, "Flux2Pipeline", None, "autopipe-flux2's tiny FLUX.2 [dev] test layout"),
    "flux2-klein-tiny": (KLEIN, "Flux2KleinPipeline", None, "autopipe-flux2's tiny FLUX.2 [klein] test layout"),
})
#: The components a transformer-only file lacks (the scheduler comes from the shipped config).
OTHERS = ("text_encoder", "tokenizer", "vae")
#: What the caller passes for each, by family, for the refusal's words.
WHAT = MappingProxyType({
    FLUX2: {"text_encoder": "Mistral3ForConditionalGeneration, Mistral Small 3.x", "tokenizer": "PixtralProcessor", "vae": "AutoencoderKLFlux2"},
    KLEIN: {"text_encoder": "Qwen3ForCausalLM, Qwen3-4B or -8B", "tokenizer": "Qwen2TokenizerFast", "vae": "AutoencoderKLFlux2"},
})
_NO_TELLING = (
    "; [klein]'s base and step-distilled checkpoints (and 9B KV) have the same tensors: taken as the distilled model, "
    "pass config= black-forest-labs/FLUX.2-klein-base-4B (or -9B) for a base one"
)


def config_folder(variant: str) -> Path:
    """The folder shipped for a variant: model_index.json and the component configs (no weights, no vocabulary)."""
    return FOLDERS.folder(variant)


def _prefix(header: SafetensorsHeader) -> str | None:
    """The prefix under which the file has the FLUX.2 key ("" or ComfyUI's), or None: not a FLUX.2 file."""
    return next((p for p in PREFIXES if p + FLUX2_KEY in header.tensors), None)


def geometry(config: Mapping[str, Any]) -> tuple[tuple[int, int], tuple[int, int], int, int]:
    """What a transformer config makes a file's header show: img_in's and txt_in's shapes, double and single blocks."""
    width = config["num_attention_heads"] * config["attention_head_dim"]
    return (width, config["in_channels"]), (width, config["joint_attention_dim"]), config["num_layers"], config["num_single_layers"]


@functools.lru_cache(maxsize=None)
def _shipped(guided: bool) -> Mapping[str, tuple]:
    """variant -> its geometry, for the shipped variants of the family the guidance embedding says (this plugin's own
    files, read once a process: a scan asks for every FLUX.2 file), read-only."""
    family = FLUX2 if guided else KLEIN
    return MappingProxyType({v: geometry(FOLDERS.config(v, "transformer")) for v, (f, *_) in VARIANTS.items() if f == family})


def _detection(variant: str, confidence: float, reason: str, prefix: str) -> Detection:
    family, cls, base, _ = VARIANTS[variant]
    where = f"the base checkpoint ({base}, from the local cache) or config=" if base else "the family's tiny checkpoint"
    reason += f"; the file holds the transformer only: {', '.join(OTHERS)} come from {where}, or pass them"
    # The components the file lacks are named too, under diffusers' own folder names (no FLUX.2 file holds them), so the
    # planner says they are unknown instead of planning the transformer as if it were the whole pipeline.
    prefixes = {"transformer": prefix, **{name: f"{name}." for name in ("text_encoder", "vae")}}
    return Detection(family, variant, confidence, reason, pipeline_class=f"diffusers:{cls}", config=FOLDERS.folder_path(variant), prefixes=prefixes)


def detect(header: SafetensorsHeader) -> list[Detection]:
    """FLUX.2 [dev] and [klein] 4B/9B transformer files (and the tiny test layouts), with or without ComfyUI's prefix; nothing else."""
    prefix = _prefix(header)
    if prefix is None:
        return []
    img_in, txt_in = shape(header, prefix + IMG_IN, rank=2), shape(header, prefix + TXT_IN, rank=2)
    if img_in is None or txt_in is None:
        return []
    guided = prefix + GUIDANCE in header.tensors
    found = (img_in, txt_in, block_count(header, f"{prefix}double_blocks."), block_count(header, f"{prefix}single_blocks."))
    said = (
        f"{prefix}{FLUX2_KEY} (diffusers' flux2 key), {GUIDANCE} {'present' if guided else 'absent'}, img_in {list(img_in)}, "
        f"txt_in {list(txt_in)}, {found[2]} double and {found[3]} single blocks"
    )
    shipped = _shipped(guided)
    variant = next((v for v, g in shipped.items() if g == found), None)
    if variant is not None:
        confidence = 0.9 if VARIANTS[variant][2] is None else 0.95
        tail = "" if guided or VARIANTS[variant][2] is None else _NO_TELLING
        return [_detection(variant, confidence, f"{VARIANTS[variant][3]}: {said}{tail}", prefix)]
    variant = "flux2-dev" if guided else "flux2-klein-4b"
    family = VARIANTS[variant][0]
    kinds = ", ".join(f"{VARIANTS[v][3]} {list(g[0])} over {list(g[1])}, {g[2]} and {g[3]} blocks" for v, g in shipped.items() if VARIANTS[v][2])
    reason = (
        f"FLUX.2 ({family}, by the guidance embedding): {said}; but no shipped config has this geometry ({kinds}): "
        "pass config= a diffusers folder or repo of its own architecture"
    )
    return [_detection(variant, 0.5, reason, prefix)]


def _transformer(path: str, detection: Detection, config: Any, local: bool, dtype: Any) -> Any:
    """The transformer from the file, with the caller's config (a diffusers folder or repo) or the shipped one, offline.

    A ComfyUI prefix is taken off first: diffusers' converter expects BFL's bare names.
    """
    from diffusers import Flux2Transformer2DModel

    prefix = detection.prefixes.get("transformer", "")
    source: Any = prefixed_tensors(path, prefix) if prefix else path
    return Flux2Transformer2DModel.from_single_file(
        source, config=str(config or detection.config), subfolder="transformer", local_files_only=local, torch_dtype=dtype,
    )


#: Where the rest of the pipeline comes from (the caller, config=, the variant's repository from the local cache) and what
#: to say when it cannot be had: the toolkit's base-checkpoint loader.
BASE_CHECKPOINT = BaseCheckpoint(
    holds="{family}'s transformer", others=lambda family: OTHERS, repo=lambda variant: VARIANTS[variant][2],
    load_transformer=_transformer, passing=lambda family: ", ".join(f"{name}= ({WHAT[family][name]})" for name in OTHERS),
)


@serialized
def load(family: str, pipeline_class: type, path: str, detection: Detection, kwargs: Mapping[str, Any]) -> Any:
    """``autopipe_from_single_file``: the transformer from `path`, the rest from the base (see the module's docstring).

    The caller's own ``transformer=`` wins (the file is then not read). A base
    that is neither passed nor in the local cache is an UnsupportedModelError
    that says what to pass, raised before the file is read (``toolkit.transformer_file.load_from_base``).
    """
    return load_from_base(BASE_CHECKPOINT, family, pipeline_class, path, detection, kwargs)
