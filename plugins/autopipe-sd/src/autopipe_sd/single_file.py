"""Recognising Stable Diffusion 1.x/2.x single-file checkpoints from their header, and loading them offline.

The original (LDM) layout names the UNet's tensors ``model.diffusion_model.*``,
the VAE's ``first_stage_model.*`` and the text encoder's
``cond_stage_model.*``. What tells the variants apart:

- the first convolution, ``model.diffusion_model.input_blocks.0.0.weight``,
  is (model channels, input channels, 3, 3): 320 model channels for SD, 4
  input channels for an ordinary checkpoint and 9 for an inpainting one
  (latents, mask, masked image);
- the cross-attention's key projection takes the text encoder's width:
  ``...input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight`` is
  (320, 768) for SD 1.x (CLIP ViT-L) and (320, 1024) for SD 2.x (OpenCLIP ViT-H);
- SDXL has a ``label_emb`` (its micro-conditioning) and is left to autopipe-sdxl.

The prediction type is not in the tensors either: a v-prediction fine-tune
of SD 1.x, or SD 2.x 768-v against 512-base (released with the same tensors),
differ only in what the file says about itself. That is read by the core's
shared reading, :func:`autopipe_core.prediction.read` (model-spec and kohya
metadata, ComfyUI's ``v_pred`` / ``ztsnr`` marker tensors; its docstring
names each key and where it is documented). For SD 2.x it picks the 768-v or
the 512-base config folder; for every variant its scheduler entries go into
``Detection.scheduler`` (``prediction_type``, and for zero terminal SNR
``rescale_betas_zero_snr`` and ``timestep_spacing="trailing"``), which the
core applies at load unless the caller passes a scheduler or the entries.
An SD 2.x file that says nothing is taken as 768-v, as diffusers does, and
the reason says so.

Nothing here imports torch: detection reads the header's names and shapes.
The tokenizer is built at load time from the CLIP merges the core ships once
(:mod:`autopipe_core.toolkit.tokenizers`), so the config folders carry only
JSON.
"""

from __future__ import annotations

import os

from autopipe_core import Detection
from autopipe_core.headers import SafetensorsHeader
from autopipe_core.prediction import EPSILON, V_PREDICTION, Prediction
from autopipe_core.prediction import read as read_prediction
from autopipe_core.toolkit.single_file import (
    LDM_LABEL_EMB,
    LDM_TEXT,
    LDM_UNET,
    LDM_VAE,
    ConfigFolders,
    default_load,
    first_key,
    prediction_clause,
    shape,
)
from autopipe_core.toolkit.single_file import clip_tokenizer_from as tokenizer  # noqa: F401 - its name here before the toolkit

from . import CONV_IN  # the name registered as the detect key (the core's LDM_CONV_IN)

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: a cold `autopipe resolve FILE` imports this module
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs")
FOLDERS = ConfigFolders(CONFIGS, "autopipe-sd")
FAMILY = "stable-diffusion"

UNET = LDM_UNET
LABEL_EMB = LDM_LABEL_EMB  # SDXL's micro-conditioning: not ours
TEXT_ENCODER = LDM_TEXT
CROSS_ATTENTION = UNET + "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight"

#: (model channels, cross-attention width) -> (variant, description). Input channels decide inpainting on top.
KNOWN = {
    (320, 768): ("sd1", "Stable Diffusion 1.x (CLIP ViT-L text encoder, cross-attention 768)"),
    (320, 1024): ("sd2", "Stable Diffusion 2.x (OpenCLIP ViT-H text encoder, cross-attention 1024)"),
    (16, 32): ("tiny", "autopipe-sd's tiny test checkpoint (16 model channels, cross-attention 32)"),
}


def config_folder(variant: str) -> Path:
    """The folder of component configs shipped for a variant ("sd1", "sd2-v", "sd2-base", ...): pass it as config= to override."""
    return FOLDERS.folder(variant)


def __getattr__(name: str) -> Any:
    """``clip_bpe``, its name here before the toolkit, imported when first asked (the tokenizers module imports pathlib)."""
    if name == "clip_bpe":
        from autopipe_core.toolkit.tokenizers import clip_bpe

        return clip_bpe
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: Where each component's tensors are in the original layout: how ``autopipe plan`` counts a file per component.
PREFIXES = {"unet": UNET, "vae": LDM_VAE, "text_encoder": TEXT_ENCODER}


def _detection(variant: str, config: str, confidence: float, reason: str, inpainting: bool, prediction: Prediction) -> Detection:
    cls = "StableDiffusionInpaintPipeline" if inpainting else "StableDiffusionPipeline"
    return Detection(
        FAMILY, variant, confidence, reason, pipeline_class=f"diffusers:{cls}", config=FOLDERS.folder_path(config),
        prefixes=PREFIXES, scheduler=prediction.scheduler_config(),
    )


def detect(header: SafetensorsHeader) -> list[Detection]:
    """SD 1.x, 2.x (v or epsilon), their inpainting checkpoints and the tiny test checkpoint; nothing else."""
    conv_in = shape(header, CONV_IN, rank=4)
    if conv_in is None or header.shape(LABEL_EMB) is not None:
        return []
    key = first_key(header, UNET, "attn2.to_k.weight", prefer=CROSS_ATTENTION, rank=2)
    if key is None:
        return []
    width = shape(header, key)[1]
    known = KNOWN.get((conv_in[0], width))
    if known is None or conv_in[1] not in (4, 9):
        return []  # an SD-like UNet of another size, or depth (5) / instruct-pix2pix (8) channels: not a checkpoint we ship configs for
    variant, what = known
    inpainting = conv_in[1] == 9
    prediction = read_prediction(header)
    facts = f"{what}: {key.removeprefix(UNET)} takes {width}, {CONV_IN.removeprefix(UNET)} is {list(conv_in)}"
    if inpainting:
        facts += " (9 input channels: latents, mask, masked image)"
    text = "" if header.has_prefix(TEXT_ENCODER) else "; the file has no text encoder (cond_stage_model.*): pass text_encoder= when loading"
    if variant == "tiny":
        return [_detection("tiny", "tiny", 0.9, facts + prediction_clause(prediction, "epsilon: the file states no prediction type") + text, inpainting, prediction)]
    if variant == "sd1":
        chosen = "sd1-inpainting" if inpainting else "sd1"
        said = prediction_clause(prediction, "epsilon, as SD 1.x was released: the file states no prediction type")
        return [_detection(chosen, chosen, 0.95, facts + said + text, inpainting, prediction)]
    if inpainting:
        said = prediction_clause(prediction, "SD 2 inpainting predicts epsilon; the file states nothing else")
        return [_detection("sd2-inpainting", "sd2-inpainting", 0.95, facts + said + text, inpainting, prediction)]
    if prediction.type is not None:
        chosen = {V_PREDICTION: "sd2-v", EPSILON: "sd2-base"}[prediction.type]
        return [_detection(chosen, chosen, 0.95, f"{facts}; {prediction.describe()}: the {chosen} config{text}", False, prediction)]
    unsure = (
        "; v-prediction (768-v) or epsilon (512-base) cannot be told from the tensors and the file states neither "
        "(no model-spec or kohya metadata, no v_pred marker"
        + (f"; {prediction.source}" if prediction.found else "")
        + "): taken as 768-v like diffusers; if images come out as noise, load with config=str(autopipe_sd.single_file.config_folder('sd2-base'))"
    )
    return [
        _detection("sd2-v", "sd2-v", 0.6, facts + unsure + text, False, prediction),
        _detection("sd2-base", "sd2-base", 0.4, facts + "; the epsilon (512-base) reading of the same tensors" + text, False, prediction),
    ]


# Loading: the core's default, with a scheduler that can rescale for zero-terminal-SNR files.

def load(pipeline_class: type, path: str, detection: Detection, kwargs: dict[str, Any]) -> Any:
    """The core's default single-file load (tokenizers from the shipped CLIP merges), with DDIM for a zero-SNR file PNDM cannot rescale."""
    from pathlib import Path

    zero_snr = zero_snr_scheduler(Path(kwargs.get("config") or detection.config or ""), detection.scheduler, kwargs)
    if zero_snr is not None:
        kwargs = {**kwargs, "scheduler": zero_snr}
    return default_load(pipeline_class, path, detection, kwargs)


def zero_snr_scheduler(config: Path, entries: Any, kwargs: dict[str, Any]) -> Any:
    """A DDIMScheduler for a zero-terminal-SNR file whose configured scheduler cannot rescale its betas, else None.

    SD's shipped configs use PNDMScheduler, which has no ``rescale_betas_zero_snr``
    (diffusers' from_config would drop the entry without a word); diffusers
    documents zero terminal SNR on DDIMScheduler (its docs, "Tips"), so that is
    built from the same config with the file's entries. Nothing is done when the
    caller passes a scheduler or any of the entries (theirs win), or when the
    configured scheduler takes the entry itself.
    """
    entries = dict(entries or {})
    if not entries.get("rescale_betas_zero_snr") or "scheduler" in kwargs or any(k in kwargs for k in entries):
        return None
    file = config / "scheduler" / "scheduler_config.json"
    if not file.is_file():
        return None
    import inspect

    import diffusers

    from autopipe_core import sources

    scheduler_config = sources.read_json(file, "scheduler/scheduler_config.json")
    cls = getattr(diffusers, str(scheduler_config.get("_class_name", "")), None)
    if cls is not None and "rescale_betas_zero_snr" in inspect.signature(cls.__init__).parameters:
        return None
    return diffusers.DDIMScheduler.from_config(scheduler_config, **entries)
