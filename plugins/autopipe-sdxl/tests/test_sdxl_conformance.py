"""autopipe-sdxl against the conformance kit: the contract every plugin keeps."""

from autopipe_core.testing import PluginConformance


class TestConformance(PluginConformance):
    plugin = "autopipe-sdxl"
