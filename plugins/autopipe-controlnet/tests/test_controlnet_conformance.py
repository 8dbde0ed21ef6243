"""autopipe-controlnet against the conformance kit: a modifier plugin, its rows over SD's and SDXL's families."""

from pathlib import Path
from typing import Any

from autopipe_core import Task
from autopipe_core.testing import PluginConformance

_NO_PAG = "diffusers has no PAG ControlNet pipeline for this task"
_UNION_IS_SDXL = "ControlNet Union models are SDXL models"
_NO_TINY_SDXL_FILE = (
    "autopipe-controlnet recognises SDXL ControlNet files by the full-size shapes (cross-attention 2048, "
    "add_embedding 2816), which no tiny model has"
)


class TestConformance(PluginConformance):
    plugin = "autopipe-controlnet"
    with_plugins = ("autopipe-sd", "autopipe-sdxl")
    cannot = {
        ("stable-diffusion+controlnet+pag", "img2img"): _NO_PAG,
        ("stable-diffusion-xl+controlnet+pag", "inpaint"): _NO_PAG,
        **{("stable-diffusion+controlnet-union", t): _UNION_IS_SDXL for t in Task},
    }
    no_single_file = {"stable-diffusion-xl": _NO_TINY_SDXL_FILE}

    def tiny_single_file(self, family: str, path: Path) -> Path:
        """A ControlNet for the tiny SD checkpoint's UNet, saved as one file in diffusers' layout."""
        import torch
        from diffusers import ControlNetModel, UNet2DConditionModel
        from safetensors.torch import save_file

        torch.manual_seed(0)
        unet = UNet2DConditionModel.from_pretrained(self.tiny_folder(family) / "unet")
        model = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(8, 16))
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
        return path

    def modifier_kwargs(self, family: str, modifiers: frozenset[str], pipeline: Any) -> dict[str, Any]:
        import torch
        from diffusers import ControlNetModel, ControlNetUnionModel

        torch.manual_seed(0)
        # two conditioning stages: the tiny VAEs downsample by 2, so must the conditioning embedding
        model = ControlNetModel.from_unet(pipeline.unet, conditioning_embedding_out_channels=(8, 16))
        if "controlnet-union" in modifiers:
            shape = dict(ControlNetUnionModel.from_unet(pipeline.unet, conditioning_embedding_out_channels=(8, 16)).config)
            width = pipeline.unet.config.block_out_channels[0]  # the union transformer works at the first block's width
            shape.update(num_trans_channel=width, num_proj_channel=width, num_trans_head=2)
            model = ControlNetUnionModel(**{k: v for k, v in shape.items() if not k.startswith("_")})
        return {"controlnet": model, **({"enable_pag": True} if "pag" in modifiers else {})}

    def inputs(self, family: str, modifiers: frozenset[str], task: Task) -> dict[str, Any]:
        from PIL import Image

        kwargs = super().inputs(family, modifiers, task)
        control = Image.new("RGB", (self.image_size, self.image_size), (255, 255, 255))
        if "controlnet-union" in modifiers:
            kwargs.update(control_image=[control], control_mode=[0])
        elif task is Task.TEXT2IMG:
            kwargs["image"] = control
        else:
            kwargs["control_image"] = control
        return kwargs
