"""Kandinsky 2.1 end to end on its tiny checkpoints: the decoder reads the prompt too (MultilingualCLIP)."""

import numpy as np
import pytest
from PIL import Image

from autopipe_core import AutoPipelineForImage2Image, AutoPipelineForInpainting, AutoPipelineForText2Image, UnsupportedTaskError

FAST = {"num_inference_steps": 2, "prior_num_inference_steps": 2, "height": 64, "width": 64, "output_type": "np"}


def test_three_tasks_from_decoder_folders_in_another_directory(tiny_k21, tiny_k21_inpaint, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    t2i = AutoPipelineForText2Image.from_pretrained(tiny_k21)
    assert type(t2i).__name__ == "KandinskyCombinedPipeline"
    assert type(t2i.text_encoder).__name__ == "MultilingualCLIP" and t2i.prior_prior is not None
    out = t2i("a red cat", **FAST).images
    assert out.shape == (1, 64, 64, 3) and np.isfinite(out).all()

    i2i = AutoPipelineForImage2Image.from_pipe(t2i)
    assert type(i2i).__name__ == "KandinskyImg2ImgCombinedPipeline"
    assert i2i.text_encoder is t2i.text_encoder and i2i.prior_image_encoder is t2i.prior_image_encoder
    picture = Image.fromarray((out[0] * 255).astype(np.uint8))
    assert i2i("a red cat", image=picture, strength=0.5, **FAST).images.shape == (1, 64, 64, 3)
    assert dict(AutoPipelineForText2Image.from_pipe(i2i).config) == dict(t2i.config)

    with pytest.raises(UnsupportedTaskError, match="4 input channels"):
        AutoPipelineForInpainting.from_pipe(t2i)

    inpaint = AutoPipelineForInpainting.from_pretrained(tiny_k21_inpaint)
    assert type(inpaint).__name__ == "KandinskyInpaintCombinedPipeline"
    mask = np.zeros((64, 64), dtype=np.float32)
    mask[:32] = 1.0
    assert inpaint("a red cat", image=picture, mask_image=mask, **FAST).images.shape == (1, 64, 64, 3)


def test_a_decoder_only_21_pipeline_stays_decoder_only(tiny_k21):
    from diffusers import KandinskyPipeline

    decoder = KandinskyPipeline.from_pretrained(tiny_k21)
    i2i = AutoPipelineForImage2Image.from_pipe(decoder)
    assert type(i2i).__name__ == "KandinskyImg2ImgPipeline" and i2i.unet is decoder.unet and i2i.tokenizer is decoder.tokenizer
