"""autopipe-flux2 against the conformance kit: the contract every plugin keeps, for FLUX.2 [dev] and [klein]."""

from __future__ import annotations

from pathlib import Path

from autopipe_core import Task
from autopipe_core.testing import PluginConformance

from autopipe_flux2 import FLUX2, KLEIN, KV
from autopipe_flux2.plugin import NO_DEV_INPAINT, NO_KV_INPAINT

#: The pipelines draw 1024x1024 unless told: the tiny checkpoints draw the kit's 64x64.
SMALL = {"height": 64, "width": 64}


class TestConformance(PluginConformance):
    plugin = "autopipe-flux2"
    cannot = {(FLUX2, Task.INPAINT): NO_DEV_INPAINT, (f"{KLEIN}+{KV}", Task.INPAINT): NO_KV_INPAINT}
    by_hand = {
        f"{KLEIN}+{KV}": "no keyword selects it: a checkpoint (or a live pipeline) of Flux2KleinKVPipeline does; "
        "test_flux2_plugin.py runs it on its own tiny checkpoint",
    }
    call_kwargs = {FLUX2: SMALL, KLEIN: SMALL}

    def tiny_single_file(self, family: str, path: Path) -> Path:
        """The tiny checkpoint's transformer in BFL's layout, as BFL's and ComfyUI's FLUX.2 files hold it (the transformer alone)."""
        from autopipe_flux2.layout import transformer_file

        return transformer_file(self.tiny_folder(family), path)
