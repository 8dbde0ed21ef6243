"""autopipe-hidream against the conformance kit: the contract every plugin keeps, for HiDream-I1."""

from __future__ import annotations

from pathlib import Path

import autopipe_hidream as hidream
from autopipe_core import Task
from autopipe_core.testing import PluginConformance
from autopipe_hidream.plugin import NO_CONTROLNET, NO_IMG2IMG, NO_INPAINT, NO_PAG


class TestConformance(PluginConformance):
    plugin = "autopipe-hidream"
    cannot = {
        (hidream.HIDREAM, Task.IMG2IMG): NO_IMG2IMG,
        (hidream.HIDREAM, Task.INPAINT): NO_INPAINT,
        **{(f"{hidream.HIDREAM}+pag", t): NO_PAG for t in Task},
        **{(f"{hidream.HIDREAM}+controlnet", t): NO_CONTROLNET for t in Task},
    }

    def tiny_single_file(self, family: str, path: Path) -> Path:
        from autopipe_hidream.tiny import hidream_single_file

        return hidream_single_file(self.tiny_folder(family), path)
