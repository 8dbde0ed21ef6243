"""autopipe-prx against the conformance kit: the contract every plugin keeps, for PRX and PRXPixel."""

from __future__ import annotations

import autopipe_prx as prx
from autopipe_core import Task
from autopipe_core.testing import PluginConformance

#: Both PRX pipelines bin every size to their published aspect ratios (256 px on the tiny PRX, 1024 px on the tiny
#: PRXPixel) and resize after; the kit's calls draw 64x64 as asked instead, a second less each on one core.
#: tests/test_prx_plugin.py runs each pipeline's binned default once.
SMALL = {"height": 64, "width": 64, "use_resolution_binning": False}


class TestConformance(PluginConformance):
    plugin = "autopipe-prx"
    cannot = {
        (prx.PRX, Task.IMG2IMG): prx.NO_IMG2IMG,
        (prx.PRX, Task.INPAINT): prx.NO_INPAINT,
        (prx.PIXEL, Task.IMG2IMG): prx.PIXEL_NO_IMG2IMG,
        (prx.PIXEL, Task.INPAINT): prx.PIXEL_NO_INPAINT,
        **{(f"{family}+pag", t): prx.NO_PAG for family in prx.FAMILIES for t in Task},
        **{(f"{family}+controlnet", t): prx.NO_CONTROLNET for family in prx.FAMILIES for t in Task},
    }
    call_kwargs = {prx.PRX: SMALL, prx.PIXEL: SMALL}
