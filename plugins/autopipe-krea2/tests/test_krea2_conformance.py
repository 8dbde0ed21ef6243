"""autopipe-krea2 against the conformance kit: the contract every plugin keeps, for Krea 2."""

from __future__ import annotations

from pathlib import Path

import autopipe_krea2 as krea2
from autopipe_core import Task
from autopipe_core.testing import PluginConformance
from autopipe_krea2.plugin import NO_CONTROLNET, NO_IMG2IMG, NO_INPAINT, NO_PAG

#: Krea2Pipeline draws 1024x1024 and pads prompts to 512 tokens unless told: the kit's calls draw 64x64 over 32 tokens,
#: well under a second on one core for the tiny checkpoint. tests/test_krea2_plugin.py runs the defaults once.
SMALL = {"height": 64, "width": 64, "max_sequence_length": 32}


class TestConformance(PluginConformance):
    plugin = "autopipe-krea2"
    cannot = {
        (krea2.KREA2, Task.IMG2IMG): NO_IMG2IMG,
        (krea2.KREA2, Task.INPAINT): NO_INPAINT,
        **{(f"{krea2.KREA2}+pag", t): NO_PAG for t in Task},
        **{(f"{krea2.KREA2}+controlnet", t): NO_CONTROLNET for t in Task},
    }
    call_kwargs = {krea2.KREA2: SMALL}

    def tiny_single_file(self, family: str, path: Path) -> Path:
        from autopipe_krea2.tiny import krea2_single_file

        return krea2_single_file(self.tiny_folder(family), path)
