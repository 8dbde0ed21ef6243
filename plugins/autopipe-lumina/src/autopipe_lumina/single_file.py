"""Single files of this lineage: Lumina-Image 2.0 transformers in the authors' layout, recognised from the header and loaded offline.

What diffusers 0.42.1's ``from_single_file`` reads of these families
(``diffusers/loaders/single_file_utils.py``), and so what this plugin
recognises:

- **Lumina-Image 2.0**: a transformer, in the authors' layout, bare or under
  ComfyUI's ``model.diffusion_model.`` (diffusers calls a file "lumina2"
  when it has ``cap_embedder.0.weight`` under either), loaded by
  ``Lumina2Transformer2DModel.from_single_file``. Lumina2Pipeline has no
  ``from_single_file``, and the file holds no Gemma 2 or VAE diffusers can
  read (ComfyUI's all-in-one ``lumina_2.safetensors`` carries them in
  ComfyUI's own layout, which diffusers has no converter for). A file is
  claimed as a Lumina2Pipeline checkpoint and loaded by :func:`load`: the
  transformer from the file with the config this plugin ships for it, the
  other components from the caller (``text_encoder=``, ``tokenizer=``,
  ``vae=``) or from ``config=`` naming a Lumina 2 diffusers folder or repo.
- diffusers' converter splits each fused qkv at fixed rows (2304 queries,
  768 keys, 768 values: Lumina-Image 2.0's heads, :data:`layout.CONVERTER_SPLIT`),
  so a transformer of another width cannot load: such a file is recognised
  and refused, saying what would load it.
- **Lumina-Next**: diffusers has no single-file loader (LuminaNextDiT2DModel
  has no ``from_single_file``, and ``CHECKPOINT_KEY_NAMES`` has no entry).
  Its original files share Lumina 2's caption-embedder name, so diffusers'
  own inference would call one "lumina2"; this plugin tells them apart
  (Lumina-Next's ``attention.wq`` against Lumina 2's fused ``attention.qkv``)
  and refuses them, saying what loads them.
- **Z-Image** files also have ``cap_embedder.0.weight``: diffusers tells
  them apart by ``layers.0.adaLN_modulation.0.weight`` first, and so does
  this plugin (it claims none).

Tensor names and shapes read: ``x_embedder.weight`` (hidden, 4 x latent
channels), ``cap_embedder.1.weight`` (hidden, the text encoder's width),
``layers.0.attention.qkv.weight`` (q + 2 kv rows, hidden),
``layers.0.attention.q_norm.weight`` (the head width), and the numbers of
``layers.N``, ``noise_refiner.N`` and ``context_refiner.N`` blocks. Nothing
here imports torch but :func:`load`.
"""

from __future__ import annotations

import os

from autopipe_core import Detection, serialized
from autopipe_core.headers import SafetensorsHeader
from autopipe_core.toolkit.single_file import ConfigFolders, block_count, shape
from autopipe_core.toolkit.transformer_file import TransformerFile, load_transformer_file, model_from_file, prefixed_tensors

from . import LUMINA, LUMINA2, LUMINA2_CLASS
from .layout import (
    CAPTION_KEY,
    CAPTION_NORM_KEY,
    CONTEXT_REFINER,
    CONVERTER_SPLIT,
    NEXT_CAPTION_KEY,
    NEXT_QUERY_KEY,
    NOISE_REFINER,
    PATCH_KEY,
    QKV_KEY,
    ZIMAGE_KEY,
    strip_prefix,
)

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: a cold `autopipe resolve FILE` imports this module
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

FOLDERS = ConfigFolders(os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs"), "autopipe-lumina")

#: (hidden, layers, refiner layers, caption width, head width) -> the shipped config folder: Lumina-Image 2.0 (2.6 B;
#: Alpha-VLLM/Lumina-Image-2.0's transformer/config.json) and this plugin's tiny test file (autopipe_lumina.tiny).
MODELS = {(2304, 26, 2, 2304, 96): "lumina2-2b", (2304, 1, 1, 32, 768): "lumina2-tiny"}
#: The components a transformer file lacks, which the caller or config= supplies.
NOT_IN_THE_FILE = ("text_encoder", "tokenizer", "vae")
#: The diffusers repo of Lumina-Image 2.0, whose text encoder, tokenizer and VAE fit every Lumina 2 file (the one
#: diffusers' own single-file loader takes its configs from, DIFFUSERS_DEFAULT_PIPELINE_PATHS["lumina2"]).
DEFAULT_REPO = "Alpha-VLLM/Lumina-Image-2.0"
NEXT_REPO = "Alpha-VLLM/Lumina-Next-SFT-diffusers"

_NEXT_USE = (
    "diffusers 0.42.1 has no single-file loader for Lumina-Next (LuminaNextDiT2DModel has no from_single_file): load the "
    f"diffusers release ({NEXT_REPO}) with AutoPipelineForText2Image.from_pretrained, or convert the file with diffusers' "
    "scripts/convert_lumina_to_diffusers.py"
)
_OTHER_USE = (
    "diffusers 0.42.1 reads Lumina 2 files only for Lumina-Image 2.0's shapes: its converter (convert_lumina2_to_diffusers) "
    "splits every fused qkv into 2304 query and 768 key and value rows. Load this model from a diffusers folder of it instead "
    "(Lumina2Pipeline.from_pretrained), or convert the file with the authors' scripts"
)
_UNKNOWN_USE = (
    "autopipe-lumina ships the config of Lumina-Image 2.0 (2304 wide, 26 layers, 2 refiner layers, Gemma 2's 2304-wide captions); "
    "for this one load it with diffusers.Lumina2Transformer2DModel.from_single_file(path, config=<the diffusers repo it was "
    "trained from>, subfolder='transformer') and pass it as transformer= to Lumina2Pipeline.from_pretrained"
)


def config_folder(variant: str) -> Path:
    """The shipped config folder of a variant ("lumina2-2b"); ValueError naming those shipped for another."""
    return FOLDERS.folder(variant)


def _component(family: str, variant: str, reason: str, cls: str, use: str, confidence: float = 0.9) -> Detection:
    """A file recognised as one model that diffusers cannot load here as a pipeline: refused, saying what to do."""
    return Detection(family, variant, confidence, reason, component=f"diffusers:{cls}", use=use)


def detect(header: SafetensorsHeader) -> list[Detection]:
    """Lumina-Image 2.0 transformers in the authors' layout (Lumina-Next's and other widths refused with what to do); nothing else."""
    names = header.tensors
    prefix = strip_prefix(names)
    if prefix + CAPTION_NORM_KEY not in names or prefix + ZIMAGE_KEY in names:
        return []
    layers = block_count(header, prefix + "layers.")
    if prefix + NEXT_QUERY_KEY in names and prefix + NEXT_CAPTION_KEY in names:
        reason = f"a Lumina-Next transformer in the original layout ({layers} layers, separate wq/wk/wv and caption attention wk_y/wv_y)"
        return [_component(LUMINA, "lumina-next-original", reason, "LuminaNextDiT2DModel", _NEXT_USE)]
    qkv = shape(header, prefix + QKV_KEY, rank=2)
    patch = shape(header, prefix + PATCH_KEY, rank=2)
    caption = shape(header, prefix + CAPTION_KEY, rank=2)
    head = shape(header, prefix + "layers.0.attention.q_norm.weight", rank=1)
    refiners = block_count(header, prefix + NOISE_REFINER)
    if qkv is None or patch is None or caption is None or head is None or not refiners:
        return []
    hidden = patch[0]
    said = (
        f"x_embedder {list(patch)}, {layers} layers and {refiners} refiner layers {hidden} wide, fused qkv {list(qkv)}, "
        f"heads {head[0]} wide, captions {caption[1]} wide"
    )
    if (hidden, qkv[0]) != (CONVERTER_SPLIT[0], sum(CONVERTER_SPLIT)):
        reason = f"a Lumina 2 transformer in the original layout ({said}), not Lumina-Image 2.0's attention widths"
        return [_component(LUMINA2, "lumina2-original", reason, "Lumina2Transformer2DModel", _OTHER_USE)]
    contexts = block_count(header, prefix + CONTEXT_REFINER)
    variant = MODELS.get((hidden, layers, min(refiners, contexts), caption[1], head[0]))
    if variant is None:
        reason = f"a Lumina 2 transformer in the original layout ({said})"
        return [_component(LUMINA2, "lumina2-original", reason, "Lumina2Transformer2DModel", _UNKNOWN_USE, confidence=0.6)]
    what = "Lumina-Image 2.0 (2.6 B)" if variant == "lumina2-2b" else "autopipe-lumina's tiny test layout"
    where = "ComfyUI's layout, under model.diffusion_model." if prefix else "the authors' layout"
    reason = (
        f"a Lumina 2 transformer in {where} ({said}): {what}; the file has no text encoder or VAE diffusers can read: pass "
        f"text_encoder=, tokenizer= and vae=, or config=<a Lumina 2 diffusers folder or repo with their weights> (such as {DEFAULT_REPO})"
    )
    confidence = 0.95 if variant == "lumina2-2b" else 0.9
    return [Detection(
        LUMINA2, variant, confidence, reason, pipeline_class=f"diffusers:{LUMINA2_CLASS}", config=FOLDERS.folder_path(variant),
        prefixes={"transformer": prefix},
    )]


def transformer_weights(path: str, prefix: str) -> str | dict[str, Any]:
    """What to hand ``from_single_file``: the file itself when its names are bare, else its transformer's tensors, the prefix stripped.

    diffusers 0.42.1's converter cannot read ComfyUI's prefixed names: it
    strips ``model.diffusion_model.`` from the checkpoint, then pops each
    name from the list it took before stripping (``KeyError``; the suite
    checks that this is still so). A file with tensors outside `prefix`
    (ComfyUI's all-in-one, with a text encoder and a VAE in ComfyUI's own
    layout) would also hand them all to the converter: only the
    transformer's are read.
    """
    return prefixed_tensors(path, prefix) if prefix else path


@serialized
def load_transformer(path: str, folder: str, prefix: str = "", dtype: Any = None, local_files_only: bool = True) -> Any:
    """``Lumina2Transformer2DModel.from_single_file`` of `path` with the config in `folder` (a diffusers folder with transformer/config.json)."""
    from diffusers import Lumina2Transformer2DModel

    return model_from_file(Lumina2Transformer2DModel, transformer_weights(path, prefix), folder, dtype, local_files_only)


#: What :func:`load` needs of the toolkit's transformer-file loader: where the rest of the pipeline comes from, and what to say without it.
TRANSFORMER_FILE = TransformerFile(
    folders=FOLDERS, family=LUMINA2, tiny_variant="lumina2-tiny", holds="a Lumina 2 transformer alone",
    supplies=f"Gemma 2 2B, its tokenizer and FLUX.1's VAE, e.g. the components of Lumina2Pipeline.from_pretrained({DEFAULT_REPO!r})",
    checkpoint="a Lumina 2 diffusers folder or repo id", example=DEFAULT_REPO, load_transformer=load_transformer, others=NOT_IN_THE_FILE,
)


def load(family: str, pipeline_class: type, path: str, detection: Detection, kwargs: dict[str, Any]) -> Any:
    """The ``autopipe_from_single_file`` hook: the transformer from the file, the other components from the caller or ``config=``.

    The transformer loads with ``Lumina2Transformer2DModel.from_single_file``
    and the config this plugin ships for its size (diffusers converts the
    weights), in the dtype the keywords give it. The text encoder, tokenizer
    and VAE are the caller's (``text_encoder=``, ``tokenizer=``, ``vae=``),
    else loaded from ``config=`` when it names a Lumina 2 diffusers folder or
    hub repo (``local_files_only=True`` unless the caller says otherwise: a
    repo must be in the cache); the scheduler comes from there too, else from
    the shipped folder (Lumina-Image 2.0's: flow-match Euler, shift 6). For
    the plugin's tiny test layout they come from the tiny Lumina 2
    checkpoint. What is still missing is an
    :class:`~autopipe_core.UnsupportedModelError` that says what to pass,
    raised before a byte of the file is read (``toolkit.single_file.load_transformer_file``).
    """
    return load_transformer_file(TRANSFORMER_FILE, pipeline_class, path, detection, kwargs)
