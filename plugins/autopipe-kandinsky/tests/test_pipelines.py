"""End to end on the tiny Kandinsky 2.2 checkpoints: loading with the prior, the three tasks, from_pipe, errors."""

import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from autopipe_core import (
    AutoPipelineForImage2Image,
    AutoPipelineForInpainting,
    AutoPipelineForText2Image,
    UnsupportedModelError,
    UnsupportedTaskError,
)
from autopipe_kandinsky import PRIOR_COMPONENTS

FAST = {"num_inference_steps": 2, "prior_num_inference_steps": 2, "height": 64, "width": 64, "output_type": "np"}
COMBINED_COMPONENTS = ("unet", "scheduler", "movq", *(f"prior_{c}" for c in PRIOR_COMPONENTS))


def picture(seed=0):
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))


def mask():
    m = np.zeros((64, 64), dtype=np.float32)
    m[:32] = 1.0
    return m


def check_image(images):
    assert images.shape == (1, 64, 64, 3)
    assert np.isfinite(images).all() and images.min() >= 0 and images.max() <= 1


@pytest.fixture(scope="module")
def prior_pipe(tiny_k22):
    from diffusers import KandinskyV22PriorPipeline

    return KandinskyV22PriorPipeline.from_pretrained(tiny_k22 / "prior")


def test_the_tiny_decoder_names_its_prior_by_a_relative_path(tiny_k22):
    from autopipe_kandinsky.connected import card_priors

    assert card_priors(tiny_k22) == ["prior"]
    assert (tiny_k22 / "prior" / "model_index.json").is_file()


def test_text2img_from_a_decoder_folder_in_another_directory(tiny_k22, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the card says "prior": relative to the decoder folder, not to the working directory
    pipe = AutoPipelineForText2Image.from_pretrained(str(tiny_k22))
    assert type(pipe).__name__ == "KandinskyV22CombinedPipeline"
    assert set(COMBINED_COMPONENTS) <= set(pipe.components) and all(pipe.components[c] is not None for c in COMBINED_COMPONENTS)
    assert pipe.prior_prior.config.embedding_dim == pipe.unet.config.encoder_hid_dim
    check_image(pipe("a red cat", generator=torch.Generator().manual_seed(0), **FAST).images)


def test_img2img_from_a_decoder_folder_in_another_directory(tiny_k22, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    pipe = AutoPipelineForImage2Image.from_pretrained(tiny_k22)
    assert type(pipe).__name__ == "KandinskyV22Img2ImgCombinedPipeline"
    check_image(pipe("a red cat", image=picture(), strength=0.5, **FAST).images)


def test_inpaint_from_the_inpainting_decoder_in_another_directory(tiny_k22_inpaint, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    pipe = AutoPipelineForInpainting.from_pretrained(tiny_k22_inpaint)
    assert type(pipe).__name__ == "KandinskyV22InpaintCombinedPipeline"
    assert pipe.unet.config.in_channels == 9
    check_image(pipe("a red cat", image=picture(), mask_image=mask(), **FAST).images)


def test_inpaint_of_the_text_decoder_fails_before_loading(tiny_k22, monkeypatch):
    from diffusers import DiffusionPipeline

    def no_loading(*args, **kwargs):
        raise AssertionError("weights were read before the task was refused")

    monkeypatch.setattr(DiffusionPipeline, "from_pretrained", no_loading)
    with pytest.raises(UnsupportedTaskError, match="cannot do inpaint"):
        AutoPipelineForInpainting.from_pretrained(tiny_k22)


def test_a_prior_folder_alone_gets_the_clear_message(tiny_k22):
    with pytest.raises(UnsupportedModelError, match="KandinskyV22PriorPipeline .*prior.*Load the decoder instead"):
        AutoPipelineForText2Image.from_pretrained(tiny_k22 / "prior")


def decoder_without_card(tiny_k22, where):
    folder = where / "decoder"
    shutil.copytree(tiny_k22, folder, ignore=shutil.ignore_patterns("prior", "README.md"))
    assert not (folder / "README.md").exists() and not (folder / "prior").exists()
    return folder


def test_prior_components_passed_explicitly_need_no_card(tiny_k22, prior_pipe, tmp_path):
    folder = decoder_without_card(tiny_k22, tmp_path)
    passed = {f"prior_{name}": component for name, component in prior_pipe.components.items()}
    pipe = AutoPipelineForText2Image.from_pretrained(folder, **passed)
    assert type(pipe).__name__ == "KandinskyV22CombinedPipeline"
    for name, component in passed.items():
        assert getattr(pipe, name) is component
    check_image(pipe("a red cat", **FAST).images)


def test_one_prior_component_passed_the_rest_from_the_card(tiny_k22, prior_pipe):
    pipe = AutoPipelineForText2Image.from_pretrained(tiny_k22, prior_prior=prior_pipe.prior)
    assert pipe.prior_prior is prior_pipe.prior
    assert pipe.prior_text_encoder is not prior_pipe.text_encoder  # loaded from the card's prior
    assert pipe.prior_text_encoder is not None


def test_no_card_and_no_prior_says_what_to_pass(tiny_k22, tmp_path):
    folder = decoder_without_card(tiny_k22, tmp_path)
    with pytest.raises(UnsupportedModelError, match="names none.*prior_prior="):
        AutoPipelineForText2Image.from_pretrained(folder)


def test_loading_options_reach_the_prior_too(tiny_k22):
    pipe = AutoPipelineForText2Image.from_pretrained(tiny_k22, torch_dtype=torch.bfloat16)
    assert pipe.unet.dtype == torch.bfloat16 and pipe.prior_prior.dtype == torch.bfloat16
    assert pipe.prior_text_encoder.dtype == torch.bfloat16


@pytest.fixture(scope="module")
def combined(tiny_k22):
    return AutoPipelineForText2Image.from_pretrained(tiny_k22)


def test_from_pipe_between_the_combined_tasks_keeps_the_objects(combined, tiny_k22_inpaint):
    img2img = AutoPipelineForImage2Image.from_pipe(combined)
    assert type(img2img).__name__ == "KandinskyV22Img2ImgCombinedPipeline"
    for name in COMBINED_COMPONENTS:
        assert getattr(img2img, name) is getattr(combined, name), name
    back = AutoPipelineForText2Image.from_pipe(img2img)
    assert type(back).__name__ == "KandinskyV22CombinedPipeline"
    for name in COMBINED_COMPONENTS:
        assert getattr(back, name) is getattr(combined, name), name
    check_image(img2img("a cat", image=picture(), strength=0.5, **FAST).images)

    inpaint = AutoPipelineForInpainting.from_pretrained(tiny_k22_inpaint)
    # the inpainting decoder's combined pipeline does inpaint only, also through from_pipe
    assert AutoPipelineForInpainting.from_pipe(inpaint).unet is inpaint.unet
    with pytest.raises(UnsupportedTaskError, match="inpainting-only"):
        AutoPipelineForText2Image.from_pipe(inpaint)


def test_from_pipe_inpaint_of_a_text_decoder_is_refused(combined):
    with pytest.raises(UnsupportedTaskError, match="4 input channels"):
        AutoPipelineForInpainting.from_pipe(combined)


def test_config_round_trip_text2img_img2img_text2img(combined):
    img2img = AutoPipelineForImage2Image.from_pipe(combined)
    back = AutoPipelineForText2Image.from_pipe(img2img)
    assert dict(back.config) == dict(combined.config)
    assert str(combined.config["_name_or_path"]) == str(back.config["_name_or_path"])


def test_from_pipe_of_a_decoder_only_pipeline_stays_decoder_only(tiny_k22):
    from diffusers import KandinskyV22Pipeline

    decoder = KandinskyV22Pipeline.from_pretrained(tiny_k22)
    img2img = AutoPipelineForImage2Image.from_pipe(decoder)
    assert type(img2img).__name__ == "KandinskyV22Img2ImgPipeline"
    assert img2img.unet is decoder.unet and img2img.movq is decoder.movq and img2img.scheduler is decoder.scheduler
    back = AutoPipelineForText2Image.from_pipe(img2img)
    assert type(back).__name__ == "KandinskyV22Pipeline"
    assert dict(back.config) == dict(decoder.config)
    embeds = torch.randn(1, decoder.unet.config.encoder_hid_dim, generator=torch.Generator().manual_seed(0))
    out = img2img(image=picture(), image_embeds=embeds, negative_image_embeds=torch.zeros_like(embeds), strength=0.5,
                  num_inference_steps=2, height=64, width=64, output_type="np").images
    check_image(out)
    with pytest.raises(UnsupportedTaskError, match="cannot do inpaint"):
        AutoPipelineForInpainting.from_pipe(decoder)


def test_a_live_inpaint_decoder_only_pipeline_stays_decoder_only(tiny_k22_inpaint):
    from diffusers import KandinskyV22InpaintPipeline

    decoder = KandinskyV22InpaintPipeline.from_pretrained(tiny_k22_inpaint)
    same = AutoPipelineForInpainting.from_pipe(decoder)
    assert type(same).__name__ == "KandinskyV22InpaintPipeline" and same.unet is decoder.unet
