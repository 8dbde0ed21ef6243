"""autopipe-deepfloyd-if against the conformance kit: the contract every plugin keeps."""

from autopipe_core.testing import PluginConformance
from autopipe_deepfloyd_if import tiny


class TestConformance(PluginConformance):
    plugin = "autopipe-deepfloyd-if"
    image_size = tiny.SAMPLE_SIZE  # stage I works at its UNet's sample size
