"""autopipe-cogview against the conformance kit: the contract every plugin keeps, for CogView3-Plus and CogView4."""

from __future__ import annotations

import autopipe_cogview as cogview
from autopipe_core import Task
from autopipe_core.testing import PluginConformance

#: CogView4 Control's row: its class is named by its checkpoint (or a live pipeline of it), never chosen by a keyword from
#: a plain CogView4 pipeline, whose transformer could not take the control image anyway.
_CONTROL_BY_CLASS = (
    "no keyword selects it: a checkpoint (or a live pipeline) of CogView4ControlPipeline does, with a 32-channel transformer; "
    "test_cogview_control.py runs it end to end on its own tiny checkpoint"
)


class TestConformance(PluginConformance):
    plugin = "autopipe-cogview"
    cannot = {
        (cogview.COGVIEW3, Task.IMG2IMG): cogview.COGVIEW3_NO_IMG2IMG,
        (cogview.COGVIEW3, Task.INPAINT): cogview.COGVIEW3_NO_INPAINT,
        **{(f"{cogview.COGVIEW3}+pag", t): cogview.NO_PAG.format(what=cogview.COGVIEW3_WHAT) for t in Task},
        **{(f"{cogview.COGVIEW3}+controlnet", t): cogview.NO_CONTROLNET.format(what=cogview.COGVIEW3_WHAT) for t in Task},
        (cogview.COGVIEW4, Task.IMG2IMG): cogview.COGVIEW4_NO_IMG2IMG,
        (cogview.COGVIEW4, Task.INPAINT): cogview.COGVIEW4_NO_INPAINT,
        (f"{cogview.COGVIEW4}+control", Task.IMG2IMG): cogview.CONTROL_NO_IMG2IMG,
        (f"{cogview.COGVIEW4}+control", Task.INPAINT): cogview.CONTROL_NO_INPAINT,
        **{(f"{cogview.COGVIEW4}+pag", t): cogview.NO_PAG.format(what=cogview.COGVIEW4_WHAT) for t in Task},
        **{(f"{cogview.COGVIEW4}+controlnet", t): cogview.COGVIEW4_NO_CONTROLNET for t in Task},
    }
    by_hand = {f"{cogview.COGVIEW4}+control": _CONTROL_BY_CLASS}
