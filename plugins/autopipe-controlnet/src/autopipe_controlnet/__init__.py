"""autopipe plugin: ControlNet as a modifier over other plugins' families.

It owns no family. It registers the ``controlnet=`` keyword (which picks the
ControlNet class, or the ControlNet Union class for a ControlNetUnionModel, and
with None goes back to the plain class) and the ControlNet rows of the
families that have ControlNet pipelines in diffusers. Rows for a family whose
plugin is not installed are simply unused.
"""

from __future__ import annotations

from typing import Any

from autopipe_core import ModifierSpec, PipelineRow, Task, hookimpl, serialized
from autopipe_core.toolkit.rows import lazy_hooks, row

CONTROLNET = "controlnet"
UNION = "controlnet-union"
_UNION_CLASSES = frozenset({"ControlNetUnionModel", "MultiControlNetUnionModel"})


def _is_union(model: Any) -> bool:
    # By class name along the MRO: the model is already imported by whoever made it,
    # and reading names keeps this module free of diffusers imports.
    return any(k.__name__ in _UNION_CLASSES for k in type(model).__mro__)


def choose(value: Any) -> str | None:
    """None removes ControlNet; a union model (or a list of them) picks the Union pipelines; anything else the plain ones."""
    if value is None:
        return None
    models = list(value) if isinstance(value, (list, tuple)) else [value]
    if not models:
        raise ValueError("controlnet= got an empty list: pass a ControlNet model, a list of them, or None")
    return UNION if all(_is_union(m) for m in models) else CONTROLNET


_NO_PAG = "diffusers has no PAG ControlNet pipeline for this task; leave out enable_pag or controlnet"


#: The UNet config entries a ControlNet copies from the UNet it was trained beside: they must agree, or the first
#: denoising step fails with a shape error (an SDXL base ControlNet, 2816, under the refiner's UNet, 2560).
MUST_AGREE = ("cross_attention_dim", "projection_class_embeddings_input_dim", "addition_time_embed_dim")


def fits(value: Any, identity: Any) -> str | None:
    """Why the ControlNet(s) in `value` cannot condition this checkpoint's UNet, or None (also when the UNet's config is unknown)."""
    unet = identity.configs.get("unet") if identity is not None else None
    if not unet:
        return None
    models = list(value) if isinstance(value, (list, tuple)) else [value]
    models = [m for inner in models for m in (getattr(inner, "nets", None) or [inner])]  # a MultiControlNetModel's own list
    for model in models:
        config = getattr(model, "config", None) or {}
        for key in MUST_AGREE:
            theirs, ours = config.get(key), unet.get(key)
            if theirs is not None and ours is not None and theirs != ours:
                return (
                    f"the {type(model).__name__} was trained for a UNet with {key} {theirs}, and this checkpoint's UNet has {ours} "
                    "(a ControlNet for the SDXL base under the refiner, or for SD 1.x under SD 2.x); use a ControlNet trained for this model"
                )
    return None


@hookimpl
def autopipe_modifiers() -> list[ModifierSpec]:
    return [
        ModifierSpec(
            kwarg="controlnet", modifiers=frozenset({CONTROLNET, UNION}), choose=choose, consume=False,
            description="a ControlNetModel (or a list of them, or a ControlNetUnionModel) that conditions the pipeline",
            components=frozenset({"ControlNetModel", "ControlNetUnionModel", "MultiControlNetModel", "ControlNetXSAdapter"}),
            fits=fits,
        )
    ]


@hookimpl
def autopipe_pipelines() -> list[PipelineRow]:
    sd, sdxl = "stable-diffusion", "stable-diffusion-xl"
    return [
        row(
            sd,
            modifiers={CONTROLNET},
            text2img="diffusers:StableDiffusionControlNetPipeline",
            img2img="diffusers:StableDiffusionControlNetImg2ImgPipeline",
            inpaint="diffusers:StableDiffusionControlNetInpaintPipeline",
        ),
        row(
            sd,
            modifiers={CONTROLNET, "pag"},
            missing={Task.IMG2IMG: _NO_PAG},
            text2img="diffusers:StableDiffusionControlNetPAGPipeline",
            inpaint="diffusers:StableDiffusionControlNetPAGInpaintPipeline",
        ),
        row(
            sd,
            modifiers={UNION},
            missing={t: "ControlNet Union models are SDXL models; use a ControlNetModel with Stable Diffusion 1.x/2.x" for t in Task},
        ),
        row(
            sdxl,
            modifiers={CONTROLNET},
            text2img="diffusers:StableDiffusionXLControlNetPipeline",
            img2img="diffusers:StableDiffusionXLControlNetImg2ImgPipeline",
            inpaint="diffusers:StableDiffusionXLControlNetInpaintPipeline",
        ),
        row(
            sdxl,
            modifiers={CONTROLNET, "pag"},
            missing={Task.INPAINT: _NO_PAG},
            text2img="diffusers:StableDiffusionXLControlNetPAGPipeline",
            img2img="diffusers:StableDiffusionXLControlNetPAGImg2ImgPipeline",
        ),
        row(
            sdxl,
            modifiers={UNION},
            text2img="diffusers:StableDiffusionXLControlNetUnionPipeline",
            img2img="diffusers:StableDiffusionXLControlNetUnionImg2ImgPipeline",
            inpaint="diffusers:StableDiffusionXLControlNetUnionInpaintPipeline",
        ),
    ]


# ControlNet files (original or diffusers layout, for SD 1.x, 2.x or SDXL): recognised as a component to pass as controlnet=.
# The detection code is imported when the first single file is inspected.
globals().update(lazy_hooks(__name__, autopipe_detect=".single_file:detect"))


@serialized
def from_single_file(path: str, **kwargs: Any) -> Any:
    """A ControlNetModel from a single file, offline, with the config shipped for the variant its header shows.

    Takes autopipe's process-wide load lock, as every load does (``autopipe_core.LOAD_LOCK``).
    """
    from .single_file import from_single_file as load

    return load(path, **kwargs)
