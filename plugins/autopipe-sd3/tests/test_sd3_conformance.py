"""autopipe-sd3 against the conformance kit: the contract every plugin keeps, for every row of the family."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from autopipe_core import Task
from autopipe_core.testing import PluginConformance

from autopipe_sd3 import FAMILY, NO_CONTROLNET_IMG2IMG, NO_CONTROLNET_PAG, NO_UNION

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

    def _real_bytes(self, resolution: Any, path: Path, plan: Any) -> dict[str, int]:
        """The kit's measure of what a loaded pipeline holds, with persistent buffers counted as well as parameters.

        The kit counts ``parameters()`` only. SD3's transformer also holds its
        position table, ``pos_embed.pos_embed``, as a persistent buffer: it is in
        every weight file (so the core counts it from the headers), diffusers casts
        it to the load's dtype with the rest, and it sits on the device (171 MiB in
        SD 3.5 Large). Measured here from ``state_dict()`` (what a save holds, a
        tied weight once); to go once the kit counts buffers itself.
        """
        import torch

        from autopipe_core import loading

        key = ("with buffers", str(path), plan.dtype, plan.variant, tuple(sorted(plan.component_dtypes.items())), tuple(sorted(plan.skip)))
        if key not in self._state.real_bytes:
            on_cpu = replace(plan, placement="device", device="cpu")
            pipeline = loading.from_pretrained(resolution, path, loading.load_kwargs(on_cpu, {}))
            self._state.real_bytes[key] = {
                name: sum({t.data_ptr(): t.numel() * t.element_size() for t in component.state_dict().values()}.values())
                for name, component in pipeline.components.items() if isinstance(component, torch.nn.Module)
            }
        return self._state.real_bytes[key]

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
