"""autopipe-qwenimage against the conformance kit: the contract every plugin keeps.

The Edit, Edit-Plus, Layered and 2.1 pipelines take a Qwen2-VL or Qwen3-VL
processor, which transformers 5 builds only with torchvision (the processor's
video half); where it cannot (this repository's .venv has no torchvision:
PyPI's wheels are CUDA builds that do not load with the CPU torch), the kit's
end-to-end cases of those families are skipped with that reason, and run
where torchvision is installed. Their registration, refusals and requirements
are tested here and in test_qwenimage_plugin.py whatever the environment.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from autopipe_core import Task
from autopipe_core.testing import PluginConformance
from autopipe_qwenimage import FAMILY, LAYERED, QWENIMAGE21, tiny
from autopipe_qwenimage.plugin import CONTROLNET, VISION_FAMILIES

SMALL = {"height": 64, "width": 64}  # the pipelines' default is 128 latents x the VAE's scale: 512 px with the tiny VAE


class TestConformance(PluginConformance):
    plugin = "autopipe-qwenimage"
    cannot = {
        (FAMILY + "+" + CONTROLNET, Task.IMG2IMG): "diffusers has no ControlNet img2img pipeline for Qwen-Image",
        ("qwenimage-edit", Task.TEXT2IMG): "an edit model: diffusers maps qwenimage-edit to img2img and inpaint only",
        ("qwenimage-edit-plus", Task.TEXT2IMG): "an edit model: img2img only in diffusers",
        ("qwenimage-edit-plus", Task.INPAINT): "diffusers has no Edit-Plus inpainting pipeline",
        (LAYERED, Task.TEXT2IMG): "decomposes an input image into layers",
        (LAYERED, Task.INPAINT): "decomposes an input image into layers",
        (QWENIMAGE21, Task.IMG2IMG): "diffusers maps Qwen-Image 2.1 to text2img only",
        (QWENIMAGE21, Task.INPAINT): "diffusers has no Qwen-Image 2.1 inpainting pipeline",
    }
    no_single_file = {
        **{
            edit: "an Edit transformer has the base's layout, so its header cannot tell it from Qwen-Image's (diffusers' "
            "from_single_file has no Edit key either): such a file is detected as qwenimage, and loads as an Edit model with config="
            for edit in ("qwenimage-edit", "qwenimage-edit-plus")
        },
        LAYERED: "the tiny single-file layout is the base transformer's; a Layered file is recognised by its addition_t_embedding (tested in test_qwenimage_single_file.py)",
        QWENIMAGE21: "recognised by diffusers' qwen-image-2.1 key (tested in test_qwenimage_single_file.py); its base needs a Qwen3-VL processor",
    }
    call_kwargs = {FAMILY: SMALL, "qwenimage-edit": SMALL, "qwenimage-edit-plus": SMALL, QWENIMAGE21: {"output_resolution": 64}, LAYERED: {"layers": 1}}

    def tiny_folder(self, family: str, variant: str | None = None) -> Path:
        if family in VISION_FAMILIES and (missing := tiny.vision_processor_missing()) is not None:
            pytest.skip(missing)
        return super().tiny_folder(family, variant)

    def modifier_kwargs(self, family: str, modifiers: frozenset[str], pipeline: Any) -> dict[str, Any] | None:
        """controlnet=: a tiny QwenImageControlNetModel for the pipeline's transformer; an inpainting one (4 mask channels) for inpaint."""
        if modifiers != {CONTROLNET}:
            return None
        inpaint = type(pipeline).__name__.endswith("InpaintPipeline")
        return {"controlnet": tiny.controlnet(pipeline.transformer.config, extra_condition_channels=4 if inpaint else 0)}

    def inputs(self, family: str, modifiers: frozenset[str], task: Task) -> dict[str, Any]:
        kwargs = super().inputs(family, modifiers, task)
        if CONTROLNET in modifiers:
            # QwenImageControlNetInpaintPipeline repaints control_mask in control_image: it takes no image= or mask_image=.
            kwargs["control_image"] = kwargs.pop("image", None) or super().inputs(family, modifiers, Task.IMG2IMG)["image"]
            if task is Task.INPAINT:
                kwargs["control_mask"] = kwargs.pop("mask_image")
        if family == LAYERED:
            kwargs["image"] = kwargs["image"].convert("RGBA")  # the layers are split from an RGBA image
        return kwargs

    def tiny_single_file(self, family: str, path: Path) -> Path:
        from autopipe_qwenimage.single_file import transformer_file

        return transformer_file(self.tiny_folder(family), path)

    def test_loads_take_the_load_lock(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The kit's test over the families whose tiny checkpoints this environment can build (all, with torchvision)."""
        if tiny.vision_processor_missing() is not None:
            claims = self._state.claims
            self._state.claims = replace(claims, families=tuple(f for f in claims.families if f not in VISION_FAMILIES))
            try:
                return super().test_loads_take_the_load_lock(monkeypatch)
            finally:
                self._state.claims = claims
        return super().test_loads_take_the_load_lock(monkeypatch)
