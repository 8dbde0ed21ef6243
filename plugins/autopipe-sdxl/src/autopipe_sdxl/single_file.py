"""Recognising SDXL single-file checkpoints (base, refiner, inpainting) from their header, and loading them offline.

In the original (SGM) layout the UNet is ``model.diffusion_model.*`` and the
text encoders are ``conditioner.embedders.N.*``. What tells them apart:

- SDXL's UNet embeds its micro-conditioning with ``label_emb``:
  ``model.diffusion_model.label_emb.0.0.weight`` is (1280, 2816) for the base
  (pooled text 1280 + 6 time ids x 256) and (1536, 2560) for the refiner
  (1280 + 5 x 256, and 384 model channels, so a 1536-wide time embedding);
- the base carries two text encoders, CLIP ViT-L as ``conditioner.embedders.0.transformer.*``
  and OpenCLIP ViT-bigG as ``conditioner.embedders.1.model.*``; the refiner
  only bigG, as ``conditioner.embedders.0.model.*``;
- an inpainting checkpoint's first convolution takes 9 input channels;
- autopipe-sdxl's tiny test layout ("xl-tiny", 16 model channels) has a
  (64, 2816) ``label_emb``; its configs ship too, for the tests.

Playground v2.5 has the SDXL architecture but another noise schedule (its
``edm_mean`` tensor says so): it is not claimed here, since these configs
would load it with the wrong scheduler.

v-prediction SDXL fine-tunes (NoobAI-XL v-pred and its many merges) have the
base's tensors too; they say what they are with the ``v_pred`` marker tensor,
and ``ztsnr`` beside it when trained with zero terminal SNR (as ComfyUI
writes and reads them), or with model-spec / kohya metadata. The core's shared
reading, :func:`autopipe_core.prediction.read`, turns that into
``Detection.scheduler`` (``prediction_type="v_prediction"``, and
``rescale_betas_zero_snr=True`` with ``timestep_spacing="trailing"``), which
the core applies to the shipped EulerDiscreteScheduler at load unless the
caller passes a scheduler or the entries; the reason says what was found.

Nothing here imports torch. The tokenizers are built at load time from the
CLIP BPE merges shipped in ``configs/clip-bpe`` (MIT, see its LICENSE).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from autopipe_core import Detection
from autopipe_core.headers import SafetensorsHeader
from autopipe_core.prediction import Prediction
from autopipe_core.prediction import read as read_prediction

from . import BASE_ADD_EMBED_DIM, FAMILY, REFINER_ADD_EMBED_DIM

CONFIGS = Path(__file__).parent / "configs"

UNET = "model.diffusion_model."
CONV_IN = UNET + "input_blocks.0.0.weight"
LABEL_EMB = UNET + "label_emb.0.0.weight"
BASE_TEXT = "conditioner.embedders.1.model."  # OpenCLIP bigG, second encoder of the base
REFINER_TEXT = "conditioner.embedders.0.model."  # OpenCLIP bigG, only encoder of the refiner
BASE_LABEL = (1280, BASE_ADD_EMBED_DIM)
REFINER_LABEL = (1536, REFINER_ADD_EMBED_DIM)
TINY_LABEL = (64, BASE_ADD_EMBED_DIM)  # autopipe-sdxl's tiny test layout: 16 model channels, a 64-wide time embedding


def config_folder(variant: str) -> Path:
    """The folder of component configs shipped for a variant ("xl-base", "xl-refiner", "xl-inpainting")."""
    folder = CONFIGS / variant
    if not (folder / "model_index.json").is_file():
        known = ", ".join(sorted(p.name for p in CONFIGS.iterdir() if (p / "model_index.json").is_file()))
        raise ValueError(f"autopipe-sdxl ships no config for {variant!r}; it has: {known}")
    return folder


#: Where each component's tensors are in the original layout (``autopipe plan`` counts a file per component):
#: the refiner's only text encoder is bigG, embedders.0, which diffusers loads as text_encoder_2.
PREFIXES = {"unet": "model.diffusion_model.", "vae": "first_stage_model.", "text_encoder": "conditioner.embedders.0.", "text_encoder_2": "conditioner.embedders.1."}
REFINER_PREFIXES = {"unet": "model.diffusion_model.", "vae": "first_stage_model.", "text_encoder_2": "conditioner.embedders.0."}


def _detection(variant: str, cls: str, confidence: float, reason: str, prediction: Prediction | None = None) -> Detection:
    prefixes = REFINER_PREFIXES if "refiner" in variant else PREFIXES
    prediction = prediction or Prediction()
    if prediction.type is not None:
        reason += "; " + prediction.describe()
    elif prediction.found:
        reason += f"; epsilon, as SDXL was released ({prediction.source})"
    else:
        reason += "; epsilon, as SDXL was released: the file states no prediction type (no model-spec or kohya metadata, no v_pred marker)"
    return Detection(
        FAMILY, variant, confidence, reason, pipeline_class=f"diffusers:{cls}", config=str(config_folder(variant)),
        prefixes=prefixes, scheduler=prediction.scheduler_config(),
    )


def detect(header: SafetensorsHeader) -> list[Detection]:
    """SDXL base, refiner and inpainting checkpoints; nothing else."""
    if "edm_mean" in header.tensors:
        return []
    label = header.shape(LABEL_EMB)
    conv_in = header.shape(CONV_IN)
    has_base_text, has_refiner_text = header.has_prefix(BASE_TEXT), header.has_prefix(REFINER_TEXT)
    if label is not None:
        label = tuple(label)
        if label == BASE_LABEL:
            kind, why = "base", f"label_emb.0.0.weight is {list(label)}: pooled text 1280 + 6 time ids x 256"
        elif label == REFINER_LABEL:
            kind, why = "refiner", f"label_emb.0.0.weight is {list(label)}: pooled text 1280 + 5 conditioning numbers x 256 (aesthetic score)"
        elif label == TINY_LABEL:
            reason = f"autopipe-sdxl's tiny test layout: label_emb.0.0.weight is {list(label)}"
            return [_detection("xl-tiny", "StableDiffusionXLPipeline", 0.9, reason, read_prediction(header))]
        else:
            return []
    elif has_base_text and conv_in is not None:
        kind, why = "base", f"it has the base's two text encoders ({BASE_TEXT}*) but no UNet label_emb"
    elif has_refiner_text and not has_base_text and conv_in is not None:
        kind, why = "refiner", f"it has only the refiner's text encoder ({REFINER_TEXT}*) and no UNet label_emb"
    else:
        return []
    inpainting = conv_in is not None and len(conv_in) == 4 and conv_in[1] == 9
    confidence = 0.95 if conv_in is not None else 0.5
    if not has_base_text and not has_refiner_text:
        why += "; the file has no text encoders (conditioner.*): pass text_encoder=/text_encoder_2= when loading"
    prediction = read_prediction(header)
    if kind == "refiner":
        return [_detection("xl-refiner", "StableDiffusionXLImg2ImgPipeline", confidence, "SDXL refiner: " + why, prediction)]
    if inpainting:
        why = f"SDXL inpainting: {why}; input_blocks.0.0.weight takes 9 channels (latents, mask, masked image)"
        return [_detection("xl-inpainting", "StableDiffusionXLInpaintPipeline", confidence, why, prediction)]
    return [_detection("xl-base", "StableDiffusionXLPipeline", confidence, "SDXL base: " + why, prediction)]


# Loading: build the tokenizers the config folders name from the shipped merges.

def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible map from bytes to printable characters (the BPE's base symbols)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(printable, map(chr, chars)))


def clip_bpe() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """CLIP's vocabulary (49408 entries) and merges, derived from the shipped merges the way CLIP's SimpleTokenizer does."""
    lines = gzip.decompress((CONFIGS / "clip-bpe" / "merges.txt.gz").read_bytes()).decode("utf-8").split("\n")
    merges = [tuple(line.split(" ", 1)) for line in lines[1:] if line]
    base = list(_bytes_to_unicode().values())
    pieces = base + [b + "</w>" for b in base] + ["".join(m) for m in merges] + ["<|startoftext|>", "<|endoftext|>"]
    return {piece: i for i, piece in enumerate(pieces)}, merges


def tokenizer(folder: Path) -> Any:
    """The CLIPTokenizer a config folder's tokenizer_config.json describes, over the shipped BPE."""
    from transformers import CLIPTokenizer

    config = json.loads((folder / "tokenizer_config.json").read_text())
    vocab, merges = clip_bpe()
    special = {k: config[k] for k in ("bos_token", "eos_token", "unk_token", "pad_token") if k in config}
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=config.get("model_max_length", 77), **special)


def load(pipeline_class: type, path: str, detection: Detection, kwargs: dict[str, Any]) -> Any:
    """diffusers' from_single_file over the shipped configs, with both tokenizers built from the shipped BPE."""
    config = Path(kwargs.get("config") or detection.config or "")
    for name in ("tokenizer", "tokenizer_2"):
        folder = config / name
        if name not in kwargs and (folder / "tokenizer_config.json").is_file() and not (folder / "vocab.json").is_file():
            kwargs[name] = tokenizer(folder)
    return _from_single_file(pipeline_class, path, kwargs)


def _from_single_file(pipeline_class: type, path: str, kwargs: dict[str, Any]) -> Any:
    """diffusers' from_single_file; a component missing from the file becomes a typed error saying what to pass."""
    from diffusers.loaders.single_file_utils import SingleFileComponentError

    try:
        return pipeline_class.from_single_file(path, **kwargs)
    except SingleFileComponentError as exc:
        from autopipe_core import UnsupportedModelError

        raise UnsupportedModelError(f"{path}: {exc}") from exc
