"""autopipe-deepfloyd-if's loading code: dtype, weight variant and placement on made-up devices."""

import torch

from autopipe_core import DeviceFacts, Identity, LoadPlan, resolve
from autopipe_core import loading
from autopipe_core import planning
from autopipe_deepfloyd_if.loading import plan

GiB = 1 << 30
# What DeepFloyd/IF-I-XL-v1.0 ships: fp16 variants beside the full files, the T5 sharded, .bin as well as safetensors.
FP16_FILES = (
    "model_index.json",
    "unet/diffusion_pytorch_model.fp16.bin",
    "unet/diffusion_pytorch_model.bin",
    "text_encoder/pytorch_model.fp16-00001-of-00002.bin",
    "text_encoder/pytorch_model.fp16-00002-of-00002.bin",
    "text_encoder/pytorch_model-00001-of-00002.bin",
    "text_encoder/pytorch_model-00002-of-00002.bin",
    "tokenizer/spiece.model",
)
FP32_FILES = ("model_index.json", "unet/diffusion_pytorch_model.safetensors", "text_encoder/model.safetensors", "tokenizer/tokenizer.json")


def _identity(files):
    return Identity("folder", "x", "IFPipeline", files=files)


def _cuda(free):
    return DeviceFacts("cuda", 1, free, 80 * GiB, True)


def test_cpu_loads_float32_whole_even_with_fp16_files():
    p = plan(_identity(FP16_FILES), DeviceFacts("cpu"))
    assert (p.dtype, p.variant, p.placement, p.device) == ("float32", None, "device", "cpu")


def test_cuda_with_plenty_of_memory_loads_float16_with_the_fp16_variant():
    p = plan(_identity(FP16_FILES), _cuda(70 * GiB))
    assert (p.dtype, p.variant, p.placement, p.device) == ("float16", "fp16", "device", "cuda")
    assert "fp16 weight files" in p.reason


def test_cuda_without_fp16_files_loads_float16_from_the_full_files():
    p = plan(_identity(FP32_FILES), _cuda(70 * GiB))
    assert (p.dtype, p.variant, p.placement) == ("float16", None, "device")
    assert "no fp16 variant" in p.reason
    unknown = plan(_identity(None), _cuda(70 * GiB))
    assert unknown.variant is None and "file list unknown" in unknown.reason


def test_the_family_leaves_the_placement_to_the_core():
    """IF-I-XL's placement on each budget is planned from its headers: tests/test_placement_fullsize.py."""
    for free in (8 * GiB, 16 * GiB, 70 * GiB):
        p = plan(_identity(FP32_FILES), _cuda(free))
        assert (p.dtype, p.variant, p.placement) == ("float16", None, "device")


def test_t5_is_counted_with_the_layers_transformers_keeps_in_float32(tiny_if):
    """What the core cannot know: T5's wo layers stay float32 under torch_dtype=float16; the estimate matches the load."""
    r = resolve(tiny_if, "text2img")
    placed = planning.plan(r, _cuda(8 * GiB))
    text = placed.footprint.component("text_encoder")
    assert "wo kept in float32" in text.source
    pipe = loading.from_pretrained(r, tiny_if, loading.load_kwargs(placed.plan, {}))
    real = sum(p.numel() * p.element_size() for p in pipe.text_encoder.parameters())
    assert {p.dtype for p in pipe.text_encoder.parameters()} == {torch.float16, torch.float32}
    assert text.nbytes == real
    assert placed.footprint.activation.nbytes == 2 * GiB and (placed.footprint.activation.width, placed.footprint.activation.height) == (64, 64)


def test_other_accelerators_load_float16_on_the_device():
    p = plan(_identity(FP16_FILES), DeviceFacts("mps", 1))
    assert (p.dtype, p.variant, p.placement, p.device) == ("float16", "fp16", "device", "mps")


def test_the_core_asks_the_family_for_its_plan(tiny_if, tmp_path):
    r = resolve(tiny_if, "text2img")
    assert loading.plan(r, DeviceFacts("cpu")).dtype == "float32"
    assert loading.plan(r, _cuda(70 * GiB)).variant is None  # the tiny checkpoint has no fp16 files
    # the same checkpoint with fp16 files saved beside the full ones
    from diffusers import IFPipeline

    pipe = IFPipeline.from_pretrained(tiny_if)
    pipe.save_pretrained(tmp_path / "m")
    pipe.save_pretrained(tmp_path / "m", variant="fp16")
    r16 = resolve(tmp_path / "m", "inpaint")
    p = loading.plan(r16, _cuda(12 * GiB))
    assert p == LoadPlan("float16", "fp16", "device", "cuda", p.reason)  # tiny: fits anywhere
    assert loading.plan(r16, _cuda(GiB)).placement == "sequential_cpu_offload"  # not even the 2 GiB allowance
    assert loading.load_kwargs(p, {}) == {loading.dtype_keyword(): torch.float16, "variant": "fp16"}


def test_load_on_cpu_applies_the_plan(tiny_if):
    pipe, resolution, p = loading.load(tiny_if, "inpaint", "cpu")
    assert type(pipe).__name__ == "IFInpaintingPipeline" == resolution.pipeline_class
    assert (p.dtype, p.placement) == ("float32", "device")
    assert pipe.unet.dtype == torch.float32 and pipe.text_encoder.dtype == torch.float32


def test_load_kwargs_explicit_arguments_win():
    p = plan(_identity(FP16_FILES), _cuda(70 * GiB))
    assert loading.load_kwargs(p, {"torch_dtype": torch.bfloat16, "variant": None}) == {"torch_dtype": torch.bfloat16, "variant": None}

