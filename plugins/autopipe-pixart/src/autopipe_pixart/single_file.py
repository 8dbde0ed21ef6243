"""Single files of this lineage: Sana transformers in the authors' layout, recognised from the header and loaded offline.

What diffusers 0.42.1's ``from_single_file`` reads of these families, and so
what this plugin recognises (``diffusers/loaders/single_file_utils.py``):

- **Sana**: a transformer alone, in the original layout of NVlabs/Sana's
  checkpoints (diffusers calls a file "sana" when it has
  ``blocks.0.cross_attn.q_linear.weight``), loaded by
  ``SanaTransformer2DModel.from_single_file``. No pipeline class of Sana has
  ``from_single_file``, and the file holds neither the Gemma 2 text encoder
  nor the DC-AE. A file is claimed as a SanaPipeline checkpoint (so
  ``enable_pag=True`` and ``controlnet=`` select their classes as for a
  folder) and loaded by :func:`load`: the transformer from the file with the
  config this plugin ships for its size, the other components from the
  caller (``text_encoder=``, ``tokenizer=``, ``vae=``) or from ``config=``
  naming a Sana diffusers folder or repo that has their weights.
- **Sana 1.5 and Sana Sprint** files are recognised and refused: diffusers'
  converter (``convert_sana_transformer_to_diffusers``) drops their
  query/key norms and Sprint's guidance embedder, so it cannot load them.
- **PixArt-α and PixArt-Σ**: diffusers has no single-file support
  (PixArtTransformer2DModel has no ``from_single_file``, and
  ``CHECKPOINT_KEY_NAMES`` has no PixArt entry). Their original files share
  Sana's cross-attention names, so diffusers' own inference would call one
  "sana"; this plugin tells them apart (PixArt's ``mlp.fc1`` against Sana's
  ``mlp.inverted_conv``) and refuses them, saying what loads them.

What tells Sana's checkpoints apart, from the header alone:
``x_embedder.proj.weight`` is (width, 32, 1, 1), 1152 wide for the 0.6B and
2240 for the 1.6B model; ``blocks.N`` counts 28 and 20 layers; the
``pos_embed`` buffer, (1, tokens, width), gives the trained side: 256 tokens
for 512 px, 1,024 for 1024 px, 4,096 for 2K and 16,384 for 4K. The config
folders under ``configs/`` carry those numbers (diffusers'
``scripts/convert_sana_to_diffusers.py``: heads, cross-attention widths,
``interpolation_scale`` 1.0 at 2K and 2.0 at 4K, flow shift 6 at 4K). Nothing
here imports torch but :func:`load`.
"""

from __future__ import annotations

import math
import os

from autopipe_core import Detection
from autopipe_core.headers import SafetensorsHeader
from autopipe_core.toolkit.single_file import ConfigFolders, block_count, shape
from autopipe_core.toolkit.transformer_file import TransformerFile, load_transformer_file, model_from_file

from . import PIXART_ALPHA, PIXART_SIGMA, SANA, SANA_SAMPLE_SIZE, SANA_SPRINT  # SANA_SAMPLE_SIZE: the tiny test layout's latent side
from .layout import (
    CROSS_ATTN_KEY,
    GUIDANCE_KEY,
    PATCH_KEY,
    PIXART_MLP_KEY,
    PIXART_SIZE_KEY,
    POS_EMBED_KEY,
    QK_NORM_KEY,
    SANA_MLP_KEY,
    strip_prefix,
)

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: a cold `autopipe resolve FILE` imports this module
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

FOLDERS = ConfigFolders(os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs"), "autopipe-pixart")

#: (transformer width, blocks) -> the model's name in the config folders: Sana 0.6B and 1.6B, and this plugin's tiny test layout.
SANA_MODELS = {(1152, 28): "600m", (2240, 20): "1600m", (16, 2): "tiny"}
#: Latent side -> the size in the config folders' names (the tiny layout has one size, its own).
SANA_SIDES = {16: "512", 32: "1024", 64: "2k", 128: "4k"}
#: The components a Sana transformer file lacks, which the caller or config= supplies.
NOT_IN_THE_FILE = ("text_encoder", "tokenizer", "vae")
#: A Sana diffusers repo whose text encoder, tokenizer and VAE fit every Sana transformer file (the one diffusers' own
#: single-file loader takes Sana's configs from, DIFFUSERS_DEFAULT_PIPELINE_PATHS["sana"]).
DEFAULT_REPO = "Efficient-Large-Model/Sana_1600M_1024px_diffusers"

_CONVERT = (
    "diffusers 0.42.1 cannot load it from a single file: its converter (convert_sana_transformer_to_diffusers) "
    "drops {what}. Load the diffusers release of the model instead ({repo}), or convert the file with the authors' "
    "scripts (diffusers' scripts/convert_sana_to_diffusers.py)"
)
_PIXART = (
    "diffusers 0.42.1 has no single-file loader for PixArt (PixArtTransformer2DModel has no from_single_file): load the "
    "diffusers release ({repo}), or convert the file with diffusers' scripts/convert_pixart_{kind}_to_diffusers.py"
)


def config_folder(variant: str) -> Path:
    """The shipped config folder of a Sana variant ("sana-1600m-1024"); ValueError naming those shipped for another."""
    return FOLDERS.folder(variant)


def _side(header: SafetensorsHeader, prefix: str, width: int) -> int | None:
    """The latent side the ``pos_embed`` buffer was made for, (1, side**2, width); None when it is absent or of another shape."""
    found = shape(header, prefix + POS_EMBED_KEY, rank=3)
    if found is None or found[0] != 1 or found[2] != width:
        return None
    side = math.isqrt(found[1])
    return side if side * side == found[1] else None


def _component(family: str, variant: str, confidence: float, reason: str, cls: str, use: str) -> Detection:
    """A file recognised as one model that diffusers cannot or need not load as a pipeline: refused, saying what to do."""
    return Detection(family, variant, confidence, reason, component=f"diffusers:{cls}", use=use)


def _pixart(header: SafetensorsHeader, prefix: str) -> list[Detection]:
    patch = shape(header, prefix + PATCH_KEY, rank=4)
    layers = block_count(header, prefix + "blocks.")
    micro = prefix + PIXART_SIZE_KEY in header.tensors
    family, kind = (PIXART_ALPHA, "alpha") if micro else (PIXART_SIGMA, "sigma")
    repo = "PixArt-alpha/PixArt-XL-2-1024-MS" if micro else "PixArt-alpha/PixArt-Sigma-XL-2-1024-MS"
    said = (
        "PixArt-α at 1024 px (it embeds the image's size and aspect ratio, csize_embedder)" if micro
        else "PixArt-Σ or PixArt-α below 1024 px (no size embedders; the two have the same tensors)"
    )
    reason = f"a PixArt transformer in the original layout, {layers} blocks, patch embedding {list(patch or ())}: {said}"
    return [_component(family, "pixart-original", 0.9, reason, "PixArtTransformer2DModel", _PIXART.format(repo=repo, kind=kind))]


def detect(header: SafetensorsHeader) -> list[Detection]:
    """Sana transformers in the original layout (PixArt's and Sana 1.5's and Sprint's refused with what to do); nothing else."""
    prefix = strip_prefix(header.tensors)
    if prefix + CROSS_ATTN_KEY not in header.tensors:
        return []
    if prefix + PIXART_MLP_KEY in header.tensors:
        return _pixart(header, prefix)
    patch = shape(header, prefix + PATCH_KEY, rank=4)
    if prefix + SANA_MLP_KEY not in header.tensors or patch is None or patch[2:] != (1, 1):
        return []
    width, channels, layers = patch[0], patch[1], block_count(header, prefix + "blocks.")
    said = f"x_embedder.proj.weight is {list(patch)}, {layers} blocks"
    if prefix + GUIDANCE_KEY in header.tensors:
        reason = f"a Sana Sprint transformer in the original layout ({said}, a guidance embedder cfg_embedder)"
        use = _CONVERT.format(what="its guidance embedder and query/key norms", repo="e.g. Efficient-Large-Model/Sana_Sprint_1.6B_1024px_diffusers")
        return [_component(SANA_SPRINT, "sana-sprint-original", 0.9, reason, "SanaTransformer2DModel", use)]
    if prefix + QK_NORM_KEY in header.tensors:
        reason = f"a SANA 1.5 transformer in the original layout ({said}, query/key norms q_norm, k_norm)"
        use = _CONVERT.format(what="its query/key norms", repo="e.g. Efficient-Large-Model/SANA1.5_1.6B_1024px_diffusers")
        return [_component(SANA, "sana-1.5-original", 0.9, reason, "SanaTransformer2DModel", use)]
    side = _side(header, prefix, width)
    model = SANA_MODELS.get((width, layers))
    if model == "tiny":
        variant = "sana-tiny" if side == SANA_SAMPLE_SIZE else None
    else:
        variant = f"sana-{model}-{SANA_SIDES[side]}" if model and side in SANA_SIDES else None
    config = FOLDERS.get_path(variant)
    if config is None:
        reason = f"a Sana transformer in the original layout ({said}, pos_embed {list(shape(header, prefix + POS_EMBED_KEY) or ())})"
        use = (
            "autopipe-pixart ships configs for Sana 0.6B (1152 wide, 28 blocks) at 512 and 1024 px and Sana 1.6B (2240 wide, "
            "20 blocks) at 512 px, 1024 px, 2K and 4K; for this one load it with diffusers.SanaTransformer2DModel.from_single_file("
            "path, config=<the diffusers repo it was trained from>, subfolder='transformer') and pass it as transformer="
        )
        return [_component(SANA, "sana-original", 0.6, reason, "SanaTransformer2DModel", use)]
    pixels = f"{side * 32} px" if model != "tiny" else "autopipe-pixart's tiny test layout"
    reason = (
        f"a Sana transformer in the original layout ({said}, {channels} latent channels, pos_embed for {side}x{side} latents: "
        f"{pixels}); the file has no text encoder or VAE: pass text_encoder=, tokenizer= and vae=, or config=<a Sana diffusers "
        f"folder or repo with their weights> (such as {DEFAULT_REPO})"
    )
    prefixes = {"transformer": prefix, **{c: f"{c}." for c in ("text_encoder", "vae")}}
    confidence = 0.95 if model != "tiny" else 0.9
    return [Detection(SANA, variant, confidence, reason, pipeline_class="diffusers:SanaPipeline", config=config, prefixes=prefixes)]


def load_transformer(path: str, folder: str, prefix: str = "", dtype: Any = None, local_files_only: bool = True) -> Any:
    """``SanaTransformer2DModel.from_single_file`` of `path` with the transformer config in `folder`; diffusers' converter
    reads the file as it is, ComfyUI's prefix included (`prefix` is not needed)."""
    from diffusers import SanaTransformer2DModel

    return model_from_file(SanaTransformer2DModel, path, folder, dtype, local_files_only)


#: What :func:`load` needs of the toolkit's transformer-file loader: where the rest of the pipeline comes from, and what to say without it.
TRANSFORMER_FILE = TransformerFile(
    folders=FOLDERS, family=SANA, tiny_variant="sana-tiny", holds="a Sana transformer alone",
    supplies=f"Gemma 2 2B, its tokenizer and DC-AE f32c32, e.g. the components of SanaPipeline.from_pretrained({DEFAULT_REPO!r})",
    checkpoint="a Sana diffusers folder or repo id", example=DEFAULT_REPO, load_transformer=load_transformer, others=NOT_IN_THE_FILE,
    config_from_source=True,
)


def load(family: str, pipeline_class: type, path: str, detection: Detection, kwargs: dict[str, Any]) -> Any:
    """The ``autopipe_from_single_file`` hook: the transformer from the file, the other components from the caller or ``config=``.

    The transformer loads with ``SanaTransformer2DModel.from_single_file(path,
    config=<config='s folder when it has a transformer config, else the shipped folder for its size>)``
    (diffusers converts the weights), in the dtype the keywords give it. The text encoder, tokenizer
    and VAE are the caller's (``text_encoder=``, ``tokenizer=``, ``vae=``),
    else loaded from ``config=`` when it names a Sana diffusers folder or hub
    repo (with ``local_files_only=True`` unless the caller says otherwise: a
    repo must be in the cache); the shipped folder has configs only. For the
    plugin's tiny test layout they come from the tiny Sana checkpoint. What is
    still missing is an :class:`~autopipe_core.UnsupportedModelError` that
    says what to pass (``toolkit.single_file.load_transformer_file``).
    """
    return load_transformer_file(TRANSFORMER_FILE, pipeline_class, path, detection, kwargs)
