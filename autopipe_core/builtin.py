"""The core's own hook implementations: the modifier keywords every family shares.

``enable_pag`` and ``controlnet`` are part of diffusers' AutoPipeline API for
every family that has PAG or ControlNet pipelines (SD, SDXL, SD3, FLUX,
Qwen-Image, HunyuanDiT, Sana, ...), so the core registers them here, through
the same hook any plugin would use. A family opts in by registering rows with
the "pag", "controlnet" or "controlnet-union" modifier.
"""

from __future__ import annotations

from typing import Any

from .hookspecs import hookimpl
from .specs import ModifierSpec

CONTROLNET = "controlnet"
UNION = "controlnet-union"
_UNION_CLASSES = frozenset({"ControlNetUnionModel", "MultiControlNetUnionModel"})

#: The models ``controlnet=`` takes, by class name: a folder or file holding one is told to pass it so.
CONTROLNET_CLASSES = frozenset(
    {
        "ControlNetModel", "ControlNetUnionModel", "MultiControlNetModel", "MultiControlNetUnionModel", "ControlNetXSAdapter",
        "SD3ControlNetModel", "SD3MultiControlNetModel", "FluxControlNetModel", "FluxMultiControlNetModel",
        "HunyuanDiT2DControlNetModel", "HunyuanDiT2DMultiControlNetModel", "SanaControlNetModel",
        "QwenImageControlNetModel", "QwenImageMultiControlNetModel", "ZImageControlNetModel",
    }
)

#: The UNet config entries a ControlNet copies from the UNet it was trained beside: they must agree, or the first
#: denoising step fails with a shape error (an SDXL base ControlNet, 2816, under the refiner's UNet, 2560).
MUST_AGREE = ("cross_attention_dim", "projection_class_embeddings_input_dim", "addition_time_embed_dim")


def _pag(enabled: object) -> str | None:
    return "pag" if enabled else None


def _is_union(model: Any) -> bool:
    # By class name along the MRO: the model is already imported by whoever made it,
    # and reading names keeps this module free of diffusers imports.
    return any(k.__name__ in _UNION_CLASSES for k in type(model).__mro__)


def choose_controlnet(value: Any) -> str | None:
    """None removes ControlNet; a union model (or a list of them) picks the Union pipelines; anything else the plain ones."""
    if value is None:
        return None
    models = list(value) if isinstance(value, (list, tuple)) else [value]
    if not models:
        raise ValueError("controlnet= got an empty list: pass a ControlNet model, a list of them, or None")
    return UNION if all(_is_union(m) for m in models) else CONTROLNET


def controlnet_fits(value: Any, identity: Any) -> str | None:
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
            kwarg="enable_pag", modifiers=frozenset({"pag"}), choose=_pag, consume=True,
            description="the PAG (perturbed-attention guidance) pipeline of the family, where it has one",
        ),
        ModifierSpec(
            kwarg="controlnet", modifiers=frozenset({CONTROLNET, UNION}), choose=choose_controlnet, consume=False,
            description="a ControlNet model (or a list of them, or a union model) that conditions the pipeline",
            components=CONTROLNET_CLASSES,
            fits=controlnet_fits,
        ),
    ]
