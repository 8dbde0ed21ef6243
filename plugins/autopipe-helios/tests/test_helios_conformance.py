"""autopipe-helios against the conformance kit: the contract every plugin keeps, for Helios and Helios Pyramid.

One adaptation, for what diffusers' Helios classes are, not for a gap in the plugin:
:meth:`TestConformance.inputs`: HeliosPyramidPipeline takes no ``num_inference_steps`` (its steps are
``pyramid_num_inference_steps_list``, one entry a pyramid stage); every call draws one frame at 64x64 in one
latent frame a chunk (a picture: the text2img of diffusers' table; a real call draws 132 frames at 640x384).
Both classes return ``HeliosPipelineOutput.frames``, one video per prompt: the kit reads the first frame of each
(autopipe_core.outputs), as the command line and the serving deployment do.
"""

from __future__ import annotations

from typing import Any

import autopipe_helios as helios
from autopipe_core import Task
from autopipe_core.testing import PluginConformance

#: One frame (a picture) at 64x64 from one latent frame a chunk, prompts padded to 16 tokens: about a second a call.
ONE_FRAME = {"height": 64, "width": 64, "num_frames": 1, "num_latent_frames_per_chunk": 1, "max_sequence_length": 16}
#: One step in each of the pyramid's three stages (the tiny HeliosDMDScheduler's stages).
PYRAMID_STEPS = [1, 1, 1]


class TestConformance(PluginConformance):
    plugin = "autopipe-helios"
    cannot = {
        **{(family, Task.IMG2IMG): helios.NO_IMG2IMG for family in helios.FAMILIES},
        **{(family, Task.INPAINT): helios.NO_INPAINT for family in helios.FAMILIES},
        **{(f"{family}+pag", t): helios.NO_PAG for family in helios.FAMILIES for t in Task},
        **{(f"{family}+controlnet", t): helios.NO_CONTROLNET for family in helios.FAMILIES for t in Task},
    }
    call_kwargs = {helios.HELIOS: ONE_FRAME, helios.PYRAMID: {**ONE_FRAME, "pyramid_num_inference_steps_list": PYRAMID_STEPS}}

    def inputs(self, family: str, modifiers: frozenset[str], task: Task) -> dict[str, Any]:
        kwargs = super().inputs(family, modifiers, task)
        if family == helios.PYRAMID:
            del kwargs["num_inference_steps"]  # HeliosPyramidPipeline.__call__ has no such argument
        return kwargs
