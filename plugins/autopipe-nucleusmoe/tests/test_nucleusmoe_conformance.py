"""autopipe-nucleusmoe against the conformance kit: the contract every plugin keeps, for NucleusMoE-Image.

NucleusMoEImagePipeline takes a Qwen3VLProcessor, which transformers 5 builds
only with torchvision (the processor's video half); where it cannot (this
repository's .venv has no torchvision: PyPI's wheels are CUDA builds that do
not load with the CPU torch), the kit's cases that need the tiny checkpoint
are skipped with that reason, and run where torchvision is installed, as
autopipe-qwenimage does for its Edit classes. Registration, refusals and the
plans are tested whatever the environment, and test_nucleusmoe_plugin.py runs
the tiny pipeline without its processor, from prompt embeddings.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import autopipe_nucleusmoe as nucleus
from autopipe_core import Task
from autopipe_core.testing import PluginConformance
from autopipe_nucleusmoe import tiny

#: The pipeline's default is 128 latents x the VAE's scale (512 px on the tiny 4x VAE): the kit's calls draw 64x64.
SMALL = {"height": 64, "width": 64}


class TestConformance(PluginConformance):
    plugin = "autopipe-nucleusmoe"
    cannot = {
        (nucleus.NUCLEUSMOE, Task.IMG2IMG): nucleus.NO_IMG2IMG,
        (nucleus.NUCLEUSMOE, Task.INPAINT): nucleus.NO_INPAINT,
        **{(f"{nucleus.NUCLEUSMOE}+pag", t): nucleus.NO_PAG for t in Task},
        **{(f"{nucleus.NUCLEUSMOE}+controlnet", t): nucleus.NO_CONTROLNET for t in Task},
    }
    call_kwargs = {nucleus.NUCLEUSMOE: SMALL}

    def tiny_folder(self, family: str, variant: str | None = None) -> Path:
        if (missing := tiny.processor_missing()) is not None:
            pytest.skip(missing)
        return super().tiny_folder(family, variant)
