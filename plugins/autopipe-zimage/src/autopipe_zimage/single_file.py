"""Z-Image single files: recognised from their header alone, loaded offline with the configs this plugin ships.

What diffusers 0.42.1's ``from_single_file`` recognises of this lineage
(``CHECKPOINT_KEY_NAMES`` in ``loaders/single_file_utils.py``):

- ``z-image-turbo``: a transformer in the original layout (Tongyi-MAI's
  names, ComfyUI's ``z_image_turbo_bf16.safetensors``; :mod:`autopipe_zimage.layout`),
  told by ``layers.0.adaLN_modulation.0.weight``, with or without ComfyUI's
  ``model.diffusion_model.`` prefix, which diffusers' converter takes off
  itself. Such a file holds the transformer alone: diffusers converts no
  Qwen3 text encoder from a checkpoint and its ``from_single_file`` of a
  whole pipeline would fail on the missing VAE and encoder. So the
  transformer is read with ``ZImageTransformer2DModel.from_single_file`` and
  the shipped ``transformer/config.json``, and the text encoder, tokenizer and
  VAE come from a diffusers checkpoint of the model, the *base*: the caller's
  ``config=`` (a folder or hub repo with weights), else Tongyi-MAI/Z-Image-Turbo
  (diffusers' default for the type) from the local Hugging Face cache only,
  else the components the caller passes (``text_encoder=``, ``tokenizer=``,
  ``vae=``; the scheduler then comes from the shipped config). Z-Image (the
  base model, Tongyi-MAI/Z-Image) has the same tensors: the header cannot tell
  it from Turbo, so it is taken as Turbo and the reason says to pass
  ``config="Tongyi-MAI/Z-Image"`` for it. A Z-Image-Omni transformer
  (``siglip_embedder`` tensors) is not claimed: diffusers knows no Omni file.
- ``z-image-turbo-controlnet``, ``-2.0`` and ``-2.1``: alibaba-pai's Union
  ControlNets (``control_all_x_embedder.2-1.weight``; 2.x by
  ``control_layers.14``), one component each, loaded with
  ``ZImageControlNetModel.from_single_file`` and the shipped config of its
  kind, and passed as ``controlnet=``. diffusers tells 2.0 from 2.1 by the
  *values* of ``control_noise_refiner.0.before_proj.weight`` (absent or all
  zeros: 2.0, whose refiner blocks were never trained), which no header
  holds: without that tensor the file is 2.0; with it, the detection names
  2.1's config and says so, and :func:`load_controlnet` reads that one tensor
  to decide as diffusers does. The "lite" ControlNets (3 control blocks)
  diffusers does not recognise (it takes them for the first Union and fails
  on the shapes); they are not claimed.

Nothing here imports torch until a file is loaded.
"""

from __future__ import annotations

import os
import re

from autopipe_core import Detection, UnsupportedModelError, serialized
from autopipe_core.headers import SafetensorsHeader
from autopipe_core.toolkit.single_file import ConfigFolders, shape
from autopipe_core.toolkit.transformer_file import BaseCheckpoint, component_tensors, load_from_base, save_tensors

from . import CONTROL_EMBEDDER, FAMILY, MODULATION, PREFIXES  # the names registered as detect keys

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: a cold `autopipe resolve FILE` imports this module
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any, Mapping

CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs")
FOLDERS = ConfigFolders(CONFIGS, "autopipe-zimage")

X_EMBEDDER = "x_embedder.weight"  # (dim, 2 x 2 x 16 latent channels): (3840, 64)
CAP_EMBEDDER = "cap_embedder.0.weight"  # (caption width,): 2560 for Qwen3-4B's states
QKV = "layers.0.attention.qkv.weight"  # the original layout's fused projection
SIGLIP = "siglip_embedder.0.weight"  # Z-Image-Omni's SigLIP embedder
DIFFUSERS_X_EMBEDDER = "all_x_embedder.2-1.weight"  # a transformer saved in diffusers' names, which diffusers' converter mangles

CONTROL_2X = "control_layers.14.adaLN_modulation.0.weight"  # diffusers' "z-image-turbo-controlnet-2.x" key
BEFORE_PROJ = "control_noise_refiner.0.before_proj.weight"  # 2.1's trained refiner control blocks (2.0's are zeros)
PLAIN_REFINER = "control_noise_refiner.0.adaLN_modulation.0.weight"  # the first Union's refiner: plain Z-Image blocks
_CONTROL_LAYER = re.compile(r"control_layers\.(\d+)\.adaLN_modulation\.0\.weight")

#: x_embedder.weight of the full-size transformer (30 heads x 128 over 2 x 2 patches of 16 channels), and of the tiny one.
TURBO_X_EMBEDDER = (3840, 64)
TINY_X_EMBEDDER = (32, 64)
TURBO_CAPTION, TINY_CAPTION = 2560, 16

BASE = "Tongyi-MAI/Z-Image-Turbo"
#: variant -> (the shipped folder, the repository whose other components a transformer-only file loads with).
PIPELINE_VARIANTS: Mapping[str, tuple[str, str | None]] = {"z-image-turbo": ("z-image-turbo", BASE), "tiny": ("tiny", None)}
#: The components a transformer-only file lacks.
OTHERS = ("text_encoder", "tokenizer", "vae")

#: (full size?, control_in_dim, control blocks, refiner) -> the ControlNet's variant and shipped folder.
#: refiner: "plain" (two Z-Image blocks: the first Union), "blocks" (control blocks: 2.1, or 2.0 unpruned), None (2.0 pruned).
CONTROLNETS: Mapping[tuple[bool, int, int, str | None], tuple[str, str]] = {
    (True, 16, 6, "plain"): ("z-image-turbo-controlnet", "z-image-turbo-controlnet"),
    (True, 33, 15, None): ("z-image-turbo-controlnet-2.0", "z-image-turbo-controlnet-2.0"),
    (True, 33, 15, "blocks"): ("z-image-turbo-controlnet-2.x", "z-image-turbo-controlnet-2.1"),
    (False, 16, 2, "plain"): ("tiny-controlnet", "tiny-controlnet"),
    (False, 33, 2, None): ("tiny-controlnet-2.0", "tiny-controlnet-2.0"),
    (False, 33, 2, "blocks"): ("tiny-controlnet-2.x", "tiny-controlnet-2.1"),
}
#: The ambiguous variants, and the folder of the 2.0 ControlNet each may be instead.
AMBIGUOUS: Mapping[str, str] = {"z-image-turbo-controlnet-2.x": "z-image-turbo-controlnet-2.0", "tiny-controlnet-2.x": "tiny-controlnet-2.0"}


def config_folder(name: str) -> Path:
    """A folder this plugin ships: a pipeline's (model_index.json, transformer and scheduler configs) or a ControlNet's config.json."""
    return FOLDERS.folder(name)


def _prefix(header: SafetensorsHeader, key: str) -> str | None:
    return next((p for p in PREFIXES if p + key in header.tensors), None)


def detect(header: SafetensorsHeader) -> list[Detection]:
    """Z-Image transformer files and Union ControlNet files (and the tiny test layouts); nothing else."""
    if CONTROL_EMBEDDER in header.tensors:
        return _controlnet(header)
    prefix = _prefix(header, MODULATION)
    if prefix is None or prefix + SIGLIP in header.tensors or prefix + DIFFUSERS_X_EMBEDDER in header.tensors:
        return []
    x_embedder = shape(header, prefix + X_EMBEDDER, rank=2)
    caption = shape(header, prefix + CAP_EMBEDDER, rank=1)
    if x_embedder is None or caption is None or prefix + QKV not in header.tensors:
        return []
    said = f"{prefix}{MODULATION} (diffusers' z-image-turbo key), x_embedder {list(x_embedder)}, captions {caption[0]} wide, fused qkv"
    if (x_embedder, caption[0]) == (TINY_X_EMBEDDER, TINY_CAPTION):
        return [_pipeline("tiny", 0.9, f"autopipe-zimage's tiny test layout: {said}", prefix)]
    fits = (x_embedder, caption[0]) == (TURBO_X_EMBEDDER, TURBO_CAPTION)
    if not fits:
        said += f" (not Z-Image-Turbo's {list(TURBO_X_EMBEDDER)} and {TURBO_CAPTION}: the shipped config will not fit it; pass config=)"
    said = (
        f"Z-Image-Turbo: {said}. Z-Image (the base model) has the same tensors: for one of its fine-tunes pass "
        "config='Tongyi-MAI/Z-Image'"
    )
    return [_pipeline("z-image-turbo", 0.95 if fits else 0.6, said, prefix)]


def _pipeline(variant: str, confidence: float, reason: str, prefix: str) -> Detection:
    folder, base = PIPELINE_VARIANTS[variant]
    where = f"the base checkpoint ({base}, from the local cache) or config=" if base else "the family's tiny checkpoint"
    reason += f"; the file holds the transformer only: {', '.join(OTHERS)} come from {where}, or pass them"
    return Detection(
        FAMILY, variant, confidence, reason, pipeline_class="diffusers:ZImagePipeline", config=FOLDERS.folder_path(folder),
        prefixes={"transformer": prefix},
    )


def _controlnet(header: SafetensorsHeader) -> list[Detection]:
    embedder = shape(header, CONTROL_EMBEDDER, rank=2)
    if embedder is None or embedder[1] % 4:
        return []
    blocks = {int(m.group(1)) for name in header.tensors if (m := _CONTROL_LAYER.fullmatch(name))}
    refiner = "blocks" if BEFORE_PROJ in header.tensors else "plain" if PLAIN_REFINER in header.tensors else None
    full = embedder[0] == TURBO_X_EMBEDDER[0]
    if not full and embedder[0] != TINY_X_EMBEDDER[0]:
        return []
    key = (full, embedder[1] // 4, len(blocks), refiner)
    if key not in CONTROLNETS or blocks != set(range(len(blocks))):
        return []  # the "lite" ControlNets, or a layout diffusers does not load
    variant, folder = CONTROLNETS[key]
    said = (
        f"a Z-Image Union ControlNet ({CONTROL_EMBEDDER} {list(embedder)}: {key[1]} control channels; {len(blocks)} control blocks"
        f"{'' if CONTROL_2X not in header.tensors else ' (diffusers key ' + CONTROL_2X + ')'}; refiner: {refiner or 'none'})"
    )
    if variant in AMBIGUOUS:
        said += (
            f": 2.1, or 2.0 with its untrained refiner blocks kept; diffusers tells them by whether {BEFORE_PROJ} is all zeros "
            "(2.0), which the header does not hold: autopipe_zimage.load_controlnet(path) reads that tensor and decides"
        )
    elif variant.endswith("2.0"):
        said += f": 2.0 ({BEFORE_PROJ} absent)"
    folder_path = FOLDERS.folder_path(folder)
    use = (
        f"load it with diffusers.ZImageControlNetModel.from_single_file(path, config={folder_path!r}, local_files_only=True) "
        "(or autopipe_zimage.load_controlnet(path), which picks the config from the file) and pass it as controlnet= to "
        f"AutoPipelineForText2Image.from_pretrained('{BASE}') (ZImageControlNetPipeline)"
        + ("" if key[1] == 16 else f" or AutoPipelineForInpainting.from_pretrained('{BASE}') (ZImageControlNetInpaintPipeline)")
    )
    confidence = 0.95 if full else 0.9
    return [Detection(FAMILY, variant, confidence, said, component="diffusers:ZImageControlNetModel", config=folder_path, use=use)]


# Loading


def _transformer(path: str, detection: Detection, config: Any, local: bool, dtype: Any) -> Any:
    """The transformer from the file (diffusers' converter takes off ComfyUI's prefix and unfuses qkv), shipped config, offline."""
    from diffusers import ZImageTransformer2DModel

    return ZImageTransformer2DModel.from_single_file(
        path, config=str(detection.config), subfolder="transformer", local_files_only=True, torch_dtype=dtype,
    )


#: Where the rest of the pipeline comes from (the caller, config=, Z-Image-Turbo's repository from the local cache) and
#: what to say when it cannot be had: the toolkit's base-checkpoint loader.
BASE_CHECKPOINT = BaseCheckpoint(
    holds="Z-Image's transformer", others=lambda family: OTHERS, repo=lambda variant: PIPELINE_VARIANTS[variant][1],
    load_transformer=_transformer,
)


@serialized
def load(family: str, pipeline_class: type, path: str, detection: Detection, kwargs: Mapping[str, Any]) -> Any:
    """``autopipe_from_single_file``: the transformer from `path`, the rest from the base (see the module's docstring).

    The caller's own ``transformer=`` wins (the file is then not read). A base
    that is neither passed nor in the local cache is an UnsupportedModelError
    that says what to pass, raised before the transformer is read
    (``toolkit.transformer_file.load_from_base``).
    """
    return load_from_base(BASE_CHECKPOINT, FAMILY, pipeline_class, path, detection, kwargs)


def _read_header(path: str | Path) -> SafetensorsHeader:
    from pathlib import Path

    from autopipe_core.single_file import read

    return read(Path(path))


def controlnet_folder(path: str | Path) -> Path:
    """The shipped config folder of the Union ControlNet file at `path`, decided as diffusers decides.

    The header gives the kind (:func:`detect`); for a 2.x file with refiner
    control blocks, the values of ``control_noise_refiner.0.before_proj.weight``
    decide (all zeros: 2.0), read alone with safetensors. UnsupportedModelError
    for a file that is no Z-Image ControlNet this plugin recognises.
    """
    from pathlib import Path

    found = [d for d in detect(_read_header(path)) if not d.is_pipeline]
    if not found:
        raise UnsupportedModelError(
            f"{path}: not a Z-Image Union ControlNet autopipe-zimage recognises (the first Union, 2.0 or 2.1; the 'lite' ones "
            "are not loadable by diffusers' from_single_file)"
        )
    detection = found[0]
    if detection.variant not in AMBIGUOUS:
        return Path(str(detection.config))
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        untrained = not bool(handle.get_tensor(BEFORE_PROJ).any())
    return config_folder(AMBIGUOUS[detection.variant]) if untrained else Path(str(detection.config))


@serialized
def load_controlnet(path: str | Path, **kwargs: Any) -> Any:
    """A Union ControlNet file as a ``ZImageControlNetModel``, offline, with the config :func:`controlnet_folder` picks.

    `kwargs` go to ``ZImageControlNetModel.from_single_file`` (``torch_dtype=``);
    pass the model as ``controlnet=`` to a Z-Image pipeline.
    """
    from diffusers import ZImageControlNetModel

    kwargs.setdefault("local_files_only", True)
    return ZImageControlNetModel.from_single_file(str(path), config=str(controlnet_folder(path)), **kwargs)


def transformer_file(folder: str | Path, path: str | Path, prefix: str = "") -> Path:
    """Write the transformer of the diffusers folder `folder` as one .safetensors file at `path`, in the original layout.

    With no prefix: the layout of Comfy-Org's ``z_image_turbo_bf16.safetensors``; with ``COMFY_PREFIX``: a checkpoint
    ComfyUI saves. Reads the folder's weights (sharded or not) with safetensors, never a pickle.
    """
    from .layout import original_state_dict

    return save_tensors(original_state_dict(component_tensors(folder, "transformer"), prefix), path)
