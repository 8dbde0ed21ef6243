"""autopipe-sdxl against the conformance kit: the contract every plugin keeps."""

from pathlib import Path

from autopipe_core.testing import PluginConformance


class TestConformance(PluginConformance):
    plugin = "autopipe-sdxl"

    def tiny_single_file(self, family: str, path: Path) -> Path:
        from single_file_layouts import build_tiny_sdxl_file  # tests/: the original (SGM) layout, from the shipped configs

        return build_tiny_sdxl_file(path)
