"""Which of this project's plugins would handle a class the installed plugins do not.

Used only to write "pip install ..." into an error, as fsspec's registry names
the package for an unknown protocol. Resolution never reads this table: the
plugins are the truth, and a test checks that this table agrees with them.
"""

from __future__ import annotations

_SD = ("autopipe-sd",)
_SDXL = ("autopipe-sdxl",)
_CN = "autopipe-controlnet"

#: class name -> distributions that must be installed for it.
KNOWN_CLASSES: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(
        (
            "StableDiffusionPipeline",
            "StableDiffusionImg2ImgPipeline",
            "StableDiffusionInpaintPipeline",
            "StableDiffusionPAGPipeline",
            "StableDiffusionPAGImg2ImgPipeline",
            "StableDiffusionPAGInpaintPipeline",
            "StableDiffusionUpscalePipeline",
            "StableDiffusionLatentUpscalePipeline",
            "StableDiffusionDepth2ImgPipeline",
            "StableDiffusionImageVariationPipeline",
        ),
        _SD,
    ),
    **dict.fromkeys(
        (
            "StableDiffusionXLPipeline",
            "StableDiffusionXLImg2ImgPipeline",
            "StableDiffusionXLInpaintPipeline",
            "StableDiffusionXLPAGPipeline",
            "StableDiffusionXLPAGImg2ImgPipeline",
            "StableDiffusionXLPAGInpaintPipeline",
        ),
        _SDXL,
    ),
    **dict.fromkeys(
        (
            "StableDiffusionControlNetPipeline",
            "StableDiffusionControlNetImg2ImgPipeline",
            "StableDiffusionControlNetInpaintPipeline",
            "StableDiffusionControlNetPAGPipeline",
            "StableDiffusionControlNetPAGInpaintPipeline",
        ),
        _SD + (_CN,),
    ),
    **dict.fromkeys(
        (
            "StableDiffusionXLControlNetPipeline",
            "StableDiffusionXLControlNetImg2ImgPipeline",
            "StableDiffusionXLControlNetInpaintPipeline",
            "StableDiffusionXLControlNetPAGPipeline",
            "StableDiffusionXLControlNetPAGImg2ImgPipeline",
            "StableDiffusionXLControlNetUnionPipeline",
            "StableDiffusionXLControlNetUnionImg2ImgPipeline",
            "StableDiffusionXLControlNetUnionInpaintPipeline",
        ),
        _SDXL + (_CN,),
    ),
    **dict.fromkeys(
        (
            "KandinskyPipeline",
            "KandinskyImg2ImgPipeline",
            "KandinskyInpaintPipeline",
            "KandinskyCombinedPipeline",
            "KandinskyImg2ImgCombinedPipeline",
            "KandinskyInpaintCombinedPipeline",
            "KandinskyPriorPipeline",
            "KandinskyV22Pipeline",
            "KandinskyV22Img2ImgPipeline",
            "KandinskyV22InpaintPipeline",
            "KandinskyV22CombinedPipeline",
            "KandinskyV22Img2ImgCombinedPipeline",
            "KandinskyV22InpaintCombinedPipeline",
            "KandinskyV22PriorPipeline",
            "KandinskyV22PriorEmb2EmbPipeline",
        ),
        ("autopipe-kandinsky",),
    ),
    **dict.fromkeys(
        (
            "IFPipeline",
            "IFImg2ImgPipeline",
            "IFInpaintingPipeline",
            "IFSuperResolutionPipeline",
            "IFImg2ImgSuperResolutionPipeline",
            "IFInpaintingSuperResolutionPipeline",
        ),
        ("autopipe-deepfloyd-if",),
    ),
}

#: keyword argument -> the distribution that registers it as a modifier.
KNOWN_MODIFIERS: dict[str, str] = {"controlnet": _CN}


def install_hint(class_names: tuple[str, ...], installed: set[str]) -> str | None:
    """'pip install ...' for the first known class among these names, listing only what is not installed."""
    for name in class_names:
        needed = KNOWN_CLASSES.get(name)
        if needed:
            missing = [d for d in needed if d not in installed]
            return f"pip install {' '.join(missing)}" if missing else None
    return None


def install_hint_for_any_family() -> str:
    """What to install when no family plugin is: the project's Stable Diffusion plugin, as the README installs it."""
    return "Install one, e.g. the Stable Diffusion family: pip install -e plugins/autopipe-sd (from a clone of the autopipe repository; see its README)."
