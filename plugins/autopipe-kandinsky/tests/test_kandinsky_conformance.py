"""autopipe-kandinsky against the conformance kit: the contract every plugin keeps."""

from autopipe_core import Task
from autopipe_core.testing import PluginConformance
from autopipe_kandinsky import kandinsky3 as k3

_DECODER_ONLY = (
    "no keyword selects it: a live decoder-only pipeline (diffusers' KandinskyV22Pipeline loaded directly) resolves "
    "to it and from_pipe keeps it, which test_pipelines.py and test_kandinsky21.py check"
)


class TestConformance(PluginConformance):
    plugin = "autopipe-kandinsky"
    # The combined pipelines run the prior too, and draw 512x512 unless told otherwise.
    call_kwargs = {
        **{family: {"prior_num_inference_steps": 2, "height": 64, "width": 64} for family in ("kandinsky", "kandinsky22")},
        k3.KANDINSKY3: {"height": 64, "width": 64},  # Kandinsky3Pipeline draws 1024x1024 unless told otherwise
    }
    cannot = {
        (k3.KANDINSKY3, Task.INPAINT): k3.NO_INPAINT,
        **{(f"{k3.KANDINSKY3}+pag", t): k3.NO_PAG for t in Task},
        **{(f"{k3.KANDINSKY3}+controlnet", t): k3.NO_CONTROLNET for t in Task},
    }
    by_hand = {"kandinsky+decoder": _DECODER_ONLY, "kandinsky22+decoder": _DECODER_ONLY}
