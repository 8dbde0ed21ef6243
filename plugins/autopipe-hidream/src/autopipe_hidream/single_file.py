"""HiDream-I1 single files: recognised from their header alone, loaded with diffusers' own transformer loader.

What diffusers 0.42.1's ``from_single_file`` knows of HiDream is the
transformer, never a whole pipeline: ``HiDreamImagePipeline`` has no
``FromSingleFileMixin`` (no ``from_single_file``), and
``HiDreamImageTransformer2DModel.from_single_file`` (``FromOriginalModelMixin``,
``SINGLE_FILE_LOADABLE_CLASSES``) converts a file with
``convert_hidream_transformer_to_diffusers``, which only takes ComfyUI's
``model.diffusion_model.`` prefix off: HiDream's own tensor names are
diffusers'. diffusers tells the model type by
``CHECKPOINT_KEY_NAMES["hidream"]``, ``double_stream_blocks.0.block.adaLN_modulation.1.bias``
(bare names only; its default repository for it is HiDream-ai/HiDream-I1-Dev).

Recognised here by that key, bare or under ComfyUI's prefix, with the patch
embedding ``x_embedder.proj.weight`` ((2560, 64) for HiDream-I1: 20 heads of
128 over 2 x 2 patches of 16 latent channels) and the number of dual- and
single-stream blocks (16 and 32). **Full, Dev and Fast cannot be told
apart** from the header: the same tensors, the same shapes (Dev and Fast are
distillations of Full); the reason says so, and the scheduler and the call's
steps and guidance come from the base checkpoint and the caller.

Such a file holds the transformer alone: the four text encoders, their
tokenizers and the VAE come from a diffusers checkpoint of the model, the
*base*: the caller's ``config=`` (a folder or hub repo with weights), else the
components the caller passes (all of :data:`OTHERS`), else diffusers' default
repository, HiDream-ai/HiDream-I1-Dev, read from the local Hugging Face cache
only. HiDream-ai's repositories ship no Llama, so ``tokenizer_4=`` and
``text_encoder_4=`` must then be passed too (:data:`.loading.LLAMA_ADVICE`),
checked before the file is read. The transformer's config comes from the
folder this plugin ships, so nothing is fetched. The tiny test layout's base
is the family's tiny checkpoint (built offline). Nothing here imports torch
until a file is loaded.
"""

from __future__ import annotations

import os

from autopipe_core import Detection, UnsupportedModelError, serialized
from autopipe_core.headers import SafetensorsHeader
from autopipe_core.toolkit.single_file import ConfigFolders, block_count, shape
from autopipe_core.toolkit.transformer_file import BaseCheckpoint, load_from_base, model_from_file, prefixed_tensors

from . import COMFY_PREFIX, EXAMPLE, HIDREAM, HIDREAM_CLASS, HIDREAM_KEY

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: a cold `autopipe resolve FILE` imports this module
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any, Mapping

FOLDERS = ConfigFolders(os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs"), "autopipe-hidream")

#: Bare (HiDream-ai's and Comfy-Org's split files) or ComfyUI's (a checkpoint it saves).
PREFIXES = ("", COMFY_PREFIX)
#: diffusers' CHECKPOINT_KEY_NAMES["hidream"]: the package's, beside the autopipe_detect_keys built from it.
KEY = HIDREAM_KEY
#: The patch embedding: (inner width, patch_size**2 x latent channels).
PATCH_KEY = "x_embedder.proj.weight"

#: (patch embedding shape, dual-stream blocks, single-stream blocks) -> the shipped config folder.
MODELS = {((2560, 64), 16, 32): "hidream-i1", ((16, 64), 1, 1): "tiny"}
#: The components a transformer file gives nothing of, which the base or the caller supplies.
OTHERS = (
    "text_encoder", "text_encoder_2", "text_encoder_3", "text_encoder_4",
    "tokenizer", "tokenizer_2", "tokenizer_3", "tokenizer_4", "vae",
)

_UNKNOWN_USE = (
    "autopipe-hidream ships the config of HiDream-I1 (2560 wide, 16 dual- and 32 single-stream blocks); for this one load it "
    "with diffusers.HiDreamImageTransformer2DModel.from_single_file(path, config=<the diffusers repo it was trained from>, "
    "subfolder='transformer') and pass it as transformer= to HiDreamImagePipeline.from_pretrained"
)


def config_folder(variant: str) -> Path:
    """The folder shipped for a variant ("hidream-i1", "tiny"): model_index.json, transformer and scheduler configs."""
    return FOLDERS.folder(variant)


def detect(header: SafetensorsHeader) -> list[Detection]:
    """HiDream-I1 transformer files, bare or under ComfyUI's prefix (and the tiny test layout); nothing else."""
    prefix = next((p for p in PREFIXES if p + KEY in header.tensors), None)
    if prefix is None:
        return []
    patch = shape(header, prefix + PATCH_KEY, rank=2)
    if patch is None:
        return []
    double, single = block_count(header, f"{prefix}double_stream_blocks."), block_count(header, f"{prefix}single_stream_blocks.")
    where = "ComfyUI's checkpoint layout, under model.diffusion_model." if prefix else "diffusers' (and HiDream's own) tensor names"
    said = f"{prefix}{KEY} (diffusers' hidream key), x_embedder {list(patch)}, {double} dual- and {single} single-stream blocks, in {where}"
    variant = MODELS.get((patch, double, single))
    if variant is None:
        reason = f"a HiDream transformer ({said}) of a size autopipe-hidream ships no config for"
        return [Detection(HIDREAM, "hidream-original", 0.6, reason, component="diffusers:HiDreamImageTransformer2DModel", use=_UNKNOWN_USE)]
    if variant == "tiny":
        what, base = "autopipe-hidream's tiny test layout", "the family's tiny checkpoint"
    else:
        what = "HiDream-I1 (17 B; Full, Dev and Fast have the same tensors, so the header cannot tell which: steps and guidance are the caller's)"
        base = f"config=<a HiDream-I1 diffusers folder or repo>, else {EXAMPLE} from the local cache (diffusers' default), plus tokenizer_4= and text_encoder_4="
    others = [n for n in header.tensors if not n.startswith(prefix)] if prefix else []
    unread = f"; its other tensors ({len(others)}) are not read" if others else ""
    reason = f"{said}: {what}{unread}; the file holds the transformer only: the text encoders, tokenizers and VAE come from {base}"
    return [Detection(
        HIDREAM, variant, 0.95 if variant == "hidream-i1" else 0.9, reason, pipeline_class=f"diffusers:{HIDREAM_CLASS}",
        config=FOLDERS.folder_path(variant), prefixes={"transformer": prefix},
    )]


@serialized
def load_transformer(path: str, folder: str, prefix: str = "", dtype: Any = None) -> Any:
    """``HiDreamImageTransformer2DModel.from_single_file`` of `path` with the config in `folder`, offline.

    Under ComfyUI's prefix only the transformer's tensors are read (renamed
    without it): the file's other tensors, a ComfyUI checkpoint's text
    encoders and VAE, are never read.
    """
    from diffusers import HiDreamImageTransformer2DModel

    source: Any = prefixed_tensors(path, prefix) if prefix else path
    return model_from_file(HiDreamImageTransformer2DModel, source, folder, dtype)


def base_of(detection: Detection, config: Any, passed: Mapping[str, Any]) -> Any:
    """Where the components the file lacks come from: the caller's checkpoint, the shipped folder, the tiny one, HiDream-I1-Dev."""
    shipped = str(detection.config)
    if config is not None and str(config) != shipped:
        return config
    if all(name in passed for name in OTHERS):
        return shipped  # every component is passed: the shipped model_index and scheduler config do the rest
    if detection.variant == "tiny":
        from autopipe_core.tiny import tiny_checkpoint

        return str(tiny_checkpoint(HIDREAM)[0])
    return EXAMPLE


def _check_llama(path: str, base: Any, passed: Mapping[str, Any]) -> None:
    """Refuse before the transformer (32 GiB) is read a base without the Llama the caller does not pass."""
    from .loading import LLAMA_ADVICE, lacks_llama  # the loading module imports pathlib and the core's sources: load time only

    lacking = [name for name in (lacks_llama(base) or ()) if name not in passed]
    if lacking:
        raise UnsupportedModelError(f"{path}: the HiDream-I1 checkpoint {base} that gives the rest has no {', '.join(lacking)}: {LLAMA_ADVICE}")


#: Where the rest of the pipeline comes from (base_of) and what to say when it cannot be had: the toolkit's base-checkpoint loader.
BASE_CHECKPOINT = BaseCheckpoint(
    holds="HiDream-I1's transformer", others=lambda family: OTHERS, repo=lambda variant: None if variant == "tiny" else EXAMPLE,
    load_transformer=lambda path, detection, config, local, dtype: load_transformer(
        path, str(detection.config), detection.prefixes.get("transformer", ""), dtype,
    ),
    check=_check_llama, choose=lambda family, detection, config, passed: base_of(detection, config, passed),
)


def load(family: str, pipeline_class: type, path: str, detection: Detection, kwargs: Mapping[str, Any]) -> Any:
    """The ``autopipe_from_single_file`` hook: the transformer from `path`, the rest from the base (see the module's docstring).

    The caller's own ``transformer=`` wins (the file is then not read). A base
    that is neither passed nor in the local cache, or that lacks the Llama the
    caller does not pass, is an :class:`~autopipe_core.UnsupportedModelError`
    that says what to pass, raised before a byte of the file is read
    (``toolkit.transformer_file.load_from_base``).
    """
    return load_from_base(BASE_CHECKPOINT, family, pipeline_class, path, detection, kwargs)
