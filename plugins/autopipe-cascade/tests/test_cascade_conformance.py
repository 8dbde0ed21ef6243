"""autopipe-cascade against the conformance kit: the contract every plugin keeps, for Stable Cascade and Würstchen."""

from __future__ import annotations

import autopipe_cascade.plugin as cascade
from autopipe_core import Task
from autopipe_core.testing import PluginConformance

_DECODER_ONLY = (
    "no keyword selects it: a live decoder-only pipeline (diffusers' StableCascadeDecoderPipeline or WuerstchenDecoderPipeline "
    "loaded directly) resolves to it and from_pipe keeps it, which test_cascade_pipelines.py checks"
)


def _gaps(family: str) -> dict:
    plain = {Task.IMG2IMG: cascade.NO_IMG2IMG[family], Task.INPAINT: cascade.NO_INPAINT[family]}
    return {
        **{(family, t): why for t, why in plain.items()},
        **{(f"{family}+{cascade.DECODER}", t): why for t, why in plain.items()},
        **{(f"{family}+pag", t): cascade.NO_PAG[family] for t in Task},
        **{(f"{family}+{cascade.CONTROLNET}", t): cascade.NO_CONTROLNET[family] for t in Task},
    }


class TestConformance(PluginConformance):
    plugin = "autopipe-cascade"
    cannot = {**_gaps(cascade.CASCADE), **_gaps(cascade.WUERSTCHEN)}
    by_hand = {f"{family}+{cascade.DECODER}": _DECODER_ONLY for family in cascade.FAMILIES}
    no_single_file = {
        cascade.CASCADE: (
            "a Stable Cascade single file is one StableCascadeUNet (Stage B or C), passed to the pipeline as decoder= or "
            "prior_prior=, not by a modifier keyword, the only way the kit passes a component; test_cascade_single_file.py "
            "detects, loads and runs both tiny stages"
        ),
        cascade.WUERSTCHEN: "diffusers has no single-file loading for any Würstchen model: autopipe_detect claims none",
    }
    # The combined pipelines run the prior too and draw 512x512 unless told: 128x128 runs the prior on 3x3 latents.
    call_kwargs = {family: {"prior_num_inference_steps": 2, "height": 128, "width": 128} for family in cascade.FAMILIES}
