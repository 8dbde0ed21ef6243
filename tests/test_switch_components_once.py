"""from_pipe reads the source pipeline's ``components`` once per switch (issue 20, point 3).

diffusers' ``DiffusionPipeline.components`` is a property that runs ``inspect.signature`` over the class each time it
is read; from_pipe used to read it three times (the check that the model is a pipeline, the Identity, the switch).
"""

import pytest

from autopipe_core import AutoPipelineForImage2Image, AutoPipelineForText2Image


@pytest.fixture
def counted(monkeypatch):
    """How many times ``components`` is read on a pipeline, per class."""
    from diffusers import DiffusionPipeline

    reads: list[str] = []
    prop = DiffusionPipeline.components

    def components(self):
        reads.append(type(self).__name__)
        return prop.fget(self)

    monkeypatch.setattr(DiffusionPipeline, "components", property(components))
    return reads


def test_from_pipe_reads_the_sources_components_once(tiny_sd, counted, monkeypatch):
    monkeypatch.setenv("AUTOPIPE_PLUGINS", "autopipe-sd")
    sd = AutoPipelineForText2Image.from_pretrained(tiny_sd)
    counted.clear()
    img2img = AutoPipelineForImage2Image.from_pipe(sd)
    assert type(img2img).__name__ == "StableDiffusionImg2ImgPipeline"
    assert counted.count("StableDiffusionPipeline") == 1, counted
    counted.clear()
    back = AutoPipelineForText2Image.from_pipe(img2img, requires_safety_checker=False)
    assert counted.count("StableDiffusionImg2ImgPipeline") == 1, counted
    assert back.config.requires_safety_checker is False
    assert all(back.components[k] is v for k, v in sd.components.items() if v is not None)  # the same objects still


def test_the_switch_engine_takes_the_components_already_read(tiny_sd, counted):
    from diffusers import StableDiffusionImg2ImgPipeline, StableDiffusionPipeline

    from autopipe_core.switch import switch

    sd = StableDiffusionPipeline.from_pretrained(tiny_sd)
    components = sd.components
    counted.clear()
    new = switch(sd, StableDiffusionImg2ImgPipeline, {}, components=components)
    assert counted.count("StableDiffusionPipeline") == 0 and new.unet is sd.unet
    assert type(switch(sd, StableDiffusionImg2ImgPipeline, {})) is StableDiffusionImg2ImgPipeline  # without: read there
    assert counted.count("StableDiffusionPipeline") == 1
