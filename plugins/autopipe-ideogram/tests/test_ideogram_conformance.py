"""autopipe-ideogram against the conformance kit: the contract every plugin keeps, for Ideogram 4."""

from __future__ import annotations

import autopipe_ideogram as ideogram
from autopipe_core import Task
from autopipe_core.testing import PluginConformance

#: Ideogram4Pipeline draws 2048x2048 over 2,048 text tokens with a 48-step guidance schedule unless told: the kit's
#: 2-step calls need a constant guidance_scale and no schedule (diffusers refuses a schedule of another length), and
#: draw 64x64 over 64 text tokens, a fraction of a second each. tests/test_ideogram_plugin.py runs the defaults.
SMALL = {"height": 64, "width": 64, "guidance_scale": 4.0, "guidance_schedule": None, "max_sequence_length": 64}


class TestConformance(PluginConformance):
    plugin = "autopipe-ideogram"
    cannot = {
        (ideogram.IDEOGRAM4, Task.IMG2IMG): ideogram.NO_IMG2IMG,
        (ideogram.IDEOGRAM4, Task.INPAINT): ideogram.NO_INPAINT,
        **{(f"{ideogram.IDEOGRAM4}+pag", t): ideogram.NO_PAG for t in Task},
        **{(f"{ideogram.IDEOGRAM4}+controlnet", t): ideogram.NO_CONTROLNET for t in Task},
    }
    call_kwargs = {ideogram.IDEOGRAM4: SMALL}
