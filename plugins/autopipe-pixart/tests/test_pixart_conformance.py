"""autopipe-pixart against the conformance kit: the contract every plugin keeps, for PixArt-α, PixArt-Σ, Sana and Sana Sprint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import autopipe_pixart as pixart
import autopipe_pixart.plugin as pixart_plugin
from autopipe_core import Task
from autopipe_core.testing import PluginConformance

#: Sana's pipelines bin every call to a table of sizes (1024x1024 and up for the tiny Sana's sample_size 32, a second a
#: call on one core); the kit's calls draw 64x64 instead, and tests/test_sana.py runs the default, binned call.
UNBINNED = {"height": 64, "width": 64, "use_resolution_binning": False}
QUIET = {"clean_caption": False}  # PixArt's default asks for beautifulsoup4 and ftfy, and warns on every call without them


class TestConformance(PluginConformance):
    plugin = "autopipe-pixart"
    cannot = {
        (pixart.PIXART_ALPHA, Task.IMG2IMG): pixart_plugin.PIXART_NO_IMG2IMG,
        (pixart.PIXART_ALPHA, Task.INPAINT): pixart_plugin.PIXART_NO_INPAINT,
        **{(f"{pixart.PIXART_ALPHA}+pag", t): pixart_plugin.ALPHA_NO_PAG for t in Task},
        (pixart.PIXART_SIGMA, Task.IMG2IMG): pixart_plugin.PIXART_NO_IMG2IMG,
        (pixart.PIXART_SIGMA, Task.INPAINT): pixart_plugin.PIXART_NO_INPAINT,
        (f"{pixart.PIXART_SIGMA}+pag", Task.IMG2IMG): pixart_plugin.PIXART_NO_IMG2IMG,
        (f"{pixart.PIXART_SIGMA}+pag", Task.INPAINT): pixart_plugin.PIXART_NO_INPAINT,
        (pixart.SANA, Task.IMG2IMG): pixart_plugin.SANA_NO_IMG2IMG,
        (pixart.SANA, Task.INPAINT): pixart_plugin.SANA_NO_INPAINT,
        (f"{pixart.SANA}+pag", Task.IMG2IMG): pixart_plugin.SANA_NO_IMG2IMG,
        (f"{pixart.SANA}+pag", Task.INPAINT): pixart_plugin.SANA_NO_INPAINT,
        (f"{pixart.SANA}+controlnet", Task.IMG2IMG): pixart_plugin.CONTROLNET_TEXT2IMG_ONLY,
        (f"{pixart.SANA}+controlnet", Task.INPAINT): pixart_plugin.CONTROLNET_TEXT2IMG_ONLY,
        (pixart.SANA_SPRINT, Task.INPAINT): pixart_plugin.SPRINT_NO_INPAINT,
        **{(f"{pixart.SANA_SPRINT}+pag", t): pixart_plugin.SPRINT_NO_PAG for t in Task},
        **{(f"{pixart.SANA_SPRINT}+controlnet", t): pixart_plugin.SPRINT_NO_CONTROLNET for t in Task},
    }
    no_single_file = {
        pixart.PIXART_ALPHA: "diffusers has no single-file loader for PixArt: the plugin recognises PixArt's original files only to refuse them",
        pixart.PIXART_SIGMA: "diffusers has no single-file loader for PixArt: the plugin recognises PixArt's original files only to refuse them",
        pixart.SANA_SPRINT: "diffusers' Sana converter drops Sprint's guidance embedder and query/key norms: Sprint files are recognised and refused",
    }
    call_kwargs = {
        pixart.PIXART_ALPHA: QUIET,
        pixart.PIXART_SIGMA: QUIET,
        pixart.SANA: UNBINNED,
        pixart.SANA_SPRINT: UNBINNED,
    }

    def modifier_kwargs(self, family: str, modifiers: frozenset[str], pipeline: Any) -> dict[str, Any] | None:
        """controlnet=: a tiny SanaControlNetModel as wide as the pipeline's transformer (what diffusers' row needs)."""
        if pixart_plugin.CONTROLNET not in modifiers:
            return None
        from autopipe_pixart.tiny import sana_controlnet

        return {"controlnet": sana_controlnet(pipeline.transformer)}

    def inputs(self, family: str, modifiers: frozenset[str], task: Task) -> dict[str, Any]:
        kwargs = super().inputs(family, modifiers, task)
        if pixart_plugin.CONTROLNET in modifiers:
            from autopipe_core.testing.images import sample_image

            kwargs["control_image"] = sample_image(self.image_size)
        return kwargs

    def tiny_single_file(self, family: str, path: Path) -> Path:
        from autopipe_pixart.tiny import sana_single_file

        return sana_single_file(self.tiny_folder(family), path)
