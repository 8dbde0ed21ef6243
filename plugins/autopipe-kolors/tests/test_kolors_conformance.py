"""autopipe-kolors against the conformance kit: the contract every plugin keeps.

ChatGLM's rotary ``inv_freq`` is a persistent buffer: saved in the weight files and counted by the kit's
loaded-bytes check beside the parameters."""

from __future__ import annotations

from autopipe_core.testing import PluginConformance

from autopipe_kolors import FAMILY, NO_INPAINT


class TestConformance(PluginConformance):
    plugin = "autopipe-kolors"
    cannot = {
        (FAMILY, "inpaint"): NO_INPAINT,
        (f"{FAMILY}+pag", "img2img"): "diffusers 0.42.1 has no Kolors PAG img2img pipeline; leave out enable_pag",
        (f"{FAMILY}+pag", "inpaint"): NO_INPAINT,
    }
