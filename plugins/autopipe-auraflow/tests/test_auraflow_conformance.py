"""autopipe-auraflow against the conformance kit: the contract every plugin keeps, for AuraFlow."""

from __future__ import annotations

from pathlib import Path

import autopipe_auraflow.plugin as auraflow
from autopipe_core import Task
from autopipe_core.testing import PluginConformance

#: AuraFlowPipeline draws 1024x1024 unless told (whatever the transformer's sample_size): a second and more on one core
#: for the tiny checkpoint, most of it the VAE decode. The kit's calls draw 64x64; tests/test_auraflow_plugin.py runs
#: the default size once.
SMALL = {"height": 64, "width": 64}


class TestConformance(PluginConformance):
    plugin = "autopipe-auraflow"
    cannot = {
        (auraflow.AURAFLOW, Task.IMG2IMG): auraflow.NO_IMG2IMG,
        (auraflow.AURAFLOW, Task.INPAINT): auraflow.NO_INPAINT,
        **{(f"{auraflow.AURAFLOW}+pag", t): auraflow.NO_PAG for t in Task},
        **{(f"{auraflow.AURAFLOW}+controlnet", t): auraflow.NO_CONTROLNET for t in Task},
    }
    call_kwargs = {auraflow.AURAFLOW: SMALL}

    def tiny_single_file(self, family: str, path: Path) -> Path:
        from autopipe_auraflow.tiny import auraflow_single_file

        return auraflow_single_file(self.tiny_folder(family), path)
