"""The corpus of real checkpoint configurations, and what autopipe must answer for each of them.

The corpus is ``../shared/real_configs`` (or the folder ``AUTOPIPE_REAL_CONFIGS`` names): the JSON files of
57 real diffusers checkpoints, laid out as their repositories are, with ``manifest.json`` saying what each is.
It is not part of this repository and is never copied into it; everything here reads it in place.

- ``EXPECTED``: (folder, task) -> the diffusers class autopipe must give, or a :class:`Refused` (the typed
  error and what its message must say). Written from each folder's JSON and diffusers' documented behaviour,
  not from what the code answers today.
- ``DIFFERENCES``: (folder, task) -> why autopipe's answer is not diffusers' AutoPipeline's, for every row
  where they differ (a class against another class, or a refusal against a class).
- :func:`diffusers_answer`: diffusers' own answer, through its ``AutoPipelineFor*.from_pretrained`` up to
  the class look-up (``load_config`` of model_index.json, the ``ControlPipeline`` string handling, then
  ``_get_task_class``), stopped there: no weights, no component is read.
- :func:`autopipe_answer`: ``autopipe_core.resolve(folder, task)``; the caller sets ``AUTOPIPE_PLUGINS``
  to :data:`SHIPPED_PLUGINS`.

Used by tests/test_real_checkpoints.py and bench/real_checkpoints.py (which writes docs/real-checkpoints.md).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parent.parent
TASKS = ("text2img", "img2img", "inpaint")
#: Every distribution this repository ships, as AUTOPIPE_PLUGINS names them.
SHIPPED_PLUGINS = (
    "autopipe-sd,autopipe-sdxl,autopipe-controlnet,autopipe-kandinsky,autopipe-deepfloyd-if,autopipe-lcm,autopipe-kolors,"
    "autopipe-sd3,autopipe-flux,autopipe-qwenimage,autopipe-pixart,autopipe-hunyuandit,autopipe-zimage,autopipe-cascade,"
    "autopipe-flux2,autopipe-lumina,autopipe-auraflow,autopipe-cogview,autopipe-bria,autopipe-ovis,"
    "autopipe-prx,autopipe-hidream,autopipe-helios,autopipe-krea2,autopipe-nucleusmoe,"
    "autopipe-ideogram,autopipe-glm-image"
)
ENV = "AUTOPIPE_REAL_CONFIGS"


def corpus_dir() -> Path:
    """Where the corpus is: $AUTOPIPE_REAL_CONFIGS, else ../shared/real_configs beside the repository."""
    return Path(os.environ.get(ENV) or ROOT.parent / "shared" / "real_configs")


def manifest(corpus: Path) -> list[dict]:
    """The manifest's checkpoints, in its order: name, what, hf_id, sources."""
    return json.loads((corpus / "manifest.json").read_text())["checkpoints"]


@dataclass(frozen=True)
class Refused:
    """A refusal autopipe must give: the error class (a name from autopipe_core.errors, matched exactly),
    a substring its message must contain and, where a wrong message is the fault, one it must not
    (both case-insensitive); `why` is the short reason docs/real-checkpoints.md shows."""

    error: str
    says: str
    why: str
    never: str | None = None



SD = ("StableDiffusionPipeline", "StableDiffusionImg2ImgPipeline", "StableDiffusionInpaintPipeline")
SDXL = ("StableDiffusionXLPipeline", "StableDiffusionXLImg2ImgPipeline", "StableDiffusionXLInpaintPipeline")
IF = ("IFPipeline", "IFImg2ImgPipeline", "IFInpaintingPipeline")


def _all(refused: Refused) -> tuple[Refused, Refused, Refused]:
    return (refused, refused, refused)


def _unserved(class_name: str, what: str) -> tuple[Refused, Refused, Refused]:
    """A family no shipped plugin serves yet: refused for every task, naming the class it holds."""
    return _all(Refused("UnsupportedModelError", class_name, f"{what}: no shipped plugin serves it"))


_INPAINT_ONLY = Refused(
    "UnsupportedTaskError", "AutoPipelineForInpainting", "inpainting-only UNet (9 input channels): use AutoPipelineForInpainting"
)
_INPAINT_ONLY_DECODER = Refused(
    "UnsupportedTaskError", "AutoPipelineForInpainting", "inpainting-only decoder (UNet in_channels 9): use AutoPipelineForInpainting"
)
_ONNX = Refused(
    "UnsupportedModelError",
    "onnx",
    "an ONNX export (OnnxRuntimeModel components, run by onnxruntime), not a PyTorch pipeline",
    never="no installed autopipe plugin handles",
)
_CONTROLNET_MODEL = Refused(
    "UnsupportedModelError", "controlnet=", "a ControlNetModel folder is a component, not a pipeline: pass it as controlnet="
)
_CUSTOM_LIST = Refused(
    "UntrustedCodeError",
    "custom pipeline",
    "custom pipeline: a [module, class] _class_name names code shipped with the checkpoint",
    never="must be a string",
)
_NO_INPAINT = "diffusers has no {} inpainting pipeline: img2img, or an inpainting checkpoint of another family"
FLUX = ("FluxPipeline", "FluxImg2ImgPipeline", "FluxInpaintPipeline")
SD3 = ("StableDiffusion3Pipeline", "StableDiffusion3Img2ImgPipeline", "StableDiffusion3InpaintPipeline")

#: folder -> (text2img, img2img, inpaint), in the manifest's order. Each entry is decided from the folder's
#: JSON (the UNet's in_channels and add-embedding width, the scheduler, the VAE, component libraries) and from
#: what diffusers' pipelines can actually run; see the comment on each group.
_BY_FOLDER: dict[str, tuple] = {
    # Stable Diffusion 1.x / 2.x: a 4-channel UNet serves all three tasks (StableDiffusionInpaintPipeline
    # takes a 4-channel UNet too, blending the kept area back at every step); a 9-channel UNet only inpaints.
    "sd15": SD,
    "sd14-diffusers-0.2.2": SD,
    "sd15-inpainting": (_INPAINT_ONLY, _INPAINT_ONLY, SD[2]),
    "sd21-base-512": SD,
    "sd21-768-v": SD,
    "sd2-inpainting": (_INPAINT_ONLY, _INPAINT_ONLY, SD[2]),
    "sd-x4-upscaler": _all(Refused("UnsupportedModelError", "upscaler", "the x4 upscaler (StableDiffusionUpscalePipeline), not a text-to-image model")),
    "sd-image-variations": _all(Refused("UnsupportedModelError", "variations", "image variations from CLIP image embeddings (StableDiffusionImageVariationPipeline)")),
    "realistic-vision-v51": SD,
    "urpm": SD,
    "tardis-fusion": SD,
    "portraitplus": SD,
    "nitro-diffusion": SD,
    "counterfeit-v2.5": SD,
    "wsj-hedcut": SD,
    "fantassified-icons": SD,
    "owl-characters-v2": SD,
    # Only model_index.json: the UNet config that tells inpainting-only from not is absent, and diffusers
    # could not load the folder either (no component folders).
    "cog-inpaint-index-only": _all(Refused("InvalidModelError", "unet", "lists components but ships no component folders (no unet/config.json)")),
    # SDXL: the refiner (add-embedding 2560, aesthetic score) makes no picture from noise: img2img and
    # inpaint only; a 9-channel UNet only inpaints.
    "sdxl-base": SDXL,
    "sdxl-refiner": (
        Refused("UnsupportedTaskError", "refiner", "the SDXL refiner makes no picture from noise: img2img and inpaint only"),
        SDXL[1],
        SDXL[2],
    ),
    "sdxl-inpainting-0.1": (_INPAINT_ONLY, _INPAINT_ONLY, SDXL[2]),
    "sdxl-turbo": SDXL,
    # Playground v2.5: SDXL's architecture with an EDM scheduler and a VAE whose latents are normalised
    # (latents_mean / latents_std). StableDiffusionXLPipeline (its model card's class) and
    # StableDiffusionXLImg2ImgPipeline apply that normalisation; StableDiffusionXLInpaintPipeline encodes the
    # image without it, so the kept area comes back with wrong colours (huggingface/diffusers#7484, open).
    "playground-v2.5": (
        SDXL[0],
        SDXL[1],
        Refused("UnsupportedTaskError", "EDM", "EDM model with a latents_mean/std VAE, which StableDiffusionXLInpaintPipeline ignores when encoding (diffusers#7484)"),
    ),
    "hotshot-xl": _unserved("HotshotXLPipeline", "Hotshot-XL (text-to-GIF, custom pipeline and UNet library)"),
    # A ControlNetModel folder has a config.json and no model_index.json: a component to pass as controlnet=.
    "controlnet-v11p-sd15-canny": _all(_CONTROLNET_MODEL),
    "controlnet-depth-anything-sd15": _all(_CONTROLNET_MODEL),
    # This snapshot has no unet/ folder: it cannot be loaded, and the UNet's in_channels cannot be read.
    "photo-background-generation": _all(Refused("InvalidModelError", "unet", "the snapshot has no unet/ folder: incomplete")),
    # LCM: diffusers' 'lcm' classes; it has no LCM inpainting pipeline.
    "lcm-dreamshaper-v7": (
        "LatentConsistencyModelPipeline",
        "LatentConsistencyModelImg2ImgPipeline",
        Refused("UnsupportedTaskError", "no inpaint pipeline", _NO_INPAINT.format("LCM")),
    ),
    # Kandinsky 2.2: the decoder serves text2img and img2img through the combined pipelines (the prior is
    # found from the model card); KandinskyV22InpaintPipeline always feeds the UNet 9 channels, so only the
    # inpainting decoder inpaints. A prior alone makes embeddings, and the ControlNet decoder needs a hint.
    "kandinsky22-decoder": (
        "KandinskyV22CombinedPipeline",
        "KandinskyV22Img2ImgCombinedPipeline",
        Refused("UnsupportedTaskError", "inpainting decoder", "a 4-channel decoder: inpainting needs the inpainting decoder (UNet in_channels 9)"),
    ),
    "kandinsky22-decoder-inpaint": (_INPAINT_ONLY_DECODER, _INPAINT_ONLY_DECODER, "KandinskyV22InpaintCombinedPipeline"),
    "kandinsky22-prior": _all(Refused("UnsupportedModelError", "decoder", "a prior makes image embeddings, not pictures: load the decoder")),
    "kandinsky22-controlnet-depth": _all(
        Refused(
            "UnsupportedModelError",
            "controlnet",
            "Kandinsky 2.2 ControlNet (8-channel UNet, image_hint): KandinskyV22ControlnetPipeline with a hint, not an AutoPipeline task",
            never="pip install",
        )
    ),
    "if-stage1-t5-inversion": IF,
    # Families no shipped plugin serves yet: refused, naming the class.
    "sd3-medium": SD3,
    "sd35-large": SD3,
    # Only model_index.json of a repo whose transformer comes from the library 'diffusers_sd3_control': the
    # snapshot lacks transformer/config.json (the complete repo is refused by the guard, before that import).
    "sd3-custom-library": _all(Refused("InvalidModelError", "transformer/config.json", "only model_index.json: it lists a transformer (library 'diffusers_sd3_control') whose config.json is absent")),
    "flux1-dev": FLUX,
    "flux1-schnell": FLUX,
    # Kolors under an SDXL class name: a ChatGLM text encoder (library 'kolors') and a UNet that projects
    # 4096-wide text features; no SDXL pipeline can load or run it, the Kolors ones can. No Kolors inpainting.
    "kolors": ("KolorsPipeline", "KolorsImg2ImgPipeline", Refused("UnsupportedTaskError", "no Kolors inpainting pipeline", _NO_INPAINT.format("Kolors"))),
    "hunyuandit": (
        "HunyuanDiTPipeline",
        Refused("UnsupportedTaskError", "no image-to-image pipeline for HunyuanDiT", "diffusers has no HunyuanDiT img2img pipeline: SDXL/SD3 img2img, or a HunyuanDiT ControlNet"),
        Refused("UnsupportedTaskError", "no inpainting pipeline for HunyuanDiT", _NO_INPAINT.format("HunyuanDiT")),
    ),
    # Chroma under FluxPipeline's name: T5-XXL alone as its text encoder (no text_encoder_2), a Chroma transformer.
    "chroma": ("ChromaPipeline", "ChromaImg2ImgPipeline", "ChromaInpaintPipeline"),
    # The Stable Cascade decoder (Stage B), whose model card names its prior: the combined pipeline loads both.
    # diffusers' tables list Stable Cascade for text2img alone.
    "stable-cascade": (
        "StableCascadeCombinedPipeline",
        Refused("UnsupportedTaskError", "no image-to-image pipeline for Stable Cascade", "diffusers has no Stable Cascade img2img pipeline: the prior's images= (a variation), or SDXL img2img"),
        Refused("UnsupportedTaskError", "no inpainting pipeline for Stable Cascade", _NO_INPAINT.format("Stable Cascade")),
    ),
    # The prior alone (Stage C) makes image embeddings, not pictures: load the decoder, whose card names it.
    "stable-cascade-prior": _all(Refused("UnsupportedModelError", "Load the decoder instead", "a Stable Cascade prior makes image embeddings, not pictures: load the decoder, whose model card names it")),
    "text-to-video-ms-1.7b": _unserved("TextToVideoSDPipeline", "text-to-video"),
    "audioldm-s-full-v2": _unserved("AudioLDMPipeline", "text-to-audio"),
    "ddpm-butterflies-128": _unserved("DDPMPipeline", "unconditional DDPM"),
    "easyanimate-v5.1-control": _unserved("EasyAnimateControlPipeline", "EasyAnimate video"),
    # BRIA 3.2: BriaPipeline, a class diffusers ships without a table key; no BRIA img2img or inpainting class.
    "bria-3.2": (
        "BriaPipeline",
        Refused("UnsupportedTaskError", "no image-to-image pipeline for BRIA 3.x", "diffusers has no BRIA 3.x img2img pipeline: FLUX.1 or SD 3.5 img2img"),
        Refused("UnsupportedTaskError", "no inpainting pipeline for BRIA 3.x", _NO_INPAINT.format("BRIA 3.x")),
    ),
    "sd14-onnx-branch": _all(_ONNX),
    "meinamix-onnx": _all(_ONNX),
    "zero123plus": _unserved("Zero123PlusPipeline", "Zero123++ (a custom pipeline)"),
    "geowizard": _unserved("DepthNormalEstimationPipeline", "GeoWizard (a custom pipeline)"),
    "mvdiffusion-custom-list-class": _all(_CUSTOM_LIST),
    "stablematerials-custom-list-class": _all(_CUSTOM_LIST),
    "interactdiffusion-custom": _all(_CUSTOM_LIST),
    # InstructPix2Pix edits an image by instruction (8-channel UNet: latents plus the image's latents):
    # StableDiffusionInstructPix2PixPipeline, no AutoPipeline task. Its family's plugin is installed.
    "instructpix2pix-cartoonizer": _all(
        Refused(
            "UnsupportedModelError",
            "InstructPix2Pix",
            "InstructPix2Pix edits by instruction (8-channel UNet): load StableDiffusionInstructPix2PixPipeline",
            never="pip install",
        )
    ),
    # diffusers' modular format: [library, class, spec] entries, loaded by ModularPipeline; nothing to re-save.
    "minimax-h3-modular": _all(
        Refused("UnsupportedModelError", "modular", "diffusers' modular format ([library, class, spec] entries): ModularPipeline", never="re-save")
    ),
}

EXPECTED: dict[tuple[str, str], str | Refused] = {
    (folder, task): answer for folder, answers in _BY_FOLDER.items() for task, answer in zip(TASKS, answers, strict=True)
}
FOLDERS: tuple[str, ...] = tuple(_BY_FOLDER)


def _rows(folder: str, tasks: tuple[str, ...], why: str) -> dict[tuple[str, str], str]:
    return {(folder, task): why for task in tasks}


_T2I_I2I = ("text2img", "img2img")
_ALL = TASKS

#: (folder, task) -> why autopipe's answer differs from diffusers' AutoPipeline's. Every row where they differ is
#: here, and only those (tests/test_real_checkpoints.py checks both ways). Both refusing is not a difference.
DIFFERENCES: dict[tuple[str, str], str] = {
    **_rows("sd15-inpainting", _T2I_I2I, "diffusers picks the text2img/img2img class by name; its 9-channel UNet is fed 4 channels and fails at the first step"),
    **_rows("sd2-inpainting", _T2I_I2I, "diffusers picks the text2img/img2img class by name; its 9-channel UNet is fed 4 channels and fails at the first step"),
    **_rows("cog-inpaint-index-only", _ALL, "diffusers picks a class from the name, then fails loading: the folder has no component folders"),
    **_rows("sdxl-refiner", ("text2img",), "diffusers maps the refiner's class to StableDiffusionXLPipeline, whose 6 time ids do not fit the refiner's 2560-wide add-embedding: it fails at the first step"),
    **_rows("sdxl-inpainting-0.1", _T2I_I2I, "diffusers picks the text2img/img2img class by name; its 9-channel UNet is fed 4 channels and fails at the first step"),
    **_rows("playground-v2.5", ("inpaint",), "StableDiffusionXLInpaintPipeline encodes the image without the VAE's latents_mean/std, so the kept area comes back with wrong colours (diffusers#7484)"),
    **_rows("photo-background-generation", _ALL, "diffusers picks a ControlNet class from the name, then fails loading: this snapshot has no unet/ folder"),
    **_rows("kandinsky22-decoder", ("inpaint",), "diffusers gives KandinskyV22InpaintCombinedPipeline, which feeds this 4-channel decoder 9 channels: it fails at the first step"),
    **_rows("kandinsky22-decoder-inpaint", _T2I_I2I, "diffusers gives the text2img/img2img combined pipeline, which feeds this 9-channel decoder 4 channels: it fails at the first step"),
    **_rows("sd3-custom-library", _ALL, "diffusers picks SD3's classes from the name, then fails importing the library 'diffusers_sd3_control'; autopipe refuses the snapshot first: it lists a transformer whose config.json it lacks (the complete repo: UntrustedCodeError, before that library is imported)"),
    **_rows("kolors", _T2I_I2I, "diffusers picks SDXL classes from the name, which cannot load the ChatGLM text encoder (library 'kolors') nor feed the UNet's 4096-wide text projection; autopipe gives the Kolors classes (a UNet with encoder_hid_dim and a ChatGLM text encoder)"),
    **_rows("kolors", ("inpaint",), "diffusers picks StableDiffusionXLInpaintPipeline from the name, which cannot load it; diffusers has no Kolors inpainting pipeline"),
    **_rows("bria-3.2", ("text2img",), "diffusers' tables have no key for BriaPipeline (AutoPipeline can't find a pipeline linked to it); autopipe serves it as a class diffusers ships beyond its tables"),
    **_rows("chroma", _ALL, "the folder names FluxPipeline but holds T5-XXL alone as its text_encoder and a ChromaTransformer2DModel: autopipe-flux's chroma family claims it (told by text_encoder's model_type); diffusers' Flux classes cannot load it (no text_encoder_2 or tokenizer_2) nor drive a Chroma transformer"),
}


def expected_text(expected: str | Refused) -> str:
    """How the page and the failure messages show an expectation."""
    if isinstance(expected, Refused):
        return f"refused: {expected.error}: {expected.why}"
    return expected


# ---------------------------------------------------------------------------------------------------------------
# Answers


@dataclass(frozen=True)
class Answer:
    """A class name, or the error raised instead (its class name and message)."""

    pipeline_class: str | None = None
    error: str | None = None
    message: str = ""

    @property
    def refused(self) -> bool:
        return self.pipeline_class is None


def autopipe_answer(folder: Path, task: str) -> Answer:
    """autopipe_core.resolve(folder, task), with whatever plugins AUTOPIPE_PLUGINS allows."""
    from autopipe_core import AutopipeError, resolve

    try:
        return Answer(pipeline_class=resolve(folder, task).pipeline_class)
    except AutopipeError as exc:
        return Answer(error=type(exc).__name__, message=str(exc))


def mismatch(expected: str | Refused, answer: Answer) -> str | None:
    """Why `answer` is not `expected`, or None when it is."""
    if isinstance(expected, str):
        if answer.pipeline_class == expected:
            return None
        got = answer.pipeline_class or f"{answer.error}: {answer.message}"
        return f"expected {expected}, got {got}"
    if answer.pipeline_class is not None:
        return f"expected {expected.error} ({expected.why}), got the class {answer.pipeline_class}"
    problems = []
    if answer.error != expected.error:
        problems.append(f"expected {expected.error}, got {answer.error}")
    if expected.says.lower() not in answer.message.lower():
        problems.append(f"the message should say {expected.says!r}")
    if expected.never is not None and expected.never.lower() in answer.message.lower():
        problems.append(f"the message should not say {expected.never!r}")
    return f"{'; '.join(problems)}: {answer.message}" if problems else None


class _Picked(Exception):
    """Raised by the spy in place of diffusers' class look-up, carrying what it found."""


_TASK_CLASSES = {"text2img": "AutoPipelineForText2Image", "img2img": "AutoPipelineForImage2Image", "inpaint": "AutoPipelineForInpainting"}


@contextlib.contextmanager
def _stop_at_class_lookup() -> Iterator[None]:
    """Make diffusers' auto_pipeline._get_task_class raise _Picked with its answer instead of returning it.

    AutoPipelineFor*.from_pretrained reads model_index.json (load_config), turns its _class_name into
    the name to look up ("ControlPipeline" handling; no controlnet= or enable_pag= here), then calls
    _get_task_class once and hands the class's from_pretrained the folder: stopping at that call gives
    diffusers' own choice without a weight being read, through diffusers' own code.
    """
    from diffusers.pipelines import auto_pipeline

    real = auto_pipeline._get_task_class

    def spy(mapping, pipeline_class_name, throw_error_if_not_exist: bool = True):
        raise _Picked(real(mapping, pipeline_class_name, throw_error_if_not_exist))

    auto_pipeline._get_task_class = spy
    try:
        yield
    finally:
        auto_pipeline._get_task_class = real


def diffusers_answer(folder: Path, task: str) -> Answer:
    """The class diffusers' AutoPipelineFor<task>.from_pretrained(folder) picks, or the error it raises first."""
    from diffusers.pipelines import auto_pipeline

    auto = getattr(auto_pipeline, _TASK_CLASSES[task])
    with _stop_at_class_lookup():
        try:
            auto.from_pretrained(str(folder), local_files_only=True)
        except _Picked as picked:
            found = picked.args[0]
            if found is None:
                return Answer(error="ValueError", message="no class")
            return Answer(pipeline_class=found.__name__)
        except Exception as exc:  # noqa: BLE001 - diffusers' answer is whatever it raises
            return Answer(error=type(exc).__name__, message=str(exc))
    raise AssertionError(f"diffusers' {_TASK_CLASSES[task]}.from_pretrained never looked a class up for {folder}")


@functools.lru_cache(maxsize=None)
def diffusers_answers(corpus: Path) -> dict[tuple[str, str], Answer]:
    """diffusers' answer for every (folder, task) of EXPECTED, computed once per corpus path."""
    return {(folder, task): diffusers_answer(corpus / folder, task) for folder, task in EXPECTED}


def differs(expected: str | Refused, theirs: Answer) -> bool:
    """Whether autopipe's expected answer and diffusers' are different choices (both refusing is the same)."""
    if isinstance(expected, Refused):
        return not theirs.refused
    return theirs.pipeline_class != expected
