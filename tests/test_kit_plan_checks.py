"""The kit's check of a bfloat16 family's load plan, on the real plugins' plans: it passes on Ovis-Image's, and fails,
naming the machine and the plan, on AuraFlow's float16 plan and on files that do not say what the test claims."""

import functools

import pytest

from autopipe_core import Identity
from autopipe_core.testing import check_bfloat16_plan

OVIS_PLAIN = ("model_index.json", "transformer/diffusion_pytorch_model.safetensors", "text_encoder/model.safetensors", "vae/diffusion_pytorch_model.safetensors")
OVIS_BF16 = tuple(f.replace(".safetensors", ".bf16.safetensors") if "/" in f else f for f in OVIS_PLAIN)


def _ovis(files):
    return Identity("folder", "x", "OvisImagePipeline", files=files)


def test_a_bfloat16_familys_plan_passes_and_the_plans_are_returned():
    from autopipe_ovis.loading import plan

    plans = check_bfloat16_plan(plan, _ovis(OVIS_PLAIN), _ovis(OVIS_BF16))
    assert (plans.cpu.device, plans.plain_files.dtype, plans.bf16_files.variant, plans.without_bf16.dtype) == ("cpu", "bfloat16", "bf16", "float32")
    assert check_bfloat16_plan(plan, _ovis(OVIS_PLAIN)).bf16_files is None  # no bf16 files asked about


def test_a_float16_familys_plan_fails_naming_the_machine():
    from autopipe_auraflow.loading import plan

    auraflow = functools.partial(plan, "auraflow")
    identity = Identity("folder", "x", "AuraFlowPipeline", files=OVIS_PLAIN, configs={"vae": {"force_upcast": False}})
    with pytest.raises(AssertionError, match=r"on a GPU with bfloat16, plain files the plan loads .* \('float16', None, \{\}\), not \('bfloat16', None, \{\}\)"):
        check_bfloat16_plan(auraflow, identity)


def test_files_that_are_not_what_the_test_says_fail():
    from autopipe_ovis.loading import plan

    # bf16 files alone: a GPU without bfloat16 loads float32 from them
    with pytest.raises(AssertionError, match=r"on a GPU without bfloat16 the plan loads .* \('float32', 'bf16', \{\}\), not \('float32', None, \{\}\)"):
        check_bfloat16_plan(plan, _ovis(OVIS_PLAIN), _ovis(OVIS_BF16), float32=_ovis(OVIS_BF16))
    with pytest.raises(AssertionError, match=r"on a GPU with bfloat16, bf16 files the plan loads .* \('bfloat16', None, \{\}\), not \('bfloat16', 'bf16', \{\}\)"):
        check_bfloat16_plan(plan, _ovis(OVIS_PLAIN), _ovis(OVIS_PLAIN))


def test_a_hook_answering_no_plan_fails():
    with pytest.raises(AssertionError, match="on a CPU the family's plan is NoneType, not a LoadPlan"):
        check_bfloat16_plan(lambda identity, device: None, _ovis(OVIS_PLAIN))
