"""autopipe-sd3 against the conformance kit: the contract every plugin keeps, for every row of the family.

SD3's position table (``pos_embed.pos_embed``) is a persistent buffer, in every weight file and on the device:
the kit's loaded-bytes check counts it beside the parameters (171 MiB in SD 3.5 Large)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autopipe_core import Task
from autopipe_core.testing import PluginConformance

from autopipe_sd3 import FAMILY
from autopipe_sd3.plugin import NO_CONTROLNET_IMG2IMG, NO_CONTROLNET_PAG, NO_UNION

PAG, CONTROLNET = f"{FAMILY}+pag", f"{FAMILY}+controlnet"


def tiny_controlnet(pipeline: Any) -> Any:
    """An SD3ControlNetModel of one block for the pipeline's transformer; one extra conditioning channel (the mask) for inpainting."""
    import torch
    from diffusers import SD3ControlNetModel, StableDiffusion3InpaintPipeline

    keys = ("sample_size", "patch_size", "in_channels", "attention_head_dim", "num_attention_heads", "joint_attention_dim",
            "caption_projection_dim", "pooled_projection_dim", "out_channels", "pos_embed_max_size", "qk_norm")
    config = {k: pipeline.transformer.config[k] for k in keys}
    inpainting = isinstance(pipeline, StableDiffusion3InpaintPipeline)
    torch.manual_seed(0)
    return SD3ControlNetModel(**config, num_layers=1, extra_conditioning_channels=1 if inpainting else 0)


class TestConformance(PluginConformance):
    plugin = "autopipe-sd3"
    cannot = {
        (PAG, Task.INPAINT): "diffusers has no PAG inpaint pipeline for stable-diffusion-3",
        (CONTROLNET, Task.IMG2IMG): NO_CONTROLNET_IMG2IMG,
        **{(f"{FAMILY}+controlnet+pag", t): NO_CONTROLNET_PAG for t in Task},
        **{(f"{FAMILY}+controlnet-union", t): NO_UNION for t in Task},
    }

    def tiny_single_file(self, family: str, path: Path) -> Path:
        from sd3_layouts import build_tiny_file  # tests/: the tiny folder in the original single-file layout

        return build_tiny_file(path, self.tiny_folder(family))

    def modifier_kwargs(self, family: str, modifiers: frozenset[str], pipeline: Any) -> dict[str, Any] | None:
        if "controlnet" not in modifiers:
            return None
        return {"controlnet": tiny_controlnet(pipeline)}

    def inputs(self, family: str, modifiers: frozenset[str], task: Task) -> dict[str, Any]:
        from PIL import Image

        kwargs = super().inputs(family, modifiers, task)
        if "controlnet" in modifiers:
            kwargs["control_image"] = Image.new("RGB", (self.image_size, self.image_size), (255, 255, 255))
            if task is Task.INPAINT:  # StableDiffusion3ControlNetInpaintingPipeline: the image and mask go to the ControlNet
                kwargs["control_image"] = kwargs.pop("image")
                kwargs["control_mask"] = kwargs.pop("mask_image")
        return kwargs
