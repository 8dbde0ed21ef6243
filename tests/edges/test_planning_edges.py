"""The planner's arithmetic and rules (planning.py) on made-up figures: each branch, each boundary, each reason."""

from __future__ import annotations

import pytest

from autopipe_core import DeviceFacts
from autopipe_core.planning import (
    GiB, Placement, balanced_assignment, choose, count_tensors, dtype_name, fit_variant, format_plan, scaled, stored_variants, user_plan, weight_files,
)
from autopipe_core.specs import Activation, ComponentBytes, Footprint, Identity, LoadPlan

PLAN = LoadPlan("float16", None, "device", "cuda", "the family's")


def _fp(act: int = 0, unknown: bool = False, **sizes: int) -> Footprint:
    components = [ComponentBytes(n, s, s // 2, "float16", "headers") for n, s in sizes.items()]
    if unknown:
        components.append(ComponentBytes("mystery", None, None, "float16", "a pickle"))
    return Footprint(tuple(components), Activation(act, 512, 512, "a") if act else Activation(0, 0, 0, "none"))


def _cuda(free: int | None = None, count: int = 1, total: int | None = None) -> DeviceFacts:
    return DeviceFacts("cuda", count, free, total, True)


def test_on_the_cpu_and_with_an_unknown_budget_everything_stays_on_the_device():
    assert choose(_fp(unet=GiB), DeviceFacts("cpu")) == choose(_fp(unet=GiB), DeviceFacts("cpu", 4, GiB, GiB))
    assert choose(_fp(unet=GiB), DeviceFacts("cpu")).reason == "on the CPU weights stay in RAM; offloading is for accelerators"
    rule = choose(_fp(unet=100 * GiB), _cuda())
    assert (rule.placement, rule.reason) == ("device", "free memory on cuda unknown, so the whole pipeline goes on it (pass memory= to plan)")
    assert choose(_fp(unet=3 * GiB), _cuda(None, total=2 * GiB)).placement == "sequential_cpu_offload"  # the total when free is unknown
    assert choose(_fp(unet=3 * GiB), _cuda(4 * GiB, total=2 * GiB)).placement == "device"  # free wins over total


def test_an_unknown_component_stops_the_rules():
    rule = choose(_fp(unknown=True, unet=100 * GiB), _cuda(GiB))
    assert (rule.placement, rule.reason) == ("device", "the size of mystery (a pickle) is not known, so the memory rules were not applied: whole pipeline on cuda")


def test_fitting_exactly_is_fitting():
    rule = choose(_fp(GiB, unet=2 * GiB, vae=GiB), _cuda(4 * GiB))
    assert rule == choose(_fp(GiB, unet=2 * GiB, vae=GiB), _cuda(4 * GiB))
    assert (rule.placement, rule.reason) == ("device", "weights 3.00 GiB + activations 1.00 GiB at 512x512 = 4.00 GiB fit in 4.00 GiB: whole pipeline on cuda")
    assert choose(_fp(unet=4 * GiB), _cuda(4 * GiB)).reason == "weights 4.00 GiB + no activation allowance = 4.00 GiB fit in 4.00 GiB: whole pipeline on cuda"
    assert choose(_fp(GiB, unet=2 * GiB, vae=GiB), _cuda(4 * GiB - 1)).placement == "model_cpu_offload"


def test_the_largest_component_with_the_activations_decides_between_the_offloads():
    fits = choose(_fp(GiB, unet=2 * GiB, vae=GiB), _cuda(3 * GiB))
    assert fits.placement == "model_cpu_offload" and fits.max_memory is None and fits.device_map is None
    assert fits.reason == (
        "weights 3.00 GiB + activations 1.00 GiB at 512x512 = 4.00 GiB exceed 3.00 GiB; the largest component, unet (2.00 GiB), fits with the activations "
        "(3.00 GiB): models go to the GPU one at a time"
    )
    streams = choose(_fp(GiB, unet=2 * GiB, vae=GiB), _cuda(3 * GiB - 1))
    assert streams.placement == "sequential_cpu_offload"
    assert streams.reason.endswith(
        "; even the largest component, unet (2.00 GiB), does not fit with the activations (3.00 GiB): weights are streamed to the GPU layer by layer (slow)"
    )


def test_several_gpus_are_balanced_when_every_component_finds_room():
    rule = choose(_fp(GiB, unet=3 * GiB, text_encoder=2 * GiB, vae=GiB), _cuda(4 * GiB, count=2))
    assert rule.placement == "balanced" and dict(rule.max_memory) == {0: 3 * GiB, 1: 3 * GiB}
    assert dict(rule.device_map) == {"unet": 0, "text_encoder": 1, "vae": 1}
    assert rule.reason == (
        "weights 6.00 GiB + activations 1.00 GiB at 512x512 = 7.00 GiB exceed 4.00 GiB on one device, but across 2 devices (4.00 GiB each, 1.00 GiB of it "
        "kept for activations) device_map='balanced' puts each component on a GPU: unet -> cuda:0, text_encoder -> cuda:1, vae -> cuda:1"
    )
    crowded = choose(_fp(GiB, unet=3 * GiB, text_encoder=3 * GiB, vae=GiB), _cuda(4 * GiB, count=2))
    assert crowded.placement == "model_cpu_offload" and "and do not spread over 2 devices component by component; the largest" in crowded.reason
    assert choose(_fp(GiB, unet=3 * GiB, vae=GiB), DeviceFacts("mps", 2, 4 * GiB, 4 * GiB, True)).placement == "model_cpu_offload"  # balanced is CUDA's
    assert choose(_fp(4 * GiB, unet=3 * GiB, vae=GiB), _cuda(4 * GiB, count=2)).placement == "sequential_cpu_offload"  # no room left after activations


@pytest.mark.parametrize(
    "sizes, budgets, expected",
    [
        ({"a": 5, "b": 4, "c": 3, "d": 2, "e": 1}, {0: 10, 1: 10}, {"a": 0, "b": 1, "c": 1, "d": 0, "e": 0}),  # 0, 1, 1, 0, 0: there and back
        ({"a": 3, "b": 2}, {0: 5, 1: 9}, {"a": 1, "b": 0}),  # the roomier device first
        ({"a": 6}, {0: 5, 1: 5}, None),
        ({"a": 1}, {}, None),
        ({"a": 2, "b": 1, "c": 1}, {0: 2, 1: 2}, {"a": 0, "b": 1, "c": 1}),
        ({"a": 2, "b": 2, "c": 2}, {0: 4, 1: 2}, None),  # c's turn is device 1 again, full: diffusers would put it on the CPU
        ({"a": 2, "b": 2, "c": 2}, {0: 2, 1: 2}, None),
    ],
)
def test_balanced_assignment_visits_the_devices_there_and_back(sizes, budgets, expected):
    assert balanced_assignment(sizes, budgets) == expected


def test_scaled_grows_with_the_pixels_and_the_itemsize():
    assert scaled(GiB, 0, 512, 512, 512, "float16") == GiB
    assert scaled(GiB, 100, 1024, 512, 512, "float16") == 100 + 2 * GiB
    assert scaled(GiB, 100, 512, 512, 512, "float32") == 100 + 2 * GiB
    assert scaled(GiB, 0, 256, 256, 512, "bfloat16") == GiB // 4
    assert scaled(3, 0, 1, 1, 2, "float32") == 3 * 1 // 4 * 4 // 2  # integer arithmetic, in this order


def test_count_tensors_counts_each_dtype_as_it_will_load():
    tensors = [("a.weight", "F32", (2, 3)), ("b.wo.weight", "F16", (4,)), ("c.ids", "I64", (5,)), ("d", "BOOL", ()), ("e", "BF16", (0, 3))]
    assert count_tensors(tensors, "float16") == (6 + 4 + 5 + 1, 12 + 8 + 40 + 1)
    assert count_tensors(tensors, "float16", keep_float32=["wo"]) == (16, 12 + 16 + 40 + 1)
    assert count_tensors(tensors, "float32", keep_float32=["wo"]) == (16, 24 + 16 + 40 + 1)
    assert count_tensors(tensors, "bfloat16", keep_float32=["weight"]) == (16, 24 + 16 + 40 + 1)  # a dotted part, not a substring
    assert count_tensors([("xwo.w", "F16", (4,))], "float16", keep_float32=["wo"]) == (4, 8)


FILES = (
    "unet/diffusion_pytorch_model.safetensors", "unet/diffusion_pytorch_model.fp16.safetensors", "unet/diffusion_pytorch_model.bin",
    "vae/diffusion_pytorch_model.fp16-00001-of-00002.safetensors", "vae/diffusion_pytorch_model.fp16-00002-of-00002.safetensors",
    "text_encoder/model.bin", "text_encoder/sub/model.safetensors", "tokenizer/vocab.json", "unet/config.json",
)


def test_weight_files_are_the_ones_diffusers_would_load():
    assert weight_files(FILES, "unet", "fp16") == (("unet/diffusion_pytorch_model.fp16.safetensors",), "safetensors", True)
    assert weight_files(FILES, "unet/", None) == (("unet/diffusion_pytorch_model.safetensors",), "safetensors", False)
    assert weight_files(FILES, "unet", "bf16") == (("unet/diffusion_pytorch_model.safetensors",), "safetensors", False)
    assert weight_files(FILES, "vae", "fp16")[0] == ("vae/diffusion_pytorch_model.fp16-00001-of-00002.safetensors", "vae/diffusion_pytorch_model.fp16-00002-of-00002.safetensors")
    assert weight_files(FILES, "vae", None) == ((), "", False)
    assert weight_files(FILES, "text_encoder", "fp16") == (("text_encoder/model.bin",), "pickle", False)
    assert weight_files(FILES, "tokenizer", None) == ((), "", False)


def test_stored_variants_are_read_from_the_tags():
    assert stored_variants(FILES, "unet") == {None, "fp16"}
    assert stored_variants(FILES, "vae") == {"fp16"}
    assert stored_variants(FILES, "text_encoder") == {None}
    assert stored_variants(FILES, "tokenizer") == set()


def test_fit_variant_keeps_a_choice_that_loads_and_else_takes_the_one_that_does():
    identity = Identity("folder", "/m", "C", components={"unet": ("diffusers", "U"), "vae": ("diffusers", "V"), "tokenizer": ("transformers", "T")}, files=FILES)
    assert fit_variant(replace_plan(variant="fp16"), identity).variant == "fp16"
    chosen = fit_variant(replace_plan(variant=None), identity)
    assert chosen.variant == "fp16" and chosen.reason == "the family's; variant fp16: the fp16 files, as vae has no other weights"
    bf16 = Identity("folder", "/m", "C", components={"unet": ("d", "U"), "vae": ("d", "V")}, files=("unet/m.bf16.safetensors", "vae/m.bf16.safetensors"))
    assert fit_variant(replace_plan(variant="fp16"), bf16).reason == "the family's; variant bf16: the bf16 files, as unet, vae have no other weights"
    mixed = Identity("folder", "/m", "C", components={"unet": ("d", "U"), "vae": ("d", "V")}, files=("unet/m.bf16.safetensors", "vae/m.fp16.safetensors"))
    assert fit_variant(replace_plan(variant=None), mixed).variant is None  # no single variant loads both: left to counting
    for origin, files in (("file", FILES), ("pipeline", FILES), ("folder", None)):
        odd = Identity(origin, "/m", "C", components={"vae": ("d", "V")}, files=files)
        assert fit_variant(replace_plan(variant=None), odd).variant is None


def replace_plan(**changes) -> LoadPlan:
    from dataclasses import replace

    return replace(PLAN, **changes)


def test_the_callers_dtype_and_variant_win_and_say_so():
    import torch

    assert user_plan(PLAN, {}) is PLAN
    plan = user_plan(replace_plan(component_dtypes={"vae": "float32"}), {"torch_dtype": torch.bfloat16, "variant": "bf16"})
    assert (plan.dtype, plan.variant, dict(plan.component_dtypes)) == ("bfloat16", "bf16", {})
    assert plan.reason == "torch_dtype=torch.bfloat16, variant='bf16' as the caller asked; the family's"
    per = user_plan(PLAN, {"dtype": {"default": "float32", "vae": torch.float16, "unet": "int8"}})
    assert (per.dtype, dict(per.component_dtypes)) == ("float32", {"vae": "float16"}) and per.reason.startswith("dtype={")
    assert user_plan(PLAN, {"dtype": {"vae": torch.float16}}).dtype == "float32"
    assert user_plan(PLAN, {"torch_dtype": "int8"}) is PLAN  # not a dtype of ours: the plan stands
    skipping = replace_plan(skip={"text_encoder", "safety_checker"}, extra={"use_safetensors": True, "low_cpu_mem_usage": False})
    mine = user_plan(skipping, {"text_encoder": object(), "use_safetensors": False})
    assert mine.skip == {"safety_checker"} and dict(mine.extra) == {"low_cpu_mem_usage": False}
    assert user_plan(skipping, {"unrelated": 1}) is skipping
    assert dtype_name("torch.float16") == "float16" and dtype_name("float32") == "float32" and dtype_name("int8") is None


def test_the_json_and_the_text_of_a_plan():
    fp = _fp(GiB, unet=2 * GiB, vae=GiB)
    plan = LoadPlan("float16", "fp16", "balanced", "cuda", "why so", component_dtypes={"vae": "float32"}, skip={"safety_checker"}, extra={"x": object(), "y": 1})
    placed = Placement(plan, fp, 4 * GiB, 2, "balanced", None, {0: 3 * GiB, 1: 3 * GiB}, {"unet": 0, "vae": 1})
    out = placed.to_json()
    assert out["max_memory"] == {"0": 3 * GiB, "1": 3 * GiB} and out["device_map"] == {"unet": 0, "vae": 1}
    assert out["extra_keywords"]["y"] == 1 and out["extra_keywords"]["x"].startswith("<object object at")
    assert out["skipped_components"] == ["safety_checker"] and out["activation_size"] == [512, 512] and out["estimated_bytes"] == 3 * GiB
    text = format_plan(placed, "/m", "StableDiffusionPipeline")
    assert text.splitlines() == [
        "model:       /m (StableDiffusionPipeline)",
        "dtype:       float16, vae in float32",
        "variant:     fp16",
        "placement:   balanced on cuda",
        "budget:      4.00 GiB x 2 devices",
        f"weights:     3.00 GiB ({3 * GiB} bytes) in the chosen dtype",
        f"activations: 1.00 GiB ({GiB} bytes) at 512x512: a",
        "left out:    safety_checker (not loaded: passed to diffusers as None, not counted)",
        f"keywords:    x={plan.extra['x']!r}, y=1 (more from_pretrained keywords)",
        "components:",
        f"  unet{'':<18}{'2.00 GiB':>12}  float16   headers",
        f"  vae{'':<19}{'1.00 GiB':>12}  float16   headers",
        "device map:  unet -> cuda:0, vae -> cuda:1",
        "why:         why so",
    ]
    other = Placement(LoadPlan("float32", None, "device", "cpu", "r"), _fp(unknown=True), None, 0, "device", "autopipe-x")
    text = format_plan(other, "/m", "C")
    assert "variant:     none (the default files)" in text and "budget:      unknown" in text
    assert "placement:   device on cpu (the rules said device; overridden by autopipe-x)" in text
    assert "activations: 0.00 GiB (0 bytes): none" in text and f"  mystery{'':<15}{'unknown':>12}  float16   a pickle" in text
    assert "left out" not in text and "keywords" not in text and "device map" not in text


def test_the_text_of_a_plan_on_one_device_and_with_several_of_each():
    tiny = ComponentBytes("tiny", 1, 1, "float16", "headers")
    fp = Footprint((ComponentBytes("mystery", None, None, "float16", "a pickle"), tiny))
    plan = LoadPlan("float16", None, "device", "cuda", "r", component_dtypes={"vae": "float32", "text_encoder": "bfloat16"}, skip={"b", "a"})
    text = format_plan(Placement(plan, fp, 8 * GiB, 1, "device"), "/m", "C").splitlines()
    assert "budget:      8.00 GiB" in text and "dtype:       float16, vae in float32, text_encoder in bfloat16" in text
    assert "left out:    a, b (not loaded: passed to diffusers as None, not counted)" in text
    listed = [line.split()[0] for line in text[text.index("components:") + 1:] if line.startswith("  ")]
    assert listed == ["tiny", "mystery"]  # the largest first; an unknown size counts as none
