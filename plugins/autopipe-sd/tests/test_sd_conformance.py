"""autopipe-sd against the conformance kit: the contract every plugin keeps."""

from pathlib import Path

from autopipe_core.testing import PluginConformance


class TestConformance(PluginConformance):
    plugin = "autopipe-sd"

    def tiny_single_file(self, family: str, path: Path) -> Path:
        from autopipe_sd.tiny import build_single_file  # the original (LDM) layout, from the configs shipped for it

        return build_single_file(path)
