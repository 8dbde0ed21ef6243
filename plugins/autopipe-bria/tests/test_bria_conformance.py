"""autopipe-bria against the conformance kit: the contract every plugin keeps, for BRIA 3.x."""

from __future__ import annotations

import autopipe_bria as bria
from autopipe_core import Task
from autopipe_core.testing import PluginConformance

#: BriaPipeline draws 1024x1024 unless told (a minute on one core for the tiny checkpoint): the kit's calls draw 64x64.
SMALL = {"height": 64, "width": 64}


class TestConformance(PluginConformance):
    plugin = "autopipe-bria"
    cannot = {
        (bria.BRIA, Task.IMG2IMG): bria.NO_IMG2IMG,
        (bria.BRIA, Task.INPAINT): bria.NO_INPAINT,
        **{(f"{bria.BRIA}+pag", t): bria.NO_PAG for t in Task},
        **{(f"{bria.BRIA}+controlnet", t): bria.NO_CONTROLNET for t in Task},
    }
    call_kwargs = {bria.BRIA: SMALL}
