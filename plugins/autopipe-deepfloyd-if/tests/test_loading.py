"""autopipe-deepfloyd-if's loading code: dtype, weight variant and placement on made-up devices."""

import torch

from autopipe_core import DeviceFacts, Identity, LoadPlan, resolve
from autopipe_core import loading
from autopipe_deepfloyd_if.loading import MIN_FREE_FOR_DEVICE, MIN_FREE_FOR_MODEL_OFFLOAD, plan

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


def test_the_thresholds_are_ordered_and_documented_sizes():
    # T5-XXL alone (8.9 GiB) must fit under the offload threshold; T5 + IF-I-XL UNet (16.9 GiB) under the device one.
    assert 8.9 * GiB < MIN_FREE_FOR_MODEL_OFFLOAD < MIN_FREE_FOR_DEVICE and 16.9 * GiB < MIN_FREE_FOR_DEVICE <= 23 * GiB


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


def test_cuda_short_of_memory_offloads_model_by_model():
    p = plan(_identity(FP16_FILES), _cuda(MIN_FREE_FOR_DEVICE - 1))
    assert (p.dtype, p.variant, p.placement, p.device) == ("float16", "fp16", "model_cpu_offload", "cuda")
    assert "GiB free" in p.reason
    assert plan(_identity(FP16_FILES), _cuda(16 * GiB)).placement == "model_cpu_offload"  # a 16 GB card
    assert plan(_identity(FP16_FILES), _cuda(MIN_FREE_FOR_MODEL_OFFLOAD)).placement == "model_cpu_offload"


def test_cuda_with_exactly_the_threshold_keeps_the_pipeline_whole():
    assert plan(_identity(FP16_FILES), _cuda(MIN_FREE_FOR_DEVICE)).placement == "device"
    assert plan(_identity(FP16_FILES), _cuda(int(23.5 * GiB))).placement == "device"  # a 24 GB card


def test_cuda_too_short_for_t5_alone_streams_layer_by_layer():
    p = plan(_identity(FP32_FILES), _cuda(MIN_FREE_FOR_MODEL_OFFLOAD - 1))
    assert (p.dtype, p.variant, p.placement) == ("float16", None, "sequential_cpu_offload")
    assert plan(_identity(FP32_FILES), _cuda(8 * GiB)).placement == "sequential_cpu_offload"


def test_cuda_free_memory_unknown_falls_back_to_the_total_then_to_the_device():
    assert plan(_identity(FP16_FILES), DeviceFacts("cuda", 1, None, 12 * GiB)).placement == "model_cpu_offload"
    p = plan(_identity(FP16_FILES), DeviceFacts("cuda", 1))
    assert p.placement == "device" and "unknown" in p.reason


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
    assert p == LoadPlan("float16", "fp16", "model_cpu_offload", "cuda", p.reason)
    assert loading.load_kwargs(p, {}) == {"torch_dtype": torch.float16, "variant": "fp16"}


def test_load_on_cpu_applies_the_plan(tiny_if):
    pipe, resolution, p = loading.load(tiny_if, "inpaint", "cpu")
    assert type(pipe).__name__ == "IFInpaintingPipeline" == resolution.pipeline_class
    assert (p.dtype, p.placement) == ("float32", "device")
    assert pipe.unet.dtype == torch.float32 and pipe.text_encoder.dtype == torch.float32


def test_load_kwargs_explicit_arguments_win():
    p = plan(_identity(FP16_FILES), _cuda(70 * GiB))
    assert loading.load_kwargs(p, {"torch_dtype": torch.bfloat16, "variant": None}) == {"torch_dtype": torch.bfloat16, "variant": None}

