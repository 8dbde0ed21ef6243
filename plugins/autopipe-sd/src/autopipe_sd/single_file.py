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
The tokenizer is built at load time from the CLIP BPE merges shipped once in
``configs/clip-bpe`` (MIT, see its LICENSE), so the config folders carry only
JSON.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from autopipe_core import Detection
from autopipe_core.headers import SafetensorsHeader
from autopipe_core.prediction import EPSILON, V_PREDICTION, Prediction
from autopipe_core.prediction import read as read_prediction

CONFIGS = Path(__file__).parent / "configs"
FAMILY = "stable-diffusion"

UNET = "model.diffusion_model."
CONV_IN = UNET + "input_blocks.0.0.weight"
LABEL_EMB = UNET + "label_emb.0.0.weight"  # SDXL's micro-conditioning: not ours
TEXT_ENCODER = "cond_stage_model."

#: (model channels, cross-attention width) -> (variant, description). Input channels decide inpainting on top.
KNOWN = {
    (320, 768): ("sd1", "Stable Diffusion 1.x (CLIP ViT-L text encoder, cross-attention 768)"),
    (320, 1024): ("sd2", "Stable Diffusion 2.x (OpenCLIP ViT-H text encoder, cross-attention 1024)"),
    (16, 32): ("tiny", "autopipe-sd's tiny test checkpoint (16 model channels, cross-attention 32)"),
}


def config_folder(variant: str) -> Path:
    """The folder of component configs shipped for a variant ("sd1", "sd2-v", "sd2-base", ...): pass it as config= to override."""
    folder = CONFIGS / variant
    if not (folder / "model_index.json").is_file():
        known = ", ".join(sorted(p.name for p in CONFIGS.iterdir() if (p / "model_index.json").is_file()))
        raise ValueError(f"autopipe-sd ships no config for {variant!r}; it has: {known}")
    return folder


def _cross_attention(header: SafetensorsHeader) -> tuple[str, int] | None:
    """The first cross-attention key projection of the UNet and its input width."""
    preferred = UNET + "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight"
    shape = header.shape(preferred)
    if shape is not None and len(shape) == 2:
        return preferred, shape[1]
    for name in sorted(header.tensors):
        if name.startswith(UNET) and name.endswith("attn2.to_k.weight"):
            shape = header.shape(name)
            if shape is not None and len(shape) == 2:
                return name, shape[1]
    return None


#: Where each component's tensors are in the original layout: how ``autopipe plan`` counts a file per component.
PREFIXES = {"unet": UNET, "vae": "first_stage_model.", "text_encoder": TEXT_ENCODER}


def _detection(variant: str, config: str, confidence: float, reason: str, inpainting: bool, prediction: Prediction) -> Detection:
    cls = "StableDiffusionInpaintPipeline" if inpainting else "StableDiffusionPipeline"
    return Detection(
        FAMILY, variant, confidence, reason, pipeline_class=f"diffusers:{cls}", config=str(config_folder(config)),
        prefixes=PREFIXES, scheduler=prediction.scheduler_config(),
    )


def _said(prediction: Prediction, default: str) -> str:
    """The reason's clause on the prediction type: what the file says, or what is taken when it says nothing."""
    if prediction.type is not None:
        return "; " + prediction.describe()
    note = f" ({prediction.source})" if prediction.found else ""
    return f"; {default}{note}"


def detect(header: SafetensorsHeader) -> list[Detection]:
    """SD 1.x, 2.x (v or epsilon), their inpainting checkpoints and the tiny test checkpoint; nothing else."""
    conv_in = header.shape(CONV_IN)
    if conv_in is None or len(conv_in) != 4 or header.shape(LABEL_EMB) is not None:
        return []
    cross = _cross_attention(header)
    if cross is None:
        return []
    key, width = cross
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
        return [_detection("tiny", "tiny", 0.9, facts + _said(prediction, "epsilon: the file states no prediction type") + text, inpainting, prediction)]
    if variant == "sd1":
        chosen = "sd1-inpainting" if inpainting else "sd1"
        said = _said(prediction, "epsilon, as SD 1.x was released: the file states no prediction type")
        return [_detection(chosen, chosen, 0.95, facts + said + text, inpainting, prediction)]
    if inpainting:
        said = _said(prediction, "SD 2 inpainting predicts epsilon; the file states nothing else")
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
    """diffusers' from_single_file over the shipped configs, with the tokenizer built from the shipped BPE."""
    config = Path(kwargs.get("config") or detection.config or "")
    folder = config / "tokenizer"
    if "tokenizer" not in kwargs and (folder / "tokenizer_config.json").is_file() and not (folder / "vocab.json").is_file():
        kwargs["tokenizer"] = tokenizer(folder)
    zero_snr = zero_snr_scheduler(config, detection.scheduler, kwargs)
    if zero_snr is not None:
        kwargs["scheduler"] = zero_snr
    return _from_single_file(pipeline_class, path, kwargs)


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

    scheduler_config = json.loads(file.read_text())
    cls = getattr(diffusers, str(scheduler_config.get("_class_name", "")), None)
    if cls is not None and "rescale_betas_zero_snr" in inspect.signature(cls.__init__).parameters:
        return None
    return diffusers.DDIMScheduler.from_config(scheduler_config, **entries)


def _from_single_file(pipeline_class: type, path: str, kwargs: dict[str, Any]) -> Any:
    """diffusers' from_single_file; a component missing from the file becomes a typed error saying what to pass."""
    from diffusers.loaders.single_file_utils import SingleFileComponentError

    try:
        return pipeline_class.from_single_file(path, **kwargs)
    except SingleFileComponentError as exc:
        from autopipe_core import UnsupportedModelError

        raise UnsupportedModelError(f"{path}: {exc}") from exc
