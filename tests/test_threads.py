"""autopipe in a server: many threads resolving and loading at once, and the registry built exactly once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from autopipe_core import AutoPipelineForImage2Image, AutoPipelineForInpainting, AutoPipelineForText2Image, resolve
from autopipe_core import registry as registry_module

ALL = "autopipe-sd,autopipe-sdxl,autopipe-kandinsky,autopipe-deepfloyd-if,autopipe-controlnet"
AUTO = {"text2img": AutoPipelineForText2Image, "img2img": AutoPipelineForImage2Image, "inpaint": AutoPipelineForInpainting}

# (family, task, with a ControlNet?, the class expected): five families, all three tasks, sixteen jobs.
JOBS = [
    ("stable-diffusion", "text2img", False, "StableDiffusionPipeline"),
    ("stable-diffusion", "img2img", False, "StableDiffusionImg2ImgPipeline"),
    ("stable-diffusion", "inpaint", False, "StableDiffusionInpaintPipeline"),
    ("stable-diffusion-xl", "text2img", False, "StableDiffusionXLPipeline"),
    ("stable-diffusion-xl", "img2img", False, "StableDiffusionXLImg2ImgPipeline"),
    ("stable-diffusion-xl", "inpaint", False, "StableDiffusionXLInpaintPipeline"),
    ("kandinsky22", "text2img", False, "KandinskyV22CombinedPipeline"),
    ("kandinsky22", "img2img", False, "KandinskyV22Img2ImgCombinedPipeline"),
    ("kandinsky", "text2img", False, "KandinskyCombinedPipeline"),
    ("if", "text2img", False, "IFPipeline"),
    ("if", "img2img", False, "IFImg2ImgPipeline"),
    ("if", "inpaint", False, "IFInpaintingPipeline"),
    ("stable-diffusion", "text2img", True, "StableDiffusionControlNetPipeline"),
    ("stable-diffusion", "img2img", True, "StableDiffusionControlNetImg2ImgPipeline"),
    ("stable-diffusion", "inpaint", True, "StableDiffusionControlNetInpaintPipeline"),
    ("stable-diffusion-xl", "text2img", False, "StableDiffusionXLPipeline"),
]


def test_the_registry_is_built_exactly_once_by_sixteen_threads_at_once(monkeypatch):
    monkeypatch.setenv("AUTOPIPE_PLUGINS", ALL)
    monkeypatch.setattr(registry_module, "_cache", {})
    builds = []
    real_build = registry_module.build
    start = threading.Barrier(16)

    def counting_build(*args, **kwargs):
        builds.append(threading.get_ident())
        return real_build(*args, **kwargs)

    monkeypatch.setattr(registry_module, "build", counting_build)

    def get(_):
        start.wait()  # all sixteen ask for the registry at the same moment
        return registry_module.get_registry()

    with ThreadPoolExecutor(16) as pool:
        registries = list(pool.map(get, range(16)))
    assert len(builds) == 1
    assert all(r is registries[0] for r in registries)
    assert {p.distribution for p in registries[0].plugins if p.ok} >= set(ALL.split(","))


@pytest.fixture(scope="module")
def checkpoints(tiny_checkpoint):
    """The tiny checkpoints, built before the threads start (building is not what is tested)."""
    return {family: tiny_checkpoint(family) for family in {job[0] for job in JOBS}}


@pytest.fixture(scope="module")
def controlnet(checkpoints):
    import torch
    from diffusers import ControlNetModel, UNet2DConditionModel

    torch.manual_seed(0)
    unet = UNet2DConditionModel.from_pretrained(checkpoints["stable-diffusion"] / "unet")
    return ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(8, 16))


def test_sixteen_threads_resolve_and_load_different_families_at_once(monkeypatch, checkpoints, controlnet):
    monkeypatch.setenv("AUTOPIPE_PLUGINS", ALL)
    start = threading.Barrier(len(JOBS))

    def job(spec):
        family, task, with_controlnet, _ = spec
        kwargs = {"controlnet": controlnet} if with_controlnet else {}
        start.wait()
        resolved = resolve(checkpoints[family], task, **kwargs).pipeline_class
        pipe = AUTO[task].from_pretrained(checkpoints[family], **kwargs)
        return resolved, type(pipe).__name__, pipe

    init = {name: getattr(torch.nn.init, name) for name in ("normal_", "uniform_", "kaiming_uniform_")}
    register = torch.nn.Module.register_parameter
    with ThreadPoolExecutor(len(JOBS)) as pool:
        results = list(pool.map(job, JOBS))
    assert [(r[0], r[1]) for r in results] == [(expected, expected) for *_, expected in JOBS]
    pipes = [r[2] for r in results]
    assert len({id(p) for p in pipes}) == len(JOBS)  # sixteen pipelines, none shared by accident
    for (family, _, with_controlnet, _), pipe in zip(JOBS, pipes):
        assert (pipe.components.get("controlnet") is controlnet) == with_controlnet
        devices = {p.device.type for m in pipe.components.values() if isinstance(m, torch.nn.Module) for p in m.parameters()}
        assert devices == {"cpu"}, family  # real weights, not meta tensors left by another thread's load
    # diffusers, accelerate and transformers patch these while loading; concurrent loads must not leave them patched
    assert torch.nn.Module.register_parameter is register
    assert {name: getattr(torch.nn.init, name) for name in init} == init
    assert torch.nn.Linear(2, 2).weight.device.type == "cpu"
