"""autopipe-glm-image against the conformance kit: the contract every plugin keeps, for GLM-Image."""

from __future__ import annotations

import autopipe_glm_image as glm
from autopipe_core import Task
from autopipe_core.testing import PluginConformance

#: GlmImagePipeline needs height and width (diffusers 0.42.1 passes None on to its processor otherwise); the kit's calls
#: draw 64x64 (4 prior tokens after the 256 of the preview) with 16 glyph tokens.
SMALL = {"height": 64, "width": 64, "max_sequence_length": 16}


class TestConformance(PluginConformance):
    plugin = "autopipe-glm-image"
    cannot = {
        (glm.GLM_IMAGE, Task.IMG2IMG): glm.NO_IMG2IMG,
        (glm.GLM_IMAGE, Task.INPAINT): glm.NO_INPAINT,
        **{(f"{glm.GLM_IMAGE}+pag", t): glm.NO_PAG for t in Task},
        **{(f"{glm.GLM_IMAGE}+controlnet", t): glm.NO_CONTROLNET for t in Task},
    }
    call_kwargs = {glm.GLM_IMAGE: SMALL}
