"""autopipe-bria against the conformance kit: the contract every plugin keeps, for BRIA 3.x and FIBO."""

from __future__ import annotations

import autopipe_bria as bria
from autopipe_core import Task
from autopipe_core.testing import PluginConformance

#: Both families draw 1024x1024 unless told (a minute on one core for the tiny checkpoints): the kit's calls draw 64x64.
SMALL = {"height": 64, "width": 64}


class TestConformance(PluginConformance):
    plugin = "autopipe-bria"
    cannot = {
        (bria.BRIA, Task.IMG2IMG): bria.NO_IMG2IMG,
        (bria.BRIA, Task.INPAINT): bria.NO_INPAINT,
        **{(f"{bria.BRIA}+pag", t): bria.NO_PAG for t in Task},
        **{(f"{bria.BRIA}+controlnet", t): bria.NO_CONTROLNET for t in Task},
        (bria.FIBO, Task.IMG2IMG): bria.FIBO_NO_IMG2IMG,
        (bria.FIBO, Task.INPAINT): bria.FIBO_NO_INPAINT,
        **{(f"{bria.FIBO}+pag", t): bria.FIBO_NO_PAG for t in Task},
        **{(f"{bria.FIBO}+controlnet", t): bria.FIBO_NO_CONTROLNET for t in Task},
    }
    by_hand = {
        f"{bria.FIBO}+{bria.EDIT}": "no keyword selects it: a FIBO Edit checkpoint (BriaFiboEditPipeline) does, and its prompt must be "
        "JSON with an edit_instruction and its mask keyword is mask=; test_fibo.py runs it on its own tiny checkpoint",
    }
    call_kwargs = {bria.BRIA: SMALL, bria.FIBO: SMALL}
