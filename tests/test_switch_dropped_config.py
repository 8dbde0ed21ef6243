"""from_pipe's engine keeps a config entry that the new class takes but does not record.

diffusers' LatentConsistencyModelImg2ImgPipeline takes requires_safety_checker
and never registers it; without care, text2img -> img2img -> text2img turns a
checkpoint's False into the default True. The LCM classes are built here on a
tiny SD checkpoint's components (the same architecture), with no plugin.
"""

from autopipe_core.switch import switch


def test_an_entry_the_new_class_drops_comes_back_on_the_next_switch(tiny_sd):
    from diffusers import LatentConsistencyModelImg2ImgPipeline, LatentConsistencyModelPipeline, StableDiffusionPipeline

    sd = StableDiffusionPipeline.from_pretrained(tiny_sd)
    start = switch(sd, LatentConsistencyModelPipeline, {"requires_safety_checker": False})
    assert start.config.requires_safety_checker is False

    img2img = switch(start, LatentConsistencyModelImg2ImgPipeline, {})
    assert "requires_safety_checker" not in img2img.config  # diffusers' class does not record it...
    assert img2img.config["_requires_safety_checker"] is False  # ...so it is kept aside

    back = switch(img2img, LatentConsistencyModelPipeline, {})
    assert back.config.requires_safety_checker is False
    assert {k: v for k, v in back.config.items() if not k.startswith("_")} == {k: v for k, v in start.config.items() if not k.startswith("_")}


def test_an_entry_given_at_from_pretrained_to_a_class_that_drops_it_is_kept(tiny_checkpoint, monkeypatch):
    # The first pipeline comes from from_pretrained, not a switch: diffusers' LCM img2img drops the value there too.
    from autopipe_core import AutoPipelineForImage2Image, AutoPipelineForText2Image

    monkeypatch.setenv("AUTOPIPE_PLUGINS", "autopipe-lcm")
    img2img = AutoPipelineForImage2Image.from_pretrained(tiny_checkpoint("latent-consistency"), requires_safety_checker=False)
    assert type(img2img).__name__ == "LatentConsistencyModelImg2ImgPipeline"
    assert img2img.config["_requires_safety_checker"] is False
    assert AutoPipelineForText2Image.from_pipe(img2img).config.requires_safety_checker is False
