"""AutoPipelineFor*: from_pretrained and from_pipe end to end on the tiny IF stage I checkpoint, and the builder."""

import itertools
import json

import pytest
import torch
from PIL import Image

from autopipe_core import AutoPipelineForImage2Image, AutoPipelineForInpainting, AutoPipelineForText2Image
from autopipe_deepfloyd_if import tiny

AUTO = {"text2img": AutoPipelineForText2Image, "img2img": AutoPipelineForImage2Image, "inpaint": AutoPipelineForInpainting}
CLASSES = {"text2img": "IFPipeline", "img2img": "IFImg2ImgPipeline", "inpaint": "IFInpaintingPipeline"}
SHARED = ("unet", "text_encoder", "tokenizer", "scheduler")
SIZE = tiny.SAMPLE_SIZE  # stage I draws at its UNet's sample_size


def _inputs(task):
    image = Image.new("RGB", (SIZE, SIZE), (200, 120, 40))
    mask = Image.new("L", (SIZE, SIZE), 0)
    mask.paste(255, (4, 4, 12, 12))
    kwargs = {"num_inference_steps": 2, "generator": torch.Generator().manual_seed(0), "output_type": "pil"}
    if task != "text2img":
        kwargs["image"] = image
    if task == "inpaint":
        kwargs["mask_image"] = mask
    return kwargs


def _run(pipe, task):
    pipe.set_progress_bar_config(disable=True)
    images = pipe("a red fox", **_inputs(task)).images
    assert len(images) == 1 and isinstance(images[0], Image.Image)
    assert images[0].size == (SIZE, SIZE) and images[0].mode == "RGB"
    return images[0]


@pytest.fixture
def t2i(tiny_if):
    return AutoPipelineForText2Image.from_pretrained(tiny_if)


def test_the_image_depends_on_the_prompt_and_seed(t2i):
    # A real call through the T5 encoder and the UNet, not a constant: the prompt changes the pixels.
    t2i.set_progress_bar_config(disable=True)
    fox = [t2i("a red fox", **_inputs("text2img")).images[0].tobytes() for _ in range(2)]
    owl = t2i("a grey owl at night", **_inputs("text2img")).images[0].tobytes()
    assert fox[0] == fox[1] and owl != fox[0]


@pytest.mark.parametrize("source, target", list(itertools.permutations(AUTO, 2)))
def test_from_pipe_switches_sharing_the_same_objects(t2i, source, target):
    start = t2i if source == "text2img" else AUTO[source].from_pipe(t2i)
    switched = AUTO[target].from_pipe(start)
    assert type(switched).__name__ == CLASSES[target]
    for name in SHARED:
        assert getattr(switched, name) is getattr(start, name) is getattr(t2i, name), name
    _run(switched, target)


def test_config_round_trip_text2img_img2img_text2img(t2i):
    i2i = AutoPipelineForImage2Image.from_pipe(t2i)
    back = AutoPipelineForText2Image.from_pipe(i2i)
    assert type(back).__name__ == "IFPipeline"
    assert dict(back.config) == dict(t2i.config)
    assert back.config.requires_safety_checker is False
    assert back.watermarker is None and back.safety_checker is None and back.feature_extractor is None


def test_config_round_trip_through_every_task(tiny_if):
    i2i = AutoPipelineForImage2Image.from_pretrained(tiny_if, requires_safety_checker=True)
    pipe = i2i
    for auto in (AutoPipelineForInpainting, AutoPipelineForText2Image, AutoPipelineForInpainting):
        pipe = auto.from_pipe(pipe)
    back = AutoPipelineForImage2Image.from_pipe(pipe)
    assert dict(back.config) == dict(i2i.config) and back.config.requires_safety_checker is True


def test_dtype_is_kept_across_switches(tiny_if):
    half = AutoPipelineForText2Image.from_pretrained(tiny_if, torch_dtype=torch.float16)
    for target in (AutoPipelineForImage2Image, AutoPipelineForInpainting):
        switched = target.from_pipe(half)
        assert switched.unet.dtype == torch.float16 and switched.text_encoder.dtype == torch.float16


def test_the_tiny_checkpoint_is_stage_i(tiny_if):
    index = json.loads((tiny_if / "model_index.json").read_text())
    assert index["_class_name"] == "IFPipeline"
    assert index["tokenizer"] == ["transformers", "T5Tokenizer"] and index["text_encoder"] == ["transformers", "T5EncoderModel"]
    assert [index[k] for k in ("safety_checker", "feature_extractor", "watermarker")] == [[None, None]] * 3
    assert index["requires_safety_checker"] is False
    unet = json.loads((tiny_if / "unet" / "config.json").read_text())
    text = json.loads((tiny_if / "text_encoder" / "config.json").read_text())
    assert (unet["in_channels"], unet["out_channels"], unet["sample_size"]) == (3, 6, SIZE)
    assert unet["encoder_hid_dim"] == text["d_model"] and unet["addition_embed_type"] == "text"
    assert unet["mid_block_type"] == "UNetMidBlock2DSimpleCrossAttn" and unet["cross_attention_norm"] == "group_norm"
    scheduler = json.loads((tiny_if / "scheduler" / "scheduler_config.json").read_text())
    assert scheduler["_class_name"] == "DDPMScheduler"
    assert (scheduler["variance_type"], scheduler["thresholding"], scheduler["beta_schedule"]) == ("learned_range", True, "squaredcos_cap_v2")
    assert not (tiny_if / "tokenizer" / "spiece.model").exists()  # built in memory, saved as tokenizer.json
    assert sum(f.stat().st_size for f in tiny_if.rglob("*") if f.is_file()) < 2 << 20


def test_tiny_builder_refuses_variants(tmp_path):
    for variant in ("inpainting-only", "stage-ii", ""):
        with pytest.raises(ValueError, match="no tiny variant"):
            tiny.build(tmp_path / "x", variant)
    assert not (tmp_path / "x").exists()


def test_tokenizer_is_t5_built_in_memory_and_truncates_at_77():
    tok = tiny.t5_tokenizer()
    assert (tok.pad_token_id, tok.eos_token_id, tok.unk_token_id) == (0, 1, 2)
    ids = tok("a photo of an astronaut " * 20, truncation=True, max_length=tok.model_max_length).input_ids
    assert tok.model_max_length == 77 and len(ids) == 77 and ids[-1] == tok.eos_token_id
    assert tok.convert_ids_to_tokens(tok("a fox").input_ids) == ["▁a", "▁f", "o", "x", "</s>"]


def test_the_saved_tokenizer_reloads_the_same(tiny_if):
    from transformers import T5Tokenizer

    prompt = "A red fox, 2 owls & a cat!"
    assert T5Tokenizer.from_pretrained(tiny_if / "tokenizer")(prompt).input_ids == tiny.t5_tokenizer()(prompt).input_ids
