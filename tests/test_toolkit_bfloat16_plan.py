"""autopipe_core.toolkit.plans.bfloat16_plan: the plan of a family trained in bfloat16 on a CPU, on a GPU with bfloat16
and on one without (float32, never float16), with the family's words in each reason."""

from __future__ import annotations

import pytest

from autopipe_core import DeviceFacts, GiB, Identity
from autopipe_core.toolkit.plans import CPU_REASON, bfloat16_plan

CPU = DeviceFacts("cpu")
AMPERE = DeviceFacts("cuda", 1, 20 * GiB, 24 * GiB, True)
TURING = DeviceFacts("cuda", 1, 14 * GiB, 16 * GiB, False)
PLAIN = ("model_index.json", "transformer/diffusion_pytorch_model.safetensors", "vae/diffusion_pytorch_model.safetensors")
BF16_TOO = (*PLAIN, "transformer/diffusion_pytorch_model.bf16.safetensors", "vae/diffusion_pytorch_model.bf16.safetensors")
WHY_NOT = "float32, not float16: the transformer overflows in float16"


def _identity(files):
    return Identity("folder", "x", "SomePipeline", files=files)


def test_a_cpu_gets_float32_with_the_familys_sentence():
    p = bfloat16_plan(_identity(BF16_TOO), CPU, WHY_NOT, why="as trained", on_cpu=f"{CPU_REASON} (about 30 GB of RAM)")
    assert (p.dtype, p.variant, p.device, p.reason) == ("float32", None, "cpu", f"{CPU_REASON} (about 30 GB of RAM)")


def test_a_gpu_with_bfloat16_loads_its_bf16_files_and_the_reason_ends_with_why():
    p = bfloat16_plan(_identity(BF16_TOO), AMPERE, WHY_NOT, why="every component, as trained")
    assert (p.dtype, p.variant, p.placement) == ("bfloat16", "bf16", "device")
    assert p.reason == "bfloat16 from its bf16 weight files, every component, as trained"
    plain = bfloat16_plan(_identity(PLAIN), AMPERE, WHY_NOT)
    assert (plain.variant, plain.reason) == (None, "bfloat16 from its full-precision files (no bf16 variant found)")


def test_a_gpu_without_bfloat16_gets_float32_not_float16_and_says_why():
    p = bfloat16_plan(_identity(BF16_TOO), TURING, WHY_NOT, why="as trained")
    assert (p.dtype, p.variant, p.device, dict(p.component_dtypes)) == ("float32", None, "cuda", {})
    assert p.reason == f"{WHY_NOT} (cuda has no bfloat16); from its full-precision files"


@pytest.mark.parametrize("files", [None, ("model_index.json", "transformer/diffusion_pytorch_model.bf16.safetensors")])
def test_without_plain_files_the_variant_comes_from_what_the_checkpoint_has(files):
    p = bfloat16_plan(_identity(files), TURING, WHY_NOT)
    assert p.dtype == "float32" and (p.variant is None) == (files is None)


def test_a_wrong_device_or_identity_is_refused():
    with pytest.raises(AttributeError):
        bfloat16_plan(_identity(PLAIN), "cuda", WHY_NOT)  # a device name, not DeviceFacts
    with pytest.raises(AttributeError):
        bfloat16_plan(PLAIN, AMPERE, WHY_NOT)
