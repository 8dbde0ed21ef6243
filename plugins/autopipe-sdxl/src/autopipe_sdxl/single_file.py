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

Nothing here imports torch. Loading is the core's default
(:func:`autopipe_core.toolkit.single_file.default_load`): it builds both
tokenizers from the config folders' tokenizer_config.json over the CLIP merges
the core ships, so this plugin has no ``autopipe_from_single_file``.
"""

from __future__ import annotations

import os

from autopipe_core import Detection
from autopipe_core.headers import SafetensorsHeader
from autopipe_core.prediction import Prediction
from autopipe_core.prediction import read as read_prediction
from autopipe_core.toolkit.single_file import LDM_UNET, LDM_VAE, ConfigFolders, prediction_clause, shape
from autopipe_core.toolkit.single_file import default_load as load  # noqa: F401 - its name here before the core's default did it

from . import BASE_ADD_EMBED_DIM, CONV_IN, FAMILY, LABEL_EMB, REFINER_ADD_EMBED_DIM  # CONV_IN, LABEL_EMB: the detect keys

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: a cold `autopipe resolve FILE` imports this module
if TYPE_CHECKING:
    from pathlib import Path

CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs")
FOLDERS = ConfigFolders(CONFIGS, "autopipe-sdxl")

UNET = LDM_UNET
BASE_TEXT = "conditioner.embedders.1.model."  # OpenCLIP bigG, second encoder of the base
REFINER_TEXT = "conditioner.embedders.0.model."  # OpenCLIP bigG, only encoder of the refiner
BASE_LABEL = (1280, BASE_ADD_EMBED_DIM)
REFINER_LABEL = (1536, REFINER_ADD_EMBED_DIM)
TINY_LABEL = (64, BASE_ADD_EMBED_DIM)  # autopipe-sdxl's tiny test layout: 16 model channels, a 64-wide time embedding


def config_folder(variant: str) -> Path:
    """The folder of component configs shipped for a variant ("xl-base", "xl-refiner", "xl-inpainting")."""
    return FOLDERS.folder(variant)


#: Where each component's tensors are in the original layout (``autopipe plan`` counts a file per component):
#: the refiner's only text encoder is bigG, embedders.0, which diffusers loads as text_encoder_2.
PREFIXES = {"unet": UNET, "vae": LDM_VAE, "text_encoder": "conditioner.embedders.0.", "text_encoder_2": "conditioner.embedders.1."}
REFINER_PREFIXES = {"unet": UNET, "vae": LDM_VAE, "text_encoder_2": "conditioner.embedders.0."}


def _detection(variant: str, cls: str, confidence: float, reason: str, prediction: Prediction | None = None) -> Detection:
    prefixes = REFINER_PREFIXES if "refiner" in variant else PREFIXES
    prediction = prediction or Prediction()
    reason += prediction_clause(
        prediction, "epsilon, as SDXL was released", ": the file states no prediction type (no model-spec or kohya metadata, no v_pred marker)"
    )
    return Detection(
        FAMILY, variant, confidence, reason, pipeline_class=f"diffusers:{cls}", config=FOLDERS.folder_path(variant),
        prefixes=prefixes, scheduler=prediction.scheduler_config(),
    )


def detect(header: SafetensorsHeader) -> list[Detection]:
    """SDXL base, refiner and inpainting checkpoints; nothing else."""
    if "edm_mean" in header.tensors:
        return []
    label = shape(header, LABEL_EMB)
    conv_in = header.shape(CONV_IN)
    # Both prefixes from the header's sorted index of names (built once, shared with every plugin): a binary search
    # each, not a pass over every name each.
    has_base_text, has_refiner_text = header.has_prefix(BASE_TEXT), header.has_prefix(REFINER_TEXT)
    if label is not None:
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
