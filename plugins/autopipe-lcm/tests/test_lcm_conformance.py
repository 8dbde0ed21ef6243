"""autopipe-lcm against the conformance kit: the contract every plugin keeps."""

from autopipe_core import Task
from autopipe_core.testing import PluginConformance
from autopipe_lcm import FAMILY, NO_INPAINT


class TestConformance(PluginConformance):
    plugin = "autopipe-lcm"
    cannot = {(FAMILY, Task.INPAINT): NO_INPAINT}
