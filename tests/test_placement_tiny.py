"""The estimate from headers against the parameter bytes of the loaded pipeline, for every family's tiny checkpoint.

Each tiny checkpoint is planned with made-up device facts (a CPU: float32; a
CUDA GPU: float16, with T5's float32 layers for IF), loaded on this CPU with
the plan's own from_pretrained keywords, and its components' parameter bytes
added up: the estimate must be exactly that sum, since every weight of a tiny
checkpoint is in its files (and a component passed in is counted as it is).
"""

from __future__ import annotations

import pytest
import torch

from autopipe_core import DeviceFacts, resolve
from autopipe_core import loading, planning
from autopipe_core.planning import GiB

DEVICES = {"float32": DeviceFacts("cpu"), "float16": DeviceFacts("cuda", 1, 8 * GiB, 8 * GiB, True)}


@pytest.fixture(autouse=True)
def _every_plugin(monkeypatch):
    monkeypatch.delenv("AUTOPIPE_PLUGINS")


def parameter_bytes(pipe) -> int:
    return sum(p.numel() * p.element_size() for c in pipe.components.values() if isinstance(c, torch.nn.Module) for p in c.parameters())


@pytest.mark.parametrize("dtype", sorted(DEVICES))
@pytest.mark.parametrize("family", ["stable-diffusion", "stable-diffusion-xl", "if", "kandinsky", "kandinsky22"])
def test_the_estimate_is_exactly_the_loaded_pipelines_parameter_bytes(tiny_checkpoint, family, dtype):
    folder = tiny_checkpoint(family)
    resolution = resolve(folder, "text2img")
    placed = planning.plan(resolution, DEVICES[dtype])
    assert placed.plan.dtype == dtype and not placed.footprint.unknown
    pipe = loading.from_pretrained(resolution, folder, loading.load_kwargs(placed.plan, {}))
    real = parameter_bytes(pipe)
    assert placed.footprint.weights == real
    counted = {c.name for c in placed.footprint.components}
    assert counted == {n for n, c in pipe.components.items() if isinstance(c, torch.nn.Module)}


@pytest.mark.parametrize("dtype", sorted(DEVICES))
def test_a_controlnet_passed_in_counts_as_it_is(tiny_checkpoint, monkeypatch, dtype):
    from diffusers import ControlNetModel, UNet2DConditionModel

    folder = tiny_checkpoint("stable-diffusion")
    unet = UNet2DConditionModel.from_pretrained(folder / "unet")
    controlnet = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(8, 16)).to(getattr(torch, dtype))
    resolution = resolve(folder, "text2img", controlnet=controlnet)
    placed = planning.plan(resolution, DEVICES[dtype], kwargs={"controlnet": controlnet})
    assert placed.footprint.component("controlnet").source.startswith("the object passed in")
    pipe = loading.from_pretrained(resolution, folder, loading.load_kwargs(placed.plan, {"controlnet": controlnet}))
    assert type(pipe).__name__ == "StableDiffusionControlNetPipeline"
    real = parameter_bytes(pipe)
    assert placed.footprint.weights == real
