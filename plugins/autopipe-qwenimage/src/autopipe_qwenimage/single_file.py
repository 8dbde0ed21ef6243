"""Qwen-Image single files: recognised from their header alone, loaded with diffusers' own transformer loader.

What diffusers 0.42.1's ``from_single_file`` recognises of this lineage is
the transformer, never a whole pipeline: no Qwen pipeline class has
``FromSingleFileMixin`` (``QwenImagePipeline.from_single_file`` does not
exist), and ``AutoencoderKLQwenImage`` is not single-file loadable.

- ``QwenImageTransformer2DModel.from_single_file`` takes a file in diffusers'
  own tensor names (its converter is the identity), as Comfy-Org's
  ``qwen_image_*.safetensors`` diffusion models are written; it needs
  ``config=`` (diffusers' ``infer_diffusers_model_type`` has no Qwen-Image
  key, so it would guess SD 1.x). Recognised here by ``txt_norm.weight`` (the
  RMS norm over the text encoder's 3584-wide states) with ``img_in.weight``
  and the first block's ``img_mod.1.weight``; a file whose transformer has
  ``time_text_embed.addition_t_embedding.weight`` (the RGB/RGBA condition) is
  Qwen-Image-Layered's. An Edit (or Edit-2509/2511) transformer has exactly
  the base's tensors, so the header cannot tell it: it is taken as the base,
  and the reason says so.
- ``QwenImage21Transformer2DModel.from_single_file`` is recognised by diffusers
  from ``txt_in.text_norm.weight`` (its model type "qwen-image-2.1") and
  converted from ComfyUI's layout (the fused ``img_mlp.gate_up`` split).
- Either may carry ComfyUI's ``model.diffusion_model.`` prefix (a "Save
  Checkpoint" file); its tensors are handed to diffusers without it.

Such a file holds the transformer alone: the text encoder (7 B parameters),
tokenizer or processor and VAE come from a diffusers checkpoint of the model,
the *base*: the caller's ``config=`` (a folder or hub repo with weights), else
the family's own repository (``Qwen/Qwen-Image``, ``Qwen/Qwen-Image-Layered``,
``Qwen/Qwen-Image-2.1``, as diffusers' default for "qwen-image-2.1") read from
the local Hugging Face cache only, else the components the caller passes
(``text_encoder=``, ``tokenizer=``, ``vae=``; the scheduler comes from the
shipped config). The transformer's config comes from the folder this plugin
ships, so nothing is fetched. The tiny test layout's base is the family's
tiny checkpoint (built offline). Nothing here imports torch until a file is
loaded.
"""

from __future__ import annotations

import os

from autopipe_core import Detection, serialized
from autopipe_core.headers import SafetensorsHeader
from autopipe_core.toolkit.single_file import ConfigFolders, shape
from autopipe_core.toolkit.transformer_file import BaseCheckpoint, component_tensors, load_from_base, prefixed_tensors, save_tensors

from . import COMFY_PREFIX, FAMILY, LAYERED, PREFIXES, QWENIMAGE21, TEXT_NORM_21, TXT_NORM  # the names registered as detect keys

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: a cold `autopipe resolve FILE` imports this module
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any, Mapping

CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs")
FOLDERS = ConfigFolders(CONFIGS, "autopipe-qwenimage")

IMG_IN = "img_in.weight"  # (inner width, in_channels): (3072, 64) for Qwen-Image
FIRST_MOD = "transformer_blocks.0.img_mod.1.weight"  # the first block's image modulation: 6 x inner width rows
LAYER_COND = "time_text_embed.addition_t_embedding.weight"  # (2, inner width): Qwen-Image-Layered's RGB/RGBA condition
IMG_IN_21 = "img_in.weight"

#: img_in.weight of the full-size transformers: 24 heads x 128 over 2 x 2 patches of 16 latent channels.
QWENIMAGE_IMG_IN = (3072, 64)
#: img_in.weight of autopipe-qwenimage's tiny transformer: 3 heads x 16 over 2 x 2 patches of 4 latent channels.
TINY_IMG_IN = (48, 16)

#: variant -> (family, pipeline class, the repository whose other components a transformer-only file loads with).
VARIANTS: Mapping[str, tuple[str, str, str | None]] = {
    "qwen-image": (FAMILY, "QwenImagePipeline", "Qwen/Qwen-Image"),
    "qwen-image-layered": (LAYERED, "QwenImageLayeredPipeline", "Qwen/Qwen-Image-Layered"),
    "qwen-image-2.1": (QWENIMAGE21, "QwenImage21Pipeline", "Qwen/Qwen-Image-2.1"),
    "tiny": (FAMILY, "QwenImagePipeline", None),  # its base is the family's tiny checkpoint
}
#: The transformer class of each family's files.
TRANSFORMERS = {FAMILY: "QwenImageTransformer2DModel", LAYERED: "QwenImageTransformer2DModel", QWENIMAGE21: "QwenImage21Transformer2DModel"}
#: The components a transformer-only file lacks, by family (the scheduler comes from the shipped config, but for 2.1, whose
#: scheduler settings are not published apart from its repository).
OTHERS = {FAMILY: ("text_encoder", "tokenizer", "vae"), LAYERED: ("text_encoder", "tokenizer", "processor", "vae"), QWENIMAGE21: ("text_encoder", "processor", "vae", "scheduler")}


def config_folder(variant: str) -> Path:
    """The folder shipped for a variant: model_index.json, transformer/config.json, scheduler/scheduler_config.json."""
    return FOLDERS.folder(variant)


def _prefix(header: SafetensorsHeader, key: str) -> str | None:
    """The prefix under which the file has `key` ("" or ComfyUI's), or None."""
    return next((p for p in PREFIXES if p + key in header.tensors), None)


def _detection(variant: str, confidence: float, reason: str, prefix: str) -> Detection:
    family, cls, base = VARIANTS[variant]
    others = ", ".join(OTHERS[family])
    where = f"the base checkpoint ({base}, from the local cache) or config=" if base else "the family's tiny checkpoint"
    reason += f"; the file holds the transformer only: {others} come from {where}, or pass them"
    return Detection(
        family, variant, confidence, reason, pipeline_class=f"diffusers:{cls}", config=FOLDERS.folder_path(variant),
        prefixes={"transformer": prefix},
    )


def detect(header: SafetensorsHeader) -> list[Detection]:
    """Qwen-Image, Qwen-Image-Layered and Qwen-Image 2.1 transformer files (and the tiny test layout); nothing else."""
    prefix = _prefix(header, TEXT_NORM_21)
    if prefix is not None:
        width = shape(header, prefix + IMG_IN_21, rank=2)
        return [_detection("qwen-image-2.1", 0.95, f"Qwen-Image 2.1: {prefix}{TEXT_NORM_21} (diffusers' qwen-image-2.1 key), img_in {list(width or ())}", prefix)]
    prefix = _prefix(header, TXT_NORM)
    if prefix is None or shape(header, prefix + IMG_IN, rank=2) is None or prefix + FIRST_MOD not in header.tensors:
        return []
    img_in = shape(header, prefix + IMG_IN, rank=2)
    text = shape(header, prefix + TXT_NORM, rank=1)
    said = f"{prefix}{TXT_NORM} {list(text or ())}, img_in {list(img_in)}, dual-stream blocks with img_mod"
    if img_in == TINY_IMG_IN:
        return [_detection("tiny", 0.9, f"autopipe-qwenimage's tiny test layout: {said}", prefix)]
    confidence = 0.95 if img_in == QWENIMAGE_IMG_IN else 0.6
    if confidence < 0.9:
        said += f" (not Qwen-Image's {list(QWENIMAGE_IMG_IN)}: the shipped config will not fit it; pass config=)"
    if prefix + LAYER_COND in header.tensors:
        return [_detection("qwen-image-layered", confidence, f"Qwen-Image-Layered: {said}, and {LAYER_COND} (the RGB/RGBA condition)", prefix)]
    said = (
        f"Qwen-Image: {said}. Qwen-Image-Edit's transformers (Edit, 2509, 2511) have the same tensors: for one of them "
        "load QwenImageEditPipeline (or QwenImageEditPlusPipeline) with transformer=QwenImageTransformer2DModel.from_single_file(...)"
    )
    return [_detection("qwen-image", confidence, said, prefix)]


def _transformer(path: str, detection: Detection, config: Any, local: bool, dtype: Any) -> Any:
    """The transformer from the file, with the shipped config, offline; a ComfyUI prefix is taken off first."""
    import diffusers

    cls = getattr(diffusers, TRANSFORMERS[detection.family])
    prefix = detection.prefixes.get("transformer", "")
    source: Any = prefixed_tensors(path, prefix) if prefix else path
    return cls.from_single_file(source, config=str(detection.config), subfolder="transformer", local_files_only=True, torch_dtype=dtype)


#: Where the rest of the pipeline comes from (the caller, config=, the family's repository from the local cache) and what
#: to say when it cannot be had: the toolkit's base-checkpoint loader.
BASE_CHECKPOINT = BaseCheckpoint(
    holds="{family}'s transformer", others=OTHERS.__getitem__, repo=lambda variant: VARIANTS[variant][2], load_transformer=_transformer,
)


@serialized
def load(family: str, pipeline_class: type, path: str, detection: Detection, kwargs: Mapping[str, Any]) -> Any:
    """``autopipe_from_single_file``: the transformer from `path`, the rest from the base (see the module's docstring).

    The caller's own ``transformer=`` wins (the file is then not read). A base
    that is neither passed nor in the local cache is an UnsupportedModelError
    that says what to pass (``toolkit.transformer_file.load_from_base``).
    """
    return load_from_base(BASE_CHECKPOINT, family, pipeline_class, path, detection, kwargs)


def transformer_file(folder: str | Path, path: str | Path, prefix: str = "") -> Path:
    """Write the transformer of the diffusers folder `folder` as one .safetensors file at `path`, each tensor under `prefix`.

    With no prefix this is the layout of Comfy-Org's Qwen-Image diffusion-model files (diffusers' own names); with
    ``COMFY_PREFIX`` that of a checkpoint ComfyUI saves. Used to write the tiny test file; reads the folder's weights
    (sharded or not) with safetensors, never a pickle.
    """
    return save_tensors(component_tensors(folder, "transformer"), path, prefix=prefix)
