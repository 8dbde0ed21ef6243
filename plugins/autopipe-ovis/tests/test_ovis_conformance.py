"""autopipe-ovis against the conformance kit: the contract every plugin keeps, for Ovis-Image."""

from __future__ import annotations

import autopipe_ovis as ovis
from autopipe_core import Task
from autopipe_core.testing import PluginConformance

#: OvisImagePipeline draws at 128 latents x the VAE's scale unless told (256x256 on the tiny 2x VAE, seconds on a core);
#: the kit's calls draw 64x64. tests/test_ovis_plugin.py runs the default size once.
SMALL = {"height": 64, "width": 64}


class TestConformance(PluginConformance):
    plugin = "autopipe-ovis"
    cannot = {
        (ovis.OVIS, Task.IMG2IMG): ovis.NO_IMG2IMG,
        (ovis.OVIS, Task.INPAINT): ovis.NO_INPAINT,
        **{(f"{ovis.OVIS}+pag", t): ovis.NO_PAG for t in Task},
        **{(f"{ovis.OVIS}+controlnet", t): ovis.NO_CONTROLNET for t in Task},
    }
    call_kwargs = {ovis.OVIS: SMALL}
