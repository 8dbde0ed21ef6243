"""autopipe-lumina against the conformance kit: the contract every plugin keeps, for Lumina-Next and Lumina-Image 2.0."""

from __future__ import annotations

from pathlib import Path

import autopipe_lumina as lumina
from autopipe_core import Task
from autopipe_core.testing import PluginConformance
from autopipe_lumina.plugin import (
    LUMINA2_NO_IMG2IMG,
    LUMINA2_NO_INPAINT,
    LUMINA2_WHAT,
    LUMINA_NO_IMG2IMG,
    LUMINA_NO_INPAINT,
    LUMINA_WHAT,
    NO_CONTROLNET,
    NO_PAG,
)

#: LuminaPipeline cleans captions by default, which asks for beautifulsoup4 and ftfy and warns on every call without them.
QUIET = {"clean_caption": False}


class TestConformance(PluginConformance):
    plugin = "autopipe-lumina"
    cannot = {
        (lumina.LUMINA, Task.IMG2IMG): LUMINA_NO_IMG2IMG,
        (lumina.LUMINA, Task.INPAINT): LUMINA_NO_INPAINT,
        **{(f"{lumina.LUMINA}+pag", t): NO_PAG.format(what=LUMINA_WHAT) for t in Task},
        **{(f"{lumina.LUMINA}+controlnet", t): NO_CONTROLNET.format(what=LUMINA_WHAT) for t in Task},
        (lumina.LUMINA2, Task.IMG2IMG): LUMINA2_NO_IMG2IMG,
        (lumina.LUMINA2, Task.INPAINT): LUMINA2_NO_INPAINT,
        **{(f"{lumina.LUMINA2}+pag", t): NO_PAG.format(what=LUMINA2_WHAT) for t in Task},
        **{(f"{lumina.LUMINA2}+controlnet", t): NO_CONTROLNET.format(what=LUMINA2_WHAT) for t in Task},
    }
    no_single_file = {
        lumina.LUMINA: "diffusers has no single-file loader for Lumina-Next: the plugin recognises its original files only to refuse them",
    }
    call_kwargs = {lumina.LUMINA: QUIET}

    def tiny_single_file(self, family: str, path: Path) -> Path:
        from autopipe_lumina.tiny import lumina2_single_file

        return lumina2_single_file(path)
