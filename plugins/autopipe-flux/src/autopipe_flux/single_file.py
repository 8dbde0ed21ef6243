"""Recognising FLUX.1 and Chroma single files from their header, and loading them offline with the configs shipped here.

What the files are. Black Forest Labs ship the transformer alone, in their own
(BFL) names with no prefix (``flux1-dev.safetensors``: ``double_blocks.*``,
``single_blocks.*``, ``img_in``, ``txt_in``, ...); so do Chroma's
(``chroma1-hd.safetensors``) and most fine-tunes. ComfyUI's all-in-one files
put the same names behind ``model.diffusion_model.`` and carry CLIP ViT-L
(``text_encoders.clip_l.transformer.``), T5-XXL (``text_encoders.t5xxl.transformer.``)
and the VAE (``vae.``) beside it. What tells them apart, as diffusers'
``infer_diffusers_model_type`` reads them (diffusers 0.42.1,
``CHECKPOINT_KEY_NAMES["flux"]`` and ``["chroma"]``):

- Chroma: ``distilled_guidance_layer.in_proj.bias`` (its modulation network);
- FLUX.1: ``double_blocks.0.img_attn.norm.key_norm.scale``; then
  ``img_in.weight``'s input width: 384 Fill, 128 Canny/Depth Control (the
  two have the same tensors: the file does not say which it is), 64 the
  others; and ``guidance_in`` present (dev, Fill, Control: the guidance scale
  is an input) or absent (schnell).

The rest of the geometry must be FLUX.1's for the shipped configs to load
it: 3072 wide (``img_in.weight`` rows; diffusers' converter assumes 3072,
``inner_dim = 3072``), a 4096-wide context (``txt_in``), 19 double and 38
single blocks. A file of another geometry (a pruned "lite" FLUX) is still
claimed, with a lower confidence and a reason that says to pass ``config=``
a diffusers folder of its own architecture.

Nothing here imports torch; :func:`detect` reads nothing but the header.
Loading is the core's default (``toolkit.single_file.default_load``: the
CLIP tokenizer built from the shipped tokenizer_config.json over the merges
the core ships) once :func:`load` has checked that the caller passes what the
file lacks: no file carries T5's tokenizer (32,000 SentencePiece pieces,
which this plugin does not ship), and BFL's files carry no text encoder and
no VAE. It also loads ``FluxInpaintPipeline``, which diffusers 0.42.1 gives no
``from_single_file`` (every other FLUX pipeline has one): through
``FluxPipeline.from_single_file`` and ``from_pipe``, on the same components.
"""

from __future__ import annotations

import functools
import os
from types import MappingProxyType

from autopipe_core import Detection, UnsupportedModelError
from autopipe_core.headers import SafetensorsHeader
from autopipe_core.toolkit.single_file import ConfigFolders, block_count, shape

from . import CHROMA, CLIP_L, COMFY_PREFIX, CONTROL_CHANNELS, FILL_CHANNELS, FLUX, IMG_IN, LATENT_CHANNELS, T5XXL, VAE_PREFIXES

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: a cold `autopipe resolve FILE` imports this module
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any, Mapping

FOLDERS = ConfigFolders(os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs"), "autopipe-flux")

#: Where ComfyUI's all-in-one files put the transformer (layout.TRANSFORMER, named here without importing the layout's
#: renaming tables); BFL's own files have no prefix.
TRANSFORMER = COMFY_PREFIX

FLUX_KEY = "double_blocks.0.img_attn.norm.key_norm.scale"
CHROMA_KEY = "distilled_guidance_layer.in_proj.bias"
GUIDANCE = "guidance_in.in_layer.weight"

#: Detected variant -> (family, the pipeline class its folder's model_index.json names, what it is).
VARIANTS = MappingProxyType({
    "flux-dev": (FLUX, "FluxPipeline", "FLUX.1 dev (guidance-distilled: guidance_in embeds the guidance scale)"),
    "flux-schnell": (FLUX, "FluxPipeline", "FLUX.1 schnell (timestep-distilled: no guidance_in)"),
    "flux-fill": (FLUX, "FluxFillPipeline", f"FLUX.1 Fill (img_in takes {FILL_CHANNELS} channels: latents, masked image, mask)"),
    "flux-control": (FLUX, "FluxControlPipeline", f"FLUX.1 Canny or Depth (img_in takes {CONTROL_CHANNELS} channels: latents and the control image's)"),
    "chroma": (CHROMA, "ChromaPipeline", "Chroma (distilled_guidance_layer: modulation from a network, not from CLIP)"),
})

#: What each component the pipeline takes is, for the message that asks the caller to pass it.
WHAT = MappingProxyType({
    "text_encoder": "CLIPTextModel, CLIP ViT-L/14's text model",
    "text_encoder_2": "T5EncoderModel, T5-v1.1-XXL's encoder",
    "tokenizer_2": "T5TokenizerFast, T5-v1.1-XXL's tokenizer",
    "vae": "AutoencoderKL, FLUX.1's 16-channel VAE",
})
CHROMA_WHAT = MappingProxyType({"text_encoder": WHAT["text_encoder_2"], "tokenizer": WHAT["tokenizer_2"], "vae": WHAT["vae"]})


def config_folder(variant: str) -> Path:
    """The config folder shipped for a detected variant ("flux-dev", "flux-schnell", "flux-fill", "flux-control", "chroma")."""
    return FOLDERS.folder(variant)


def _vae_prefix(header: SafetensorsHeader) -> str:
    return next((p for p in VAE_PREFIXES if header.has_prefix(p)), VAE_PREFIXES[0])


def prefixes(header: SafetensorsHeader, family: str) -> dict[str, str]:
    """component -> where its tensors are in this file (``autopipe plan`` counts a component from them; none there: unknown)."""
    transformer = TRANSFORMER if header.has_prefix(TRANSFORMER) else ""
    if family == CHROMA:
        return {"transformer": transformer, "text_encoder": T5XXL, "vae": _vae_prefix(header)}
    return {"transformer": transformer, "text_encoder": CLIP_L, "text_encoder_2": T5XXL, "vae": _vae_prefix(header)}


@functools.lru_cache(maxsize=None)
def _transformer_config(variant: str) -> Mapping[str, Any]:
    """The shipped transformer config of a variant (this plugin's own file, read once a process), read-only."""
    return MappingProxyType(FOLDERS.config(variant, "transformer"))


def _geometry(header: SafetensorsHeader, p: str, variant: str) -> list[str]:
    """What in the file differs from the shipped config's architecture (empty: the shipped config loads it)."""
    config = _transformer_config(variant)
    width = config["num_attention_heads"] * config["attention_head_dim"]
    expected = {
        "img_in.weight": (width, config["in_channels"]),
        "txt_in.weight": (width, config["joint_attention_dim"]),
    }
    if variant != "chroma":
        expected["vector_in.in_layer.weight"] = (width, config["pooled_projection_dim"])
    out = [f"{key} is {list(found) if found else 'absent'}, not {list(want)}" for key, want in expected.items() if (found := shape(header, p + key)) != want]
    blocks = {kind: block_count(header, f"{p}{kind}.") for kind in ("double_blocks", "single_blocks")}
    if (blocks["double_blocks"], blocks["single_blocks"]) != (config["num_layers"], config["num_single_layers"]):
        out.append(f"it has {blocks['double_blocks']} double and {blocks['single_blocks']} single blocks, not {config['num_layers']} and {config['num_single_layers']}")
    return out


def _contents(header: SafetensorsHeader, family: str) -> str:
    """The reason's clause on what the file holds besides the transformer, and what the caller must pass."""
    where = prefixes(header, family)
    present = [name for name, prefix in where.items() if name != "transformer" and header.has_prefix(prefix)]
    layout = "ComfyUI's all-in-one layout (model.diffusion_model.*)" if where["transformer"] else "BFL's layout (no prefix)"
    need = ", ".join(name + "=" for name in missing(header, family, {}))
    if not present:
        return f"; the transformer alone, in {layout}: pass {need} when loading (or config= a diffusers folder that has them)"
    return f"; {layout} with {', '.join(present)}: pass {need} when loading"


def detect(header: SafetensorsHeader) -> list[Detection]:
    """FLUX.1 dev, schnell, Fill and Canny/Depth Control, and Chroma transformers, alone or in an all-in-one file; nothing else."""
    p = TRANSFORMER if header.has_prefix(TRANSFORMER) else ""
    img_in = shape(header, p + IMG_IN, rank=2)
    if img_in is None:
        return []
    if p + CHROMA_KEY in header.tensors:
        variant, why = "chroma", f"{CHROMA_KEY} present"
    elif p + FLUX_KEY in header.tensors:
        guided = p + GUIDANCE in header.tensors
        channels = img_in[1]
        if channels == FILL_CHANNELS and guided:
            variant = "flux-fill"
        elif channels == CONTROL_CHANNELS and guided:
            variant = "flux-control"
        elif channels == LATENT_CHANNELS:
            variant = "flux-dev" if guided else "flux-schnell"
        else:
            return []
        why = f"{FLUX_KEY} present, img_in.weight {list(img_in)}, {GUIDANCE} {'present' if guided else 'absent'}"
    else:
        return []
    family, cls, what = VARIANTS[variant]
    differs = _geometry(header, p, variant)
    confidence = 0.95
    reason = f"{what}: {why}"
    if differs:
        confidence = 0.5
        reason += (
            f"; but {'; '.join(differs)}, so the shipped {variant} config does not fit it: pass config= a diffusers folder "
            "of its own architecture"
        )
    reason += _contents(header, family)
    return [Detection(family, variant, confidence, reason, pipeline_class=f"diffusers:{cls}", config=FOLDERS.folder_path(variant), prefixes=prefixes(header, family))]


def missing(header: SafetensorsHeader, family: str, kwargs: Mapping[str, Any]) -> list[str]:
    """The components loading this file with the shipped config needs from the caller: those the file lacks, and T5's tokenizer."""
    where = prefixes(header, family)
    need = [name for name, prefix in where.items() if name != "transformer" and not header.has_prefix(prefix)]
    need.append("tokenizer" if family == CHROMA else "tokenizer_2")
    return [name for name in need if name not in kwargs]


def load(family: str, pipeline_class: type, path: str, detection: Detection, kwargs: dict[str, Any]) -> Any:
    """Load `path` as `pipeline_class` (``autopipe_from_single_file``); None leaves it to the core's default load.

    With the shipped config (the caller passed no ``config=`` of their own),
    what the file lacks must be passed: an UnsupportedModelError lists it all
    at once, before anything is read. A class diffusers gives no
    ``from_single_file`` (FluxInpaintPipeline) is loaded as the detected class
    and switched with ``from_pipe``, sharing every component.
    """
    from autopipe_core.single_file import read
    from autopipe_core.specs import import_class
    from autopipe_core.toolkit.single_file import default_load

    if kwargs.get("config") == detection.config:
        lacking = missing(read(path), family, kwargs)
        if lacking:
            what = CHROMA_WHAT if family == CHROMA else WHAT
            example = "lodestones/Chroma1-HD" if family == CHROMA else "black-forest-labs/FLUX.1-dev"
            raise UnsupportedModelError(
                f"{path} holds no {', '.join(lacking)}, and autopipe-flux ships configs, not weights or T5's vocabulary: pass "
                + "; ".join(f"{name}= ({what[name]})" for name in lacking)
                + f", loaded from a diffusers folder or repo of the family (as {example} has them); or pass config= such a folder "
                "(and local_files_only=False for a hub repo), from which diffusers loads them"
            )
    if hasattr(pipeline_class, "from_single_file"):
        return None
    loaded = default_load(import_class(detection.pipeline_class), path, detection, kwargs)
    return pipeline_class.from_pipe(loaded)
