"""autopipe-zimage against the conformance kit: the contract every plugin keeps, for every row of both families."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autopipe_core import Task
from autopipe_core.testing import PluginConformance
from autopipe_zimage import FAMILY, OMNI, tiny
from autopipe_zimage.plugin import (
    NO_CONTROLNET_IMG2IMG, NO_CONTROLNET_PAG, NO_PAG, NO_UNION, OMNI_NO_CONTROLNET, OMNI_NO_IMG2IMG, OMNI_NO_INPAINT, OMNI_NO_PAG,
)

#: The Z-Image pipelines draw 1024x1024 unless told; the tiny VAE makes 64x64 images 32x32 latents.
SMALL = {"height": 64, "width": 64}
CONTROLNET = f"{FAMILY}+controlnet"


class TestConformance(PluginConformance):
    plugin = "autopipe-zimage"
    cannot = {
        (CONTROLNET, Task.IMG2IMG): NO_CONTROLNET_IMG2IMG,
        **{(f"{FAMILY}+pag", t): NO_PAG for t in Task},
        **{(f"{FAMILY}+controlnet+pag", t): NO_CONTROLNET_PAG for t in Task},
        **{(f"{FAMILY}+controlnet-union", t): NO_UNION for t in Task},
        (OMNI, Task.IMG2IMG): OMNI_NO_IMG2IMG,
        (OMNI, Task.INPAINT): OMNI_NO_INPAINT,
        **{(f"{OMNI}+controlnet", t): OMNI_NO_CONTROLNET for t in Task},
        **{(f"{OMNI}+pag", t): OMNI_NO_PAG for t in Task},
    }
    no_single_file = {OMNI: "diffusers' from_single_file knows no Z-Image-Omni file; an Omni transformer file is not claimed (test_zimage_single_file.py)"}
    call_kwargs = {FAMILY: SMALL, OMNI: SMALL}

    def tiny_single_file(self, family: str, path: Path) -> Path:
        from autopipe_zimage.single_file import transformer_file

        return transformer_file(self.tiny_folder(family), path)

    def modifier_kwargs(self, family: str, modifiers: frozenset[str], pipeline: Any) -> dict[str, Any] | None:
        """controlnet=: a tiny ZImageControlNetModel for the pipeline's transformer; a 2.1-style one (33 channels) for inpaint."""
        if modifiers != {"controlnet"}:
            return None
        inpaint = type(pipeline).__name__.endswith("InpaintPipeline")
        return {"controlnet": tiny.controlnet(pipeline.transformer.config, 33 if inpaint else 16, "control_noise_refiner" if inpaint else None)}

    def inputs(self, family: str, modifiers: frozenset[str], task: Task) -> dict[str, Any]:
        kwargs = super().inputs(family, modifiers, task)
        if "controlnet" in modifiers:
            kwargs["control_image"] = super().inputs(family, modifiers, Task.IMG2IMG)["image"]
        return kwargs
