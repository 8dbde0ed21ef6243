"""autopipe-amused's tests: the conformance kit, then what is particular to aMUSEd."""

from __future__ import annotations

import json

import pytest
import torch

from autopipe_amused import FAMILY
from autopipe_amused.loading import ALLOWANCE, plan
from autopipe_amused.tiny import CODEBOOK, MASK_TOKEN_ID, TOKENS, build
from autopipe_core import AutoPipelineForImage2Image, AutoPipelineForInpainting, AutoPipelineForText2Image, DeviceFacts, GiB, Identity, resolve
from autopipe_core.testing import PluginConformance

PLUGIN = "autopipe-amused"
SIDE = 16 * TOKENS  # pixels a side of the tiny checkpoint's images: 16x16 tokens of 16x16 pixels
GPU = DeviceFacts("cuda", 1, 20 * GiB, 24 * GiB, True)
FP16_FILES = ("model_index.json", "transformer/diffusion_pytorch_model.fp16.safetensors", "transformer/diffusion_pytorch_model.safetensors")


class TestConformance(PluginConformance):
    plugin = PLUGIN
    image_size = 256  # the input images of img2img and inpaint: the tiny checkpoint draws at 256x256, as amused-256


@pytest.fixture(scope="session")
def tiny_amused(tiny_checkpoint):
    return tiny_checkpoint(FAMILY)


def _json(folder, name):
    return json.loads((folder / name).read_text())


def _run(pipe, **kwargs):
    pipe.set_progress_bar_config(disable=True)
    return pipe("a red fox", num_inference_steps=2, generator=torch.Generator().manual_seed(0), **kwargs).images[0]


def _image(color):
    from PIL import Image

    return Image.new("RGB", (SIDE, SIDE), color)


def _mask(box=(SIDE // 2, SIDE // 2, SIDE, SIDE)):
    """White (repaint) over `box`, the bottom right quarter by default; black (keep) elsewhere."""
    from PIL import Image, ImageDraw

    mask = Image.new("L", (SIDE, SIDE), 0)
    if box:
        ImageDraw.Draw(mask).rectangle((box[0], box[1], box[2] - 1, box[3] - 1), fill=255)
    return mask


def test_the_tiny_checkpoint_is_an_amused(tiny_amused):
    assert _json(tiny_amused, "model_index.json")["_class_name"] == "AmusedPipeline"
    transformer, vqvae = _json(tiny_amused, "transformer/config.json"), _json(tiny_amused, "vqvae/config.json")
    assert (transformer["_class_name"], transformer["codebook_size"], transformer["vocab_size"], transformer["sample_size"]) == ("UVit2DModel", CODEBOOK, CODEBOOK + 1, TOKENS)
    assert (vqvae["_class_name"], vqvae["num_vq_embeddings"], vqvae["lookup_from_codebook"]) == ("VQModel", CODEBOOK, True)
    assert 2 ** (len(vqvae["block_out_channels"]) - 1) == 16  # 16x16 pixels a token, as aMUSEd's VQ-GAN
    assert _json(tiny_amused, "scheduler/scheduler_config.json")["mask_token_id"] == MASK_TOKEN_ID == transformer["vocab_size"] - 1


def test_diffusers_autopipeline_refuses_it_and_this_plugin_serves_every_task(tiny_amused):
    import diffusers

    with pytest.raises(ValueError, match="AutoPipeline can't find a pipeline linked to AmusedPipeline"):
        diffusers.AutoPipelineForText2Image.from_pretrained(tiny_amused)
    classes = {task: resolve(tiny_amused, task).pipeline_class for task in ("text2img", "img2img", "inpaint")}
    assert classes == {"text2img": "AmusedPipeline", "img2img": "AmusedImg2ImgPipeline", "inpaint": "AmusedInpaintPipeline"}


def test_inpaint_redraws_the_tokens_under_the_mask_and_keeps_the_others(tiny_amused):
    """White in the mask makes those tokens masked, each drawn anew from the codebook; black keeps the image's own tokens."""
    inpaint = AutoPipelineForInpainting.from_pipe(AutoPipelineForText2Image.from_pretrained(tiny_amused))
    image = _image((200, 30, 30))
    with torch.no_grad():  # the image's own tokens: its VQ-GAN codes, as the pipeline encodes them
        own = inpaint.vqvae.quantize(inpaint.vqvae.encode(inpaint.image_processor.preprocess(image)).latents)[2][2].reshape(TOKENS, TOKENS)
    redrawn = _run(inpaint, image=image, mask_image=_mask(), output_type="latent")  # the bottom right quarter masked
    assert redrawn.shape == (TOKENS, TOKENS) and redrawn.dtype == torch.long
    half = TOKENS // 2
    outside = torch.ones(TOKENS, TOKENS, dtype=torch.bool)
    outside[half:, half:] = False
    assert torch.equal(redrawn[outside], own[outside])
    inside = redrawn[half:, half:]
    assert bool(((inside >= 0) & (inside < CODEBOOK)).all())  # every masked token drawn (none left as MASK_TOKEN_ID)
    assert not torch.equal(inside, own[half:, half:])


def test_inpaint_needs_image_sides_that_are_multiples_of_256(tiny_amused):
    """diffusers' AmusedInpaintPipeline scales the mask down to the token grid and rounds that to a multiple of the VQ-GAN's
    16: a 128x128 image has 8x8 tokens, rounded to no mask at all. Hence `autopipe demo --size 256` in the README."""
    inpaint = AutoPipelineForInpainting.from_pipe(AutoPipelineForText2Image.from_pretrained(tiny_amused))
    small = _image((200, 30, 30)).resize((SIDE // 2, SIDE // 2))
    with pytest.raises(ValueError, match="height and width must be > 0"):
        _run(inpaint, image=small, mask_image=_mask().resize(small.size))


def test_inpaint_rewrites_the_shared_schedulers_masking_schedule(tiny_amused):
    """diffusers' AmusedInpaintPipeline sets masking_schedule="linear" on the scheduler it is given, which from_pipe shares."""
    t2i = AutoPipelineForText2Image.from_pretrained(tiny_amused)
    assert t2i.scheduler.config.masking_schedule == "cosine"
    inpaint = AutoPipelineForInpainting.from_pipe(t2i)
    assert inpaint.scheduler is t2i.scheduler and t2i.scheduler.config.masking_schedule == "linear"
    # A scheduler of its own for the inpainting pipeline keeps text2img's cosine schedule; the models stay shared.
    t2i = AutoPipelineForText2Image.from_pretrained(tiny_amused)
    own = AutoPipelineForInpainting.from_pipe(t2i, scheduler=type(t2i.scheduler).from_config(t2i.scheduler.config))
    assert (own.scheduler.config.masking_schedule, t2i.scheduler.config.masking_schedule) == ("linear", "cosine")
    assert own.transformer is t2i.transformer and own.vqvae is t2i.vqvae


def test_load_plans_keep_the_vqgan_in_float32_on_an_accelerator():
    fp16 = Identity("folder", "x", "AmusedPipeline", files=FP16_FILES)
    cpu = plan(fp16, DeviceFacts("cpu"))
    assert (cpu.dtype, cpu.variant, dict(cpu.component_dtypes)) == ("float32", None, {})
    gpu = plan(fp16, GPU)
    assert (gpu.dtype, gpu.variant, gpu.placement, dict(gpu.component_dtypes)) == ("float16", "fp16", "device", {"vqvae": "float32"})
    assert "vqvae in float32" in gpu.reason and "NaNs" in gpu.reason  # the core plans the placement, not this code


def test_the_pipelines_run_with_the_vqgan_in_float32_and_the_rest_in_half_precision(tiny_amused):
    # What the accelerator plan loads, on this CPU: bfloat16 stands in for float16, whose CPU kernels are patchy.
    t2i = AutoPipelineForText2Image.from_pretrained(tiny_amused, torch_dtype={"default": torch.bfloat16, "vqvae": torch.float32})
    assert (t2i.transformer.dtype, t2i.text_encoder.dtype, t2i.vqvae.dtype) == (torch.bfloat16, torch.bfloat16, torch.float32)
    images = [
        _run(t2i),
        _run(AutoPipelineForImage2Image.from_pipe(t2i), image=_image((30, 30, 200)), strength=0.75),
        _run(AutoPipelineForInpainting.from_pipe(t2i), image=_image((30, 200, 30)), mask_image=_mask()),
    ]
    assert [i.size for i in images] == [(SIDE, SIDE)] * 3


def test_the_allowance_is_for_the_native_size_unless_the_call_says():
    def identity(sample_size):
        return Identity("folder", "x", "AmusedPipeline", configs={"transformer": {"sample_size": sample_size}}, files=FP16_FILES)

    amused_512, amused_256 = identity(32), identity(16)
    half = plan(amused_512, GPU)
    at_512 = ALLOWANCE.activation(amused_512, half)
    assert (at_512.width, at_512.height, at_512.nbytes) == (512, 512, ALLOWANCE.at + ALLOWANCE.fixed)
    assert ALLOWANCE.activation(amused_256, half).nbytes == ALLOWANCE.at // 4 + ALLOWANCE.fixed  # a quarter of the pixels
    asked = ALLOWANCE.activation(amused_256, half, 1024, 1024)
    assert (asked.width, asked.nbytes) == (1024, 4 * ALLOWANCE.at + ALLOWANCE.fixed)


def test_tiny_builder_refuses_variants(tmp_path):
    with pytest.raises(ValueError, match="amused has no tiny variant 'inpainting-only'"):
        build(tmp_path / "x", "inpainting-only")
