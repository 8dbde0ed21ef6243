"""autopipe-lcm's tests: the conformance kit, then what is particular to LCM."""

from __future__ import annotations

import json

import pytest

from autopipe_core import AutoPipelineForImage2Image, AutoPipelineForInpainting, AutoPipelineForText2Image, DeviceFacts, Identity, Task, UnsupportedTaskError
from autopipe_core.testing import PluginConformance
from autopipe_lcm import FAMILY, NO_INPAINT
from autopipe_lcm.loading import plan

PLUGIN = "autopipe-lcm"


class TestConformance(PluginConformance):
    plugin = PLUGIN
    cannot = {(FAMILY, Task.INPAINT): NO_INPAINT}


@pytest.fixture(scope="session")
def tiny_lcm(tiny_checkpoint):
    return tiny_checkpoint(FAMILY)


def test_the_tiny_checkpoint_is_an_lcm(tiny_lcm):
    assert json.loads((tiny_lcm / "model_index.json").read_text())["_class_name"] == "LatentConsistencyModelPipeline"
    assert json.loads((tiny_lcm / "unet" / "config.json").read_text())["time_cond_proj_dim"] == 32
    assert json.loads((tiny_lcm / "scheduler" / "scheduler_config.json").read_text())["_class_name"] == "LCMScheduler"


def test_inpaint_is_refused_before_loading_with_what_to_use(tiny_lcm):
    with pytest.raises(UnsupportedTaskError) as refusal:
        AutoPipelineForInpainting.from_pretrained(tiny_lcm)
    assert "pip install ./plugins/autopipe-sd" in str(refusal.value) and "AutoPipelineForText2Image" in str(refusal.value)


def test_img2img_and_back_keep_the_lcm_scheduler(tiny_lcm):
    t2i = AutoPipelineForText2Image.from_pretrained(tiny_lcm)
    i2i = AutoPipelineForImage2Image.from_pipe(t2i)
    assert type(i2i).__name__ == "LatentConsistencyModelImg2ImgPipeline"
    assert i2i.scheduler is t2i.scheduler and type(t2i.scheduler).__name__ == "LCMScheduler"


def test_load_plans():
    fp16 = Identity("folder", "x", "LatentConsistencyModelPipeline", files=("unet/diffusion_pytorch_model.fp16.safetensors",))
    assert plan(fp16, DeviceFacts("cpu")).dtype == "float32"
    roomy = plan(fp16, DeviceFacts("cuda", 1, 20 << 30, 24 << 30))
    assert (roomy.dtype, roomy.variant, roomy.placement) == ("float16", "fp16", "device")
    full = Identity("folder", "x", "LatentConsistencyModelPipeline", files=("unet/diffusion_pytorch_model.safetensors",))
    assert plan(full, DeviceFacts("cuda", 1, 1 << 30, 4 << 30)).variant is None  # the core plans the placement, not this code


def test_tiny_builder_refuses_variants(tmp_path):
    from autopipe_lcm.tiny import build

    with pytest.raises(ValueError, match="no tiny variant"):
        build(tmp_path / "x", "inpainting-only")
