"""AutoPipelineFor* end to end on the tiny SDXL checkpoints: base, refiner, inpainting-only, PAG."""

import itertools
import shutil

import pytest
import torch
from PIL import Image

from autopipe_core import (
    AutoPipelineForImage2Image,
    AutoPipelineForInpainting,
    AutoPipelineForText2Image,
    UnsupportedTaskError,
    resolve,
)

AUTO = {"text2img": AutoPipelineForText2Image, "img2img": AutoPipelineForImage2Image, "inpaint": AutoPipelineForInpainting}
CLASSES = {
    "text2img": "StableDiffusionXLPipeline",
    "img2img": "StableDiffusionXLImg2ImgPipeline",
    "inpaint": "StableDiffusionXLInpaintPipeline",
}
PAG_CLASSES = {
    "text2img": "StableDiffusionXLPAGPipeline",
    "img2img": "StableDiffusionXLPAGImg2ImgPipeline",
    "inpaint": "StableDiffusionXLPAGInpaintPipeline",
}
SHARED = ("unet", "vae", "text_encoder", "text_encoder_2", "tokenizer", "tokenizer_2", "scheduler")


def _inputs(task):
    kwargs = {"num_inference_steps": 2, "generator": torch.Generator().manual_seed(0)}
    if task != "text2img":
        # strength 1.0: both steps run (SDXL img2img's default 0.3 would run none of 2)
        kwargs.update(image=Image.new("RGB", (64, 64), (200, 120, 40)), strength=1.0)
    if task == "inpaint":
        mask = Image.new("L", (64, 64), 0)
        mask.paste(255, (16, 16, 48, 48))
        kwargs["mask_image"] = mask
    return kwargs


def _run(pipe, task):
    images = pipe("a red fox", **_inputs(task)).images
    assert len(images) == 1 and isinstance(images[0], Image.Image) and images[0].size == (64, 64)
    return images[0]


def _broken_copy(folder, target):
    """The checkpoint with every weight file corrupted: only an error raised before loading can be clear."""
    broken = shutil.copytree(folder, target)
    for weights in broken.rglob("*.safetensors"):
        weights.write_bytes(b"not a safetensors file")
    return broken


@pytest.fixture(scope="module")
def t2i(tiny_sdxl):
    return AutoPipelineForText2Image.from_pretrained(tiny_sdxl)


@pytest.fixture(scope="module")
def refiner(tiny_sdxl_refiner):
    return AutoPipelineForImage2Image.from_pretrained(tiny_sdxl_refiner)


# The base checkpoint


@pytest.mark.parametrize("source, target", list(itertools.permutations(AUTO, 2)))
def test_from_pipe_switches_sharing_the_same_objects(t2i, source, target):
    start = t2i if source == "text2img" else AUTO[source].from_pipe(t2i)
    switched = AUTO[target].from_pipe(start)
    assert type(switched).__name__ == CLASSES[target]
    for name in SHARED:
        assert getattr(switched, name) is getattr(start, name), name
        assert getattr(switched, name) is getattr(t2i, name), name
    _run(switched, target)


def test_config_round_trip_text2img_img2img_text2img(t2i):
    i2i = AutoPipelineForImage2Image.from_pipe(t2i)
    assert i2i.config.requires_aesthetics_score is False  # img2img's default, which text2img's config never had
    back = AutoPipelineForText2Image.from_pipe(i2i)
    # Every entry comes back; img2img's default is kept aside as a private entry (as diffusers' AutoPipeline does)
    # so that a later switch to img2img or inpaint gets it again.
    assert dict(back.config) == {**dict(t2i.config), "_requires_aesthetics_score": False}
    again = AutoPipelineForImage2Image.from_pipe(back)
    assert dict(again.config) == dict(i2i.config)
    assert dict(AutoPipelineForText2Image.from_pipe(again).config) == dict(back.config)


def test_config_round_trips_match_diffusers_autopipeline(tiny_sdxl):
    import diffusers

    mine = theirs = None
    for name in ("AutoPipelineForText2Image", "AutoPipelineForImage2Image", "AutoPipelineForText2Image", "AutoPipelineForInpainting"):
        if mine is None:
            mine = AutoPipelineForText2Image.from_pretrained(tiny_sdxl, force_zeros_for_empty_prompt=False)
            theirs = diffusers.AutoPipelineForText2Image.from_pretrained(tiny_sdxl, force_zeros_for_empty_prompt=False)
        else:
            mine = AUTO[{"AutoPipelineForText2Image": "text2img", "AutoPipelineForImage2Image": "img2img", "AutoPipelineForInpainting": "inpaint"}[name]].from_pipe(mine)
            theirs = getattr(diffusers, name).from_pipe(theirs)
        assert type(mine) is type(theirs)
        assert dict(mine.config) == dict(theirs.config), name


def test_requires_aesthetics_score_is_kept_aside_by_text2img_and_given_back(tiny_sdxl):
    i2i = AutoPipelineForImage2Image.from_pretrained(tiny_sdxl, requires_aesthetics_score=True)
    assert i2i.config.requires_aesthetics_score is True
    t2i = AutoPipelineForText2Image.from_pipe(i2i)
    assert "requires_aesthetics_score" not in t2i.config  # StableDiffusionXLPipeline has no such argument
    assert t2i.config["_requires_aesthetics_score"] is True
    inpaint = AutoPipelineForInpainting.from_pipe(t2i)
    assert inpaint.config.requires_aesthetics_score is True
    assert dict(AutoPipelineForImage2Image.from_pipe(inpaint).config) == dict(i2i.config)


def test_force_zeros_for_empty_prompt_survives_every_task(tiny_sdxl):
    t2i = AutoPipelineForText2Image.from_pretrained(tiny_sdxl, force_zeros_for_empty_prompt=False)
    pipe = t2i
    for auto in (AutoPipelineForImage2Image, AutoPipelineForInpainting, AutoPipelineForText2Image, AutoPipelineForInpainting):
        pipe = auto.from_pipe(pipe)
        assert pipe.config.force_zeros_for_empty_prompt is False, type(pipe).__name__
    overridden = AutoPipelineForImage2Image.from_pipe(pipe, force_zeros_for_empty_prompt=True)
    assert overridden.config.force_zeros_for_empty_prompt is True
    assert AutoPipelineForText2Image.from_pipe(overridden).config.force_zeros_for_empty_prompt is True


def test_config_round_trip_through_every_task_and_pag(tiny_sdxl):
    i2i = AutoPipelineForImage2Image.from_pretrained(tiny_sdxl, requires_aesthetics_score=True, force_zeros_for_empty_prompt=False)
    pipe = i2i
    for auto, pag in [(AutoPipelineForText2Image, True), (AutoPipelineForInpainting, None), (AutoPipelineForText2Image, False)]:
        pipe = auto.from_pipe(pipe, **({} if pag is None else {"enable_pag": pag}))
    back = AutoPipelineForImage2Image.from_pipe(pipe)
    assert type(back).__name__ == CLASSES["img2img"]
    assert dict(back.config) == dict(i2i.config)


def test_dtype_is_kept_across_from_pipe(tiny_sdxl):
    half = AutoPipelineForText2Image.from_pretrained(tiny_sdxl, torch_dtype=torch.bfloat16)
    for auto in (AutoPipelineForImage2Image, AutoPipelineForInpainting):
        switched = auto.from_pipe(half)
        assert switched.unet.dtype == torch.bfloat16 and switched.text_encoder_2.dtype == torch.bfloat16


def test_an_img2img_saved_base_model_still_does_text2img(tmp_path, t2i):
    # the refiner is told apart by its UNet, not by the class in model_index.json
    AutoPipelineForImage2Image.from_pipe(t2i).save_pretrained(tmp_path / "saved")
    assert resolve(tmp_path / "saved", "text2img").variant is None
    pipe = AutoPipelineForText2Image.from_pretrained(tmp_path / "saved")
    assert type(pipe).__name__ == CLASSES["text2img"]
    _run(pipe, "text2img")


# PAG


@pytest.mark.parametrize("task", list(AUTO))
def test_pag_from_pretrained_each_task(tiny_sdxl, task):
    pipe = AUTO[task].from_pretrained(tiny_sdxl, enable_pag=True)
    assert type(pipe).__name__ == PAG_CLASSES[task]
    _run(pipe, task)


def test_pag_is_kept_across_tasks_and_removed_with_enable_pag_false(t2i):
    pag = AutoPipelineForInpainting.from_pipe(t2i, enable_pag=True)
    assert type(pag).__name__ == PAG_CLASSES["inpaint"]
    pag_i2i = AutoPipelineForImage2Image.from_pipe(pag)
    assert type(pag_i2i).__name__ == PAG_CLASSES["img2img"]
    plain = AutoPipelineForText2Image.from_pipe(pag_i2i, enable_pag=False)
    assert type(plain).__name__ == CLASSES["text2img"]
    for name in SHARED:
        assert getattr(plain, name) is getattr(t2i, name), name


# The refiner


@pytest.mark.parametrize("task", ["img2img", "inpaint"])
def test_refiner_resolves_for_img2img_and_inpaint(tiny_sdxl_refiner, task):
    r = resolve(tiny_sdxl_refiner, task)
    assert (r.family, r.pipeline_class, r.variant) == ("stable-diffusion-xl", CLASSES[task], "refiner")


def test_refiner_loads_for_img2img_and_runs(refiner):
    assert type(refiner).__name__ == CLASSES["img2img"]
    assert refiner.text_encoder is None and refiner.tokenizer is None
    assert refiner.config.requires_aesthetics_score is True
    _run(refiner, "img2img")


def test_refiner_from_pipe_to_inpaint_keeps_its_config_and_runs(refiner):
    inpaint = AutoPipelineForInpainting.from_pipe(refiner)
    assert type(inpaint).__name__ == CLASSES["inpaint"]
    assert inpaint.text_encoder is None and inpaint.unet is refiner.unet and inpaint.text_encoder_2 is refiner.text_encoder_2
    assert inpaint.config.requires_aesthetics_score is True and inpaint.config.force_zeros_for_empty_prompt is False
    _run(inpaint, "inpaint")
    assert dict(AutoPipelineForImage2Image.from_pipe(inpaint).config) == dict(refiner.config)


def test_refiner_text2img_fails_early_and_says_what_to_use(tmp_path, tiny_sdxl_refiner):
    broken = _broken_copy(tiny_sdxl_refiner, tmp_path / "broken")
    with pytest.raises(UnsupportedTaskError) as info:
        AutoPipelineForText2Image.from_pretrained(broken)
    message = str(info.value)
    for words in ("refiner", "text2img", "SDXL base model", "AutoPipelineForImage2Image", "AutoPipelineForInpainting"):
        assert words in message, words


def test_refiner_text2img_fails_with_pag_and_from_pipe_too(tiny_sdxl_refiner, refiner):
    with pytest.raises(UnsupportedTaskError, match="refiner"):
        AutoPipelineForText2Image.from_pretrained(tiny_sdxl_refiner, enable_pag=True)
    with pytest.raises(UnsupportedTaskError, match="refiner"):
        AutoPipelineForText2Image.from_pipe(refiner)
    with pytest.raises(UnsupportedTaskError, match="refiner"):
        AutoPipelineForText2Image.from_pipe(AutoPipelineForInpainting.from_pipe(refiner, enable_pag=True))


def test_refiner_with_pag_for_img2img(refiner):
    pag = AutoPipelineForImage2Image.from_pipe(refiner, enable_pag=True)
    assert type(pag).__name__ == PAG_CLASSES["img2img"] and pag.config.requires_aesthetics_score is True
    _run(pag, "img2img")


# Inpainting-only


@pytest.mark.parametrize("task", ["text2img", "img2img"])
def test_inpainting_only_fails_before_reading_any_weight(tmp_path, tiny_sdxl_inpainting, task):
    broken = _broken_copy(tiny_sdxl_inpainting, tmp_path / "broken")
    with pytest.raises(UnsupportedTaskError, match="9 input channels.*AutoPipelineForInpainting"):
        AUTO[task].from_pretrained(broken)


def test_inpainting_only_does_inpaint_and_refuses_from_pipe_to_text2img(tiny_sdxl_inpainting):
    inpaint = AutoPipelineForInpainting.from_pretrained(tiny_sdxl_inpainting)
    assert type(inpaint).__name__ == CLASSES["inpaint"] and inpaint.unet.config.in_channels == 9
    _run(inpaint, "inpaint")
    with pytest.raises(UnsupportedTaskError, match="inpainting-only"):
        AutoPipelineForText2Image.from_pipe(inpaint)
    pag = AutoPipelineForInpainting.from_pipe(inpaint, enable_pag=True)
    assert type(pag).__name__ == PAG_CLASSES["inpaint"]
