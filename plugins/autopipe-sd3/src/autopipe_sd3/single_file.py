"""Recognising SD 3 and 3.5 single-file checkpoints from their header, and loading them offline.

Stability AI's single files (``sd3_medium.safetensors``, ``sd3_medium_incl_clips.safetensors``,
``sd3_medium_incl_clips_t5xxlfp8.safetensors``, ``sd3.5_medium.safetensors``,
``sd3.5_large.safetensors``, ``sd3.5_large_turbo.safetensors``) and the
fine-tunes saved like them hold the MMDiT under ``model.diffusion_model.``
(diffusers also takes it bare), the VAE under ``first_stage_model.``, and,
in some, the text encoders under ``text_encoders.clip_l.``,
``text_encoders.clip_g.`` and ``text_encoders.t5xxl.``: the layout diffusers'
``from_single_file`` converts (``diffusers/loaders/single_file_utils.py``:
``CHECKPOINT_KEY_NAMES["sd3"]``, ``["sd35_large"]``, ``infer_diffusers_model_type``).

What the header says about the transformer, and how the variants differ:

| fact | read from | SD 3 medium | SD 3.5 medium | SD 3.5 large (and large turbo) |
| --- | --- | --- | --- | --- |
| width | ``joint_blocks.0.context_block.adaLN_modulation.1.bias``: 6 x width | 1536 (9216) | 1536 (9216) | 2432 (14592) |
| depth | the number of ``joint_blocks.N`` | 24 | 24 | 38 |
| position table | ``pos_embed``: (1, side x side, width) | 192 x 192 | 384 x 384 | 192 x 192 |
| image-only attention | blocks with ``x_block.attn2.qkv.weight`` | none | 0 to 12 | none |
| q/k RMS norms | ``x_block.attn.ln_q.weight`` | no | yes | yes |

diffusers tells them apart the same way (the adaLN width 9216 and the
position table for the two mediums, block 37 for large). Here every fact is
compared with the transformer config of each folder this plugin ships, and a
file is claimed only when one matches exactly, since loading converts the
weights into a model built from that config. SD 3.5 Large Turbo has exactly
the tensors of SD 3.5 Large: the header cannot tell them apart, and the
configs are the same (the turbo is called with ``guidance_scale=0`` and 4
steps). A transformer taking 33 input channels (``x_embedder.proj.weight``)
would be an inpainting-only one; none is published and no config ships for
one, so such a file is not claimed.

Which text encoders the file holds decides how it loads (:func:`load`): the
CLIP encoders and T5 come from the file where it has them; without T5
(``sd3_medium_incl_clips``: released to run without it) the pipeline loads
with ``text_encoder_3=None``; a file with T5 needs T5's tokenizer, whose
vocabulary this plugin does not ship, so it says to pass ``tokenizer_3=`` (or
``text_encoder_3=None``); a file with no CLIP encoders says to pass them.

SD3 is a flow-matching model: a prediction type stated in the file's
metadata (``autopipe_core.prediction``) does not apply to it, and the reason
says so when there is one. Nothing here imports torch.
"""

from __future__ import annotations

import functools
import os
from collections import namedtuple

from autopipe_core import Detection
from autopipe_core.errors import UnsupportedModelError
from autopipe_core.headers import SafetensorsHeader
from autopipe_core.prediction import read as read_prediction
from autopipe_core.toolkit.single_file import LDM_VAE, VOCABULARY_FILES, ConfigFolders, block_count, default_load, shape

from . import FAMILY, LATENT_CHANNELS, MODULATION, TRANSFORMER_PREFIXES  # MODULATION, TRANSFORMER_PREFIXES: the detect keys

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: a cold `autopipe resolve FILE` imports this module
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any, Mapping

CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs")
FOLDERS = ConfigFolders(CONFIGS, "autopipe-sd3")

#: Where each text encoder's tensors are, and the tensor that says it is there (diffusers' own markers).
CLIP_L = "text_encoders.clip_l."
CLIP_G = "text_encoders.clip_g."
T5 = "text_encoders.t5xxl."
T5_MARKER = T5 + "transformer.shared.weight"

#: Variant -> how a reason names it.
TITLES: Mapping[str, str] = {
    "sd3-medium": "SD 3 medium",
    "sd35-medium": "SD 3.5 medium",
    "sd35-large": "SD 3.5 large (or large turbo: the same tensors)",
    "sd3-tiny": "autopipe-sd3's tiny test layout",
}


class MMDiT(namedtuple("MMDiT", ("prefix", "width", "depth", "positions", "dual", "qk_norm", "in_channels"))):
    """What a header says about an SD3 transformer: its key prefix, width, depth, position table side, the blocks
    with a second (image-only) attention, whether queries and keys are RMS-normed, and its input channels.

    ``prefix`` a str, ``width`` and ``depth`` ints, ``positions`` an int or None, ``dual`` a tuple of block numbers,
    ``qk_norm`` a bool, ``in_channels`` an int or None. A frozen named tuple, not a dataclass, as the core's
    :class:`~autopipe_core.headers.TensorInfo` is: detection builds it in a cold ``autopipe resolve FILE``.
    """

    __slots__ = ()

    @classmethod
    def of_config(cls, config: Mapping[str, Any]) -> "MMDiT":
        """The same facts from a transformer config.json (SD3Transformer2DModel's keys)."""
        return cls(
            "", config["num_attention_heads"] * config["attention_head_dim"], config["num_layers"], config.get("pos_embed_max_size"),
            tuple(config.get("dual_attention_layers") or ()), config.get("qk_norm") is not None, config.get("in_channels"),
        )

    def same_architecture(self, other: "MMDiT") -> bool:
        return (self.width, self.depth, self.positions, self.dual, self.qk_norm, self.in_channels) == (
            other.width, other.depth, other.positions, other.dual, other.qk_norm, other.in_channels
        )

    def describe(self) -> str:
        table = f", a {self.positions}x{self.positions} position table" if self.positions else ""
        dual = f", image-only attention in blocks {self.dual[0]} to {self.dual[-1]}" if self.dual else ""
        return (
            f"{self.depth} joint blocks {self.width} wide ({MODULATION} is [{6 * self.width}]){table}"
            f"{', RMS-normed queries and keys' if self.qk_norm else ''}{dual}"
        )


def read_mmdit(header: SafetensorsHeader) -> MMDiT | None:
    """The SD3 transformer in `header` (under ``model.diffusion_model.`` or bare), or None when the file has none."""
    prefix = next((p for p in TRANSFORMER_PREFIXES if header.shape(p + MODULATION) is not None), None)
    if prefix is None:
        return None
    modulation = shape(header, prefix + MODULATION, rank=1)
    if modulation is None or modulation[0] % 6:
        return None
    depth = block_count(header, prefix + "joint_blocks.")  # at least 1: MODULATION is in block 0
    dual = tuple(i for i in range(depth) if prefix + f"joint_blocks.{i}.x_block.attn2.qkv.weight" in header.tensors)
    table = shape(header, prefix + "pos_embed", rank=3)
    side = round(table[1] ** 0.5) if table is not None else None
    patches = shape(header, prefix + "x_embedder.proj.weight", rank=4)
    return MMDiT(
        prefix, modulation[0] // 6, depth, side if side is not None and side * side == table[1] else None, dual,
        prefix + "joint_blocks.0.x_block.attn.ln_q.weight" in header.tensors, patches[1] if patches is not None else None,
    )


def config_folder(variant: str) -> Path:
    """The config folder shipped for a variant ("sd3-medium", "sd35-medium", "sd35-large", "sd3-tiny"); ValueError naming them otherwise."""
    return FOLDERS.folder(variant)


def _matching_variant(mmdit: MMDiT) -> str | None:
    return next((name for name, shipped in _shipped() if shipped.same_architecture(mmdit)), None)


@functools.lru_cache(maxsize=None)
def _shipped() -> tuple[tuple[str, MMDiT], ...]:
    """Each shipped folder's transformer, read once a process: a scan asks for every SD3 file."""
    return tuple((name, MMDiT.of_config(FOLDERS.config(name, "transformer"))) for name in FOLDERS.names())


def _text_encoders(header: SafetensorsHeader) -> tuple[dict[str, str], str]:
    """The text encoders' key prefixes to count (those the pipeline loads from the file, or needs passed) and the words for the reason."""
    clip_l, clip_g, t5 = header.has_prefix(CLIP_L), header.has_prefix(CLIP_G), T5_MARKER in header.tensors
    prefixes = {"text_encoder": CLIP_L, "text_encoder_2": CLIP_G}
    if t5:
        prefixes["text_encoder_3"] = T5
    if clip_l and clip_g:
        said = "CLIP-L, CLIP-G and T5-XXL" if t5 else "CLIP-L and CLIP-G, no T5: it loads without text_encoder_3 unless you pass it and tokenizer_3"
        return prefixes, f"text encoders in the file: {said}"
    missing = [name for name, there in (("text_encoder", clip_l), ("text_encoder_2", clip_g)) if not there]
    t5_said = "T5-XXL is in the file" if t5 else "and text_encoder_3= with tokenizer_3= for T5, or it loads without"
    return prefixes, f"the file has no {', '.join(missing)}: pass {'= and '.join(missing)}= when loading ({t5_said})"


def _flow_clause(header: SafetensorsHeader) -> str:
    prediction = read_prediction(header)
    if not prediction.found:
        return "; flow matching, as SD3 was released"
    return f"; flow matching, as SD3 was released: the file also says {prediction.source}, which a flow-matching model does not use (ignored)"


def detect(header: SafetensorsHeader) -> list[Detection]:
    """SD 3 medium, 3.5 medium, 3.5 large (and large turbo), and this plugin's tiny test layout; nothing else."""
    mmdit = read_mmdit(header)
    if mmdit is None or mmdit.in_channels not in (None, LATENT_CHANNELS):
        return []
    variant = _matching_variant(mmdit)
    if variant is None:
        return []
    prefixes, text = _text_encoders(header)
    has_vae = header.has_prefix(LDM_VAE)
    vae = "" if has_vae else f"; the file has no VAE ({LDM_VAE}*): pass vae= when loading"
    reason = f"{TITLES.get(variant, variant)}: {mmdit.describe()}; {text}{vae}{_flow_clause(header)}"
    return [
        Detection(
            FAMILY, variant, 0.95 if has_vae else 0.9, reason, pipeline_class="diffusers:StableDiffusion3Pipeline",
            config=FOLDERS.folder_path(variant), prefixes={"transformer": mmdit.prefix, "vae": LDM_VAE, **prefixes},
        )
    ]


def _has_vocabulary(folder: Path) -> bool:
    return any((folder / name).is_file() for name in (*VOCABULARY_FILES, "spiece.model"))


def load(pipeline_class: type, path: str, detection: Detection, kwargs: dict[str, Any]) -> Any:
    """Load the file with T5 as the file and the caller allow; otherwise the core's default load.

    - the caller's ``text_encoder_3=None`` (or the plan's, where T5 was left
      out to fit): ``tokenizer_3=None`` too, unless given;
    - a file without T5 and no ``text_encoder_3=``: both None, so SD3 encodes
      with its CLIP encoders alone (as such files are released to run);
    - a file with T5 and no ``tokenizer_3=``: the config folder must hold T5's
      vocabulary (the tiny one does); the full-size ones hold none, so an
      UnsupportedModelError says to pass ``tokenizer_3=`` or ``text_encoder_3=None``.
    """
    kwargs = dict(kwargs)
    has_t5 = "text_encoder_3" in detection.prefixes
    if "text_encoder_3" in kwargs:
        if kwargs["text_encoder_3"] is None:
            kwargs.setdefault("tokenizer_3", None)
    elif not has_t5:
        kwargs.setdefault("text_encoder_3", None)
        kwargs.setdefault("tokenizer_3", None)
    elif "tokenizer_3" not in kwargs:
        from pathlib import Path

        config = kwargs.get("config") or detection.config
        if config is not None and Path(config).is_dir() and not _has_vocabulary(Path(config) / "tokenizer_3"):
            raise UnsupportedModelError(
                f"{path} holds T5-XXL (text_encoder_3) but autopipe-sd3 ships no T5 tokenizer for it (its 32,000 SentencePiece "
                "pieces are not in the plugin, which loads offline). Pass tokenizer_3=T5TokenizerFast.from_pretrained(...) of any SD3 "
                "diffusers repo (subfolder='tokenizer_3') or of google/t5-v1_1-xxl, or text_encoder_3=None to run without T5 "
                "(SD3 then encodes prompts with its two CLIP encoders alone)"
            )
    return default_load(pipeline_class, path, detection, kwargs)
