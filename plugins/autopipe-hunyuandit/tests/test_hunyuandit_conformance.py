"""autopipe-hunyuandit against the conformance kit: the contract every plugin keeps, for every row of the family."""

from __future__ import annotations

from typing import Any

import autopipe_hunyuandit as hunyuan
from autopipe_core import Task
from autopipe_core.testing import PluginConformance

FAMILY = hunyuan.FAMILY
#: HunyuanDiT's pipelines bin every call to their 1024 and 1280 px sizes (a second or more a call on one core); the
#: kit's calls draw 64x64 instead (`autopipe demo`, which tests/test_cli.py runs, draws a binned 1024x1024 call).
UNBINNED = {"height": 64, "width": 64, "use_resolution_binning": False}


class TestConformance(PluginConformance):
    plugin = "autopipe-hunyuandit"
    cannot = {
        (FAMILY, Task.IMG2IMG): hunyuan.NO_IMG2IMG,
        (FAMILY, Task.INPAINT): hunyuan.NO_INPAINT,
        (f"{FAMILY}+pag", Task.IMG2IMG): hunyuan.NO_IMG2IMG,
        (f"{FAMILY}+pag", Task.INPAINT): hunyuan.NO_INPAINT,
        (f"{FAMILY}+controlnet", Task.IMG2IMG): hunyuan.CONTROLNET_TEXT2IMG_ONLY,
        (f"{FAMILY}+controlnet", Task.INPAINT): hunyuan.CONTROLNET_TEXT2IMG_ONLY,
        **{(f"{FAMILY}+controlnet+pag", t): hunyuan.NO_CONTROLNET_PAG for t in Task},
        **{(f"{FAMILY}+controlnet-union", t): hunyuan.NO_UNION for t in Task},
    }
    call_kwargs = {FAMILY: UNBINNED}

    def modifier_kwargs(self, family: str, modifiers: frozenset[str], pipeline: Any) -> dict[str, Any] | None:
        """controlnet=: a tiny HunyuanDiT2DControlNetModel as wide and as deep as the pipeline's transformer."""
        if "controlnet" not in modifiers:
            return None
        from autopipe_hunyuandit.tiny import controlnet

        return {"controlnet": controlnet(pipeline.transformer)}

    def inputs(self, family: str, modifiers: frozenset[str], task: Task) -> dict[str, Any]:
        kwargs = super().inputs(family, modifiers, task)
        if "controlnet" in modifiers:
            from autopipe_core.testing.images import sample_image

            kwargs["control_image"] = sample_image(self.image_size)
        return kwargs
