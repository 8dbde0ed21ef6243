"""The planner's arithmetic and rules (planning.py) on made-up figures: each branch, each boundary, each reason."""

from __future__ import annotations

from dataclasses import replace

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
    assert crowded.placement == "model_cpu_offload" and crowded.reason.startswith(
        "weights 7.00 GiB + activations 1.00 GiB at 512x512 = 8.00 GiB exceed 4.00 GiB and do not spread over 2 devices component by component; the largest")
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
    bf16 = Identity("folder", "/m", "C", components={"unet": ("d", "U"), "vae": ("d", "V")}, files=("unet/diffusion_pytorch_model.bf16.safetensors", "vae/diffusion_pytorch_model.bf16.safetensors"))
    assert fit_variant(replace_plan(variant="fp16"), bf16).reason == "the family's; variant bf16: the bf16 files, as unet, vae have no other weights"
    mixed = Identity("folder", "/m", "C", components={"unet": ("d", "U"), "vae": ("d", "V")}, files=("unet/diffusion_pytorch_model.bf16.safetensors", "vae/diffusion_pytorch_model.fp16.safetensors"))
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


def test_the_json_of_a_plan_has_every_key_a_script_reads():
    fp = Footprint((ComponentBytes("unet", 2 * GiB, GiB, "float16", "headers", ("unet/a.safetensors",)), ComponentBytes("mystery", None, None, "float32", "a pickle")),
                   Activation(GiB, 640, 480, "a"))
    plan = LoadPlan("float16", "fp16", "model_cpu_offload", "cuda:1", "why so", component_dtypes={"vae": "float32"}, skip={"b", "a"}, extra={"y": [1, "z"]})
    placed = Placement(plan, fp, 3 * GiB, 1, "sequential_cpu_offload", "autopipe-x")
    assert placed.to_json() == {
        "dtype": "float16", "variant": "fp16", "placement": "model_cpu_offload", "device": "cuda:1",
        "estimated_bytes": 2 * GiB, "activation_bytes": GiB, "activation_size": [640, 480], "budget_bytes": 3 * GiB, "devices": 1,
        "rule": "sequential_cpu_offload", "overridden_by": "autopipe-x", "component_dtypes": {"vae": "float32"}, "skipped_components": ["a", "b"],
        "extra_keywords": {"y": [1, "z"]},
        "components": {
            "unet": {"bytes": 2 * GiB, "parameters": GiB, "dtype": "float16", "source": "headers"},
            "mystery": {"bytes": None, "parameters": None, "dtype": "float32", "source": "a pickle"},
        },
        "unknown_components": ["mystery"], "max_memory": None, "device_map": None, "reason": "why so",
    }


# --- single-file checkpoints: bytes per component from the header's key prefixes -------------------------------------

#: A made-up single file: (dtype, shape) per tensor name. Two UNet tensors share a dtype and shape (counted twice).
SINGLE = {
    "model.diffusion_model.a.weight": ("F32", (4, 4)),
    "model.diffusion_model.in.weight": ("F32", (4, 4)),
    "model.diffusion_model.out.weight": ("F32", (2, 3)),
    "model.diffusion_model.out.bias": ("F32", (3,)),
    "first_stage_model.w": ("F16", (2, 2)),
    "cond_stage_model.ids": ("I64", (5,)),
    "model_ema.x": ("F32", (10,)),
}
HALF = LoadPlan("float16", None, "device", "cuda", "test", component_dtypes={"vae": "float32"})


def _single(path, prefixes=None):
    from autopipe_core.headers import write_header
    from autopipe_core.specs import Detection

    path.parent.mkdir(parents=True, exist_ok=True)
    write_header(path, SINGLE)
    detection = None if prefixes is None else Detection("stable-diffusion", "sd1", 1.0, "test", "diffusers:StableDiffusionPipeline", prefixes=prefixes)
    return Identity("file", str(path), "StableDiffusionPipeline", {}, {}, (path.name,), (), detection)


def test_a_single_file_counts_each_component_under_its_prefix_in_its_own_dtype(tmp_path):
    import torch

    from autopipe_core.planning import file_footprint, footprint

    prefixes = {"text_encoder": "cond_stage_model.", "controlnet": "control_model.", "missing": "conditioner.",
                "unet": "model.diffusion_model.", "vae": "first_stage_model."}
    identity = _single(tmp_path / "in" / "ckpt.safetensors", prefixes)
    plan = replace_plan(component_dtypes={"vae": "float32"}, skip={"text_encoder"})
    controlnet = torch.nn.Linear(2, 3)  # 9 float32 parameters, as they are
    expected = Footprint((
        ComponentBytes("missing", None, None, "float16", "unknown: the file has no conditioner.* tensors; pass missing= when loading"),
        ComponentBytes("unet", 2 * 41, 41, "float16", "the file's header (model.diffusion_model.*)", ("ckpt.safetensors",)),
        ComponentBytes("vae", 16, 4, "float32", "the file's header (first_stage_model.*)", ("ckpt.safetensors",)),
        ComponentBytes("controlnet", 36, 9, "float32", "the object passed in, as it is (passed components are not cast)"),
    ))
    assert file_footprint(identity, plan, {"controlnet": controlnet, "prompt": "not a model"}) == expected
    assert footprint(identity, plan, {"controlnet": controlnet}) == expected
    skipped_last = replace_plan(skip={"vae", "missing"})
    assert [c.name for c in file_footprint(identity, skipped_last).components] == ["text_encoder", "controlnet", "unet"]
    assert file_footprint(identity, skipped_last).components[0] == ComponentBytes(
        "text_encoder", 40, 5, "float16", "the file's header (cond_stage_model.*)", ("ckpt.safetensors",))  # integers keep their size


def test_a_tensor_counts_for_the_longest_prefix_it_starts_with_and_the_first_among_equal_ones(tmp_path):
    from autopipe_core.planning import file_footprint

    prefixes = {"all": "", "unet": "model.diffusion_model.", "out": "model.diffusion_model.out.", "vae": "first_stage_model.",
                "vae_again": "first_stage_model."}
    identity = _single(tmp_path / "ckpt.safetensors", prefixes)
    where = ("ckpt.safetensors",)
    assert file_footprint(identity, PLAN).components == (
        ComponentBytes("all", 40 + 20, 15, "float16", "the file's header (*)", where),  # the I64 ids and the EMA copy
        ComponentBytes("unet", 64, 32, "float16", "the file's header (model.diffusion_model.*)", where),
        ComponentBytes("out", 18, 9, "float16", "the file's header (model.diffusion_model.out.*)", where),
        ComponentBytes("vae", 8, 4, "float16", "the file's header (first_stage_model.*)", where),
        ComponentBytes("vae_again", None, None, "float16", "unknown: the file has no first_stage_model.* tensors; pass vae_again= when loading"),
    )


def test_a_single_file_without_prefixes_is_one_component_of_the_whole_header(tmp_path):
    from autopipe_core.planning import file_footprint
    from autopipe_core.specs import Detection

    identity = _single(tmp_path / "whole.safetensors")
    whole = ComponentBytes("checkpoint", 2 * 41 + 2 * 4 + 40 + 2 * 10, 41 + 4 + 5 + 10, "float16",
                           "the whole file's header (no per-component prefixes from the plugin)", ("whole.safetensors",))
    assert file_footprint(identity, HALF) == Footprint((whole,))  # the plan's dtype: no component is named here
    bare = replace(identity, detection=Detection("stable-diffusion", "sd1", 1.0, "test", "diffusers:StableDiffusionPipeline"))
    assert file_footprint(bare, replace_plan(dtype="float32")) == Footprint((replace(whole, nbytes=4 * 55 + 40, dtype="float32"),))


def test_a_header_already_read_is_taken_for_its_own_file_only(tmp_path):
    from autopipe_core.headers import read_header
    from autopipe_core.planning import file_footprint, header_known

    first = _single(tmp_path / "first.safetensors")
    second = _single(tmp_path / "second.safetensors")
    header = read_header(first.reference)
    (tmp_path / "first.safetensors").unlink()  # from here on only the header read before knows the first file
    with header_known(header):
        assert file_footprint(first, PLAN).components[0].nbytes == 2 * 55 + 40
        assert file_footprint(second, PLAN).components[0].files == ("second.safetensors",)  # another file: read itself
    assert file_footprint(first, PLAN, header=header).components[0].parameters == 60
    with pytest.raises(OSError):
        file_footprint(first, PLAN)  # outside the block the file is read again, and it is gone


def test_a_pickle_single_file_is_counted_only_when_the_caller_opts_in(tmp_path):
    import torch

    from autopipe_core.errors import UnsafeCheckpointError
    from autopipe_core.planning import file_footprint
    from autopipe_core.specs import Detection

    path = tmp_path / "old.ckpt"
    torch.save({"state_dict": {"model.diffusion_model.w": torch.zeros(2, 3), "first_stage_model.b": torch.zeros(4, dtype=torch.float16)}}, path)
    detection = Detection("stable-diffusion", "sd1", 1.0, "test", "diffusers:StableDiffusionPipeline", prefixes={"unet": "model.diffusion_model."})
    identity = Identity("file", str(path), "StableDiffusionPipeline", {}, {}, (path.name,), (), detection)
    with pytest.raises(UnsafeCheckpointError, match="does not open it unless you opt in"):
        file_footprint(identity, PLAN)
    assert file_footprint(identity, PLAN, allow_pickle=True).components == (
        ComponentBytes("unet", 12, 6, "float16", "the file's header (model.diffusion_model.*)", ("old.ckpt",)),
    )


# --- components passed as objects, and components counted again with float32 modules ---------------------------------


def test_a_component_passed_as_an_object_counts_as_it_is():
    import torch

    from autopipe_core.planning import live_bytes

    half, full = torch.nn.Linear(2, 3).half(), torch.nn.Linear(4, 1)  # 9 parameters in float16, 5 in float32
    source = "the object passed in, as it is (passed components are not cast)"
    assert live_bytes("controlnet", half) == ComponentBytes("controlnet", 18, 9, "float16", source)
    assert live_bytes("controlnet", (half, half)) == ComponentBytes("controlnet", 36, 18, "float16", source)
    assert live_bytes("controlnet", [half, full]) == ComponentBytes("controlnet", 18 + 20, 14, "mixed", source)
    for not_models in ([], (), object(), "text", [half, "text"], None):
        assert live_bytes("controlnet", not_models) is None


def _t5_folder(root, wo_shape=(4, 4)):
    from autopipe_core.headers import write_header

    (root / "text_encoder").mkdir(parents=True, exist_ok=True)
    write_header(root / "text_encoder" / "model.safetensors", {
        "encoder.block.0.layer.1.DenseReluDense.wo.weight": ("F32", wo_shape),
        "encoder.block.0.layer.1.DenseReluDense.wi.weight": ("F32", (4, 2)),
        "shared.weight": ("F32", (3, 2)),
    })
    return Identity("folder", str(root), "C", {"text_encoder": ("transformers", "T5EncoderModel")})


def test_recount_keeps_the_named_modules_in_float32_from_the_headers(tmp_path):
    from autopipe_core.planning import count_folder, recount

    identity = _t5_folder(tmp_path)
    (counted,) = count_folder(tmp_path, PLAN, ["text_encoder"])
    assert counted == ComponentBytes("text_encoder", 60, 30, "float16", "safetensors headers", ("text_encoder/model.safetensors",))
    assert recount(identity, counted, ["wo"]) == replace(counted, nbytes=16 * 4 + 14 * 2, source="safetensors headers; wo kept in float32")
    assert recount(identity, counted, ["wo", "shared"]).source == "safetensors headers; shared, wo kept in float32"
    _t5_folder(tmp_path, wo_shape=(8, 4))  # the file replaced since it was counted: the figures are the headers' now
    assert recount(identity, counted, ["wo"]) == replace(counted, nbytes=32 * 4 + 14 * 2, parameters=46, source="safetensors headers; wo kept in float32")


def test_recount_leaves_alone_what_it_cannot_read_again(tmp_path, monkeypatch):
    import huggingface_hub

    from autopipe_core.planning import count_folder, recount

    identity = _t5_folder(tmp_path)
    (tmp_path / "text_encoder" / "model.safetensors").rename(tmp_path / "text_encoder" / "pytorch_model.bin")
    (pickled,) = count_folder(tmp_path, PLAN, ["text_encoder"])
    assert pickled.source.startswith("estimated from the size of pickle weights") and pickled.files == ("text_encoder/pytorch_model.bin",)
    assert recount(identity, pickled, ["wo"]) is pickled
    no_files = ComponentBytes("text_encoder", 60, 30, "float16", "safetensors headers")
    unknown = ComponentBytes("text_encoder", None, None, "float16", "safetensors headers", ("text_encoder/model.safetensors",))
    assert recount(identity, no_files, ["wo"]) is no_files and recount(identity, unknown, ["wo"]) is unknown
    asked = []
    monkeypatch.setattr(huggingface_hub, "parse_safetensors_file_metadata", lambda *a, **k: asked.append((a, k)))
    counted = ComponentBytes("text_encoder", 60, 30, "float16", "safetensors headers", ("text_encoder/model.safetensors",))
    for origin in ("file", "pipeline"):
        assert recount(Identity(origin, str(tmp_path), "C"), counted, ["wo"]) is counted
    assert asked == []


def test_recount_reads_a_hub_repos_headers_at_the_callers_revision_with_their_token(monkeypatch):
    from types import SimpleNamespace

    import huggingface_hub

    from autopipe_core.planning import recount

    asked = []

    def metadata(repo_id, filename, revision=None, token=None):
        asked.append((repo_id, filename, revision, token))
        return SimpleNamespace(tensors={"a.wo.weight": SimpleNamespace(dtype="F32", shape=[4, 4]), "a.wi.weight": SimpleNamespace(dtype="F32", shape=[2])})

    monkeypatch.setattr(huggingface_hub, "parse_safetensors_file_metadata", metadata)
    counted = ComponentBytes("text_encoder", 36, 18, "float16", "safetensors headers", ("text_encoder/model-1.safetensors", "text_encoder/model-2.safetensors"))
    hub = Identity("hub", "org/t5", "C")
    assert recount(hub, counted, ["wo"], {"revision": "abc", "token": "secret"}) == replace(
        counted, nbytes=2 * (64 + 4), parameters=36, source="safetensors headers; wo kept in float32")
    assert asked == [("org/t5", "text_encoder/model-1.safetensors", "abc", "secret"), ("org/t5", "text_encoder/model-2.safetensors", "abc", "secret")]
    asked.clear()
    recount(hub, counted, ["wo"])
    assert [a[2:] for a in asked] == [(None, None), (None, None)]


# --- a component's bytes from its folder: each kind of weight file, and each reason a figure is missing -------------


def test_a_components_weights_each_way_they_can_be_stored(tmp_path):
    from autopipe_core.headers import write_header
    from autopipe_core.planning import count_component, file_sizes, folder_reader

    (tmp_path / "te").mkdir()
    write_header(tmp_path / "te" / "model.safetensors", {"a.wo.weight": ("F32", (2, 2)), "a.wi.weight": ("F32", (3,))})
    read, size_of = folder_reader(tmp_path), file_sizes(tmp_path)
    files = ("te/model.safetensors", "te/config.json")
    assert count_component("te", files, None, "float16", read, size_of) == ComponentBytes("te", 14, 7, "float16", "safetensors headers", ("te/model.safetensors",))
    assert count_component("te", files, "fp16", "float16", read, keep_float32=["wo"], label="prior_te") == ComponentBytes(
        "prior_te", 16 + 6, 7, "float16", "safetensors headers (no fp16 files: the plain ones)", ("te/model.safetensors",))
    assert count_component("te", ("te/config.json", "other/model.safetensors"), None, "float16", read) is None  # no weights: a tokenizer, a scheduler

    (tmp_path / "u").mkdir()
    for name, size in (("u/diffusion_pytorch_model.fp16-00001-of-00002.bin", 100), ("u/diffusion_pytorch_model.fp16-00002-of-00002.bin", 60), ("u/diffusion_pytorch_model.bin", 400)):
        (tmp_path / name).write_bytes(b"\0" * size)
    shards = ("u/diffusion_pytorch_model.fp16-00001-of-00002.bin", "u/diffusion_pytorch_model.fp16-00002-of-00002.bin")
    pickles = (*shards, "u/diffusion_pytorch_model.bin")
    assert count_component("u", pickles, "fp16", "float32", read, size_of) == ComponentBytes(
        "u", 320, 80, "float32", "estimated from the size of pickle weights (.bin, not opened; assumed 16-bit)", shards)
    assert count_component("u", pickles, None, "float16", read, size_of) == ComponentBytes(
        "u", 200, 100, "float16", "estimated from the size of pickle weights (.bin, not opened; assumed 32-bit)", ("u/diffusion_pytorch_model.bin",))
    assert count_component("u", pickles, "bf16", "bfloat16", read, size_of).source.endswith("assumed 32-bit)")  # no bf16 files: the plain ones
    (tmp_path / "u" / "diffusion_pytorch_model.bf16.bin").write_bytes(b"\0" * 30)
    assert count_component("u", (*pickles, "u/diffusion_pytorch_model.bf16.bin"), "bf16", "float16", read, size_of) == ComponentBytes(
        "u", 30, 15, "float16", "estimated from the size of pickle weights (.bin, not opened; assumed 16-bit)", ("u/diffusion_pytorch_model.bf16.bin",))
    assert count_component("u", pickles, None, "float16", read) == ComponentBytes(
        "u", None, None, "float16", "pickle weights (.bin) only, and their size is not known here", ("u/diffusion_pytorch_model.bin",))


def test_a_component_whose_size_cannot_be_read_says_why(tmp_path):
    from autopipe_core.planning import count_component, folder_reader

    halves = ("vae/diffusion_pytorch_model.fp16.safetensors", "vae/diffusion_pytorch_model.bf16.safetensors", "vae/config.json")
    assert count_component("vae", halves, None, "float16", folder_reader(tmp_path)) == ComponentBytes(
        "vae", None, None, "float16", "unknown: diffusers would look for its plain weight files and it has only bf16, fp16 ones")
    assert count_component("vae", halves[:1], "bf16", "bfloat16", folder_reader(tmp_path)).source == (
        "unknown: diffusers would look for its bf16 weight files and it has only fp16 ones")
    (tmp_path / "vae").mkdir()
    (tmp_path / "vae" / "diffusion_pytorch_model.safetensors").write_bytes(b"\x10\0\0\0\0\0\0\0{}")  # a header cut short
    cut = count_component("vae", ("vae/diffusion_pytorch_model.safetensors",), None, "float16", folder_reader(tmp_path))
    assert (cut.nbytes, cut.parameters, cut.files) == (None, None, ("vae/diffusion_pytorch_model.safetensors",)) and cut.source.startswith("unreadable: ")
    assert str(tmp_path / "vae" / "diffusion_pytorch_model.safetensors") in cut.source

    def offline(relpath):
        raise ConnectionError(f"no network for {relpath}")

    assert count_component("vae", ("vae/diffusion_pytorch_model-00001-of-00002.safetensors", "vae/diffusion_pytorch_model-00002-of-00002.safetensors"), None, "float16", offline) == ComponentBytes(
        "vae", None, None, "float16", "could not read the header of vae/diffusion_pytorch_model-00001-of-00002.safetensors: ConnectionError: no network for vae/diffusion_pytorch_model-00001-of-00002.safetensors",
        ("vae/diffusion_pytorch_model-00001-of-00002.safetensors", "vae/diffusion_pytorch_model-00002-of-00002.safetensors"))


def test_a_pipeline_folder_is_listed_two_levels_down_without_hidden_files(tmp_path):
    from autopipe_core.planning import list_folder

    for name in ("model_index.json", "unet/config.json", "unet/sub/deeper.json", "unet/sub/deeper/deepest.json", ".cache/x", "unet/.hidden",
                 "text_encoder/model.safetensors"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("{}")
    (tmp_path / "empty").mkdir()
    assert list_folder(tmp_path) == ("model_index.json", "text_encoder/model.safetensors", "unet/config.json", "unet/sub/deeper.json")
    assert list_folder(str(tmp_path)) == list_folder(tmp_path)


def _folder(root):
    """A pipeline folder: a UNet in fp16 and plain files, a VAE config without weights, a tokenizer, a safety checker, and
    components model_index.json names without a class (not loaded)."""
    from autopipe_core.headers import write_header

    for name, tensors in (("unet/diffusion_pytorch_model.safetensors", {"w": ("F32", (4, 4))}), ("unet/diffusion_pytorch_model.fp16.safetensors", {"w": ("F16", (4, 4))}),
                          ("text_encoder/model.safetensors", {"w": ("F32", (2, 5))}), ("safety_checker/model.safetensors", {"w": ("F32", (3,))}),
                          ("image_encoder/model.safetensors", {"w": ("F32", (7,))})):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        write_header(root / name, tensors)
    for name in ("unet/config.json", "vae/config.json", "tokenizer/vocab.json", "scheduler/scheduler_config.json"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("{}")
    components = {"unet": ("diffusers", "UNet2DConditionModel"), "vae": ("diffusers", "AutoencoderKL"), "text_encoder": ("transformers", "CLIPTextModel"),
                  "tokenizer": ("transformers", "CLIPTokenizer"), "scheduler": ("diffusers", "PNDMScheduler"),
                  "safety_checker": ("stable_diffusion", "StableDiffusionSafetyChecker"), "feature_extractor": (None, None),
                  "image_encoder": ("transformers", None)}  # a library without a class: not loaded, so not counted
    return Identity("folder", str(root), "StableDiffusionPipeline", components)


def test_a_folders_footprint_counts_what_will_load_and_nothing_else(tmp_path):
    import torch

    from autopipe_core.planning import footprint

    identity = _folder(tmp_path)
    plan = replace_plan(variant="fp16", component_dtypes={"text_encoder": "float32"}, skip={"safety_checker"})
    controlnet = torch.nn.Linear(1, 1)
    assert footprint(identity, plan, {"text_encoder": torch.nn.Linear(2, 2).half(), "controlnet": controlnet, "prompt": "x"}) == Footprint((
        ComponentBytes("unet", 32, 16, "float16", "safetensors headers", ("unet/diffusion_pytorch_model.fp16.safetensors",)),
        ComponentBytes("vae", None, None, "float16", "unknown: vae/ has a config.json but no weight files (an incomplete download?)"),
        ComponentBytes("text_encoder", 12, 6, "float16", "the object passed in, as it is (passed components are not cast)"),
        ComponentBytes("controlnet", 8, 2, "float32", "the object passed in, as it is (passed components are not cast)"),
    ))
    counted = footprint(identity, replace_plan(component_dtypes={"text_encoder": "float32"}), {"safety_checker": "not a model"})
    assert [(c.name, c.nbytes, c.source) for c in counted.components] == [
        ("unet", 32, "safetensors headers"), ("vae", None, counted.components[1].source), ("text_encoder", 40, "safetensors headers"),
    ]  # a passed value that is no model is not counted, and the component is not counted from its files either
    assert counted.components[2].dtype == "float32" and counted.components[0].files == ("unet/diffusion_pytorch_model.safetensors",)


def test_a_checkpoint_whose_files_cannot_be_listed_has_its_models_unknown(tmp_path):
    from autopipe_core.planning import footprint

    identity = replace(_folder(tmp_path), origin="hub", reference="org/sd", files=None)
    unknown = "unknown: the checkpoint's files could not be listed (offline, or not a folder)"
    assert footprint(identity, replace_plan(skip={"vae"})) == Footprint(tuple(
        ComponentBytes(name, None, None, "float16", unknown) for name in ("unet", "text_encoder", "safety_checker")))
    pipeline = replace(_folder(tmp_path), origin="pipeline", files=("unet/diffusion_pytorch_model.safetensors", "tokenizer/vocab.json"))
    assert footprint(pipeline, PLAN) == Footprint((ComponentBytes("unet", None, None, "float16", unknown),))  # only models with files there


def test_a_hub_repo_is_counted_from_its_file_list_and_headers_at_the_callers_revision(tmp_path, monkeypatch):
    from types import SimpleNamespace

    import huggingface_hub

    from autopipe_core.planning import count_hub, footprint

    files = ("model_index.json", "prior/diffusion_pytorch_model.safetensors", "prior/diffusion_pytorch_model.fp16.safetensors", "text_encoder/model.safetensors", "tokenizer/vocab.json")
    asked = []

    def metadata(repo_id, filename, revision=None, token=None):
        asked.append((repo_id, filename, revision, token))
        return SimpleNamespace(tensors={"w": SimpleNamespace(dtype="F16" if "fp16" in filename else "F32", shape=[2, 4])})

    monkeypatch.setattr(huggingface_hub, "list_repo_files", lambda repo_id, revision=None, token=None: asked.append((repo_id, revision, token)) or files)
    monkeypatch.setattr(huggingface_hub, "parse_safetensors_file_metadata", metadata)
    plan = replace_plan(variant="fp16", component_dtypes={"prior_text_encoder": "float32"})
    assert count_hub("org/prior", plan, ["prior", "text_encoder", "tokenizer"], "prior_", "v1", "tok") == [
        ComponentBytes("prior_prior", 16, 8, "float16", "safetensors headers", ("prior/diffusion_pytorch_model.fp16.safetensors",)),
        ComponentBytes("prior_text_encoder", 32, 8, "float32", "safetensors headers (no fp16 files: the plain ones)", ("text_encoder/model.safetensors",)),
    ]
    assert asked == [("org/prior", "v1", "tok"), ("org/prior", "prior/diffusion_pytorch_model.fp16.safetensors", "v1", "tok"), ("org/prior", "text_encoder/model.safetensors", "v1", "tok")]
    asked.clear()
    hub = Identity("hub", "org/sd", "C", {"prior": ("diffusers", "PriorTransformer"), "tokenizer": ("transformers", "CLIPTokenizer")}, files=files)
    assert footprint(hub, PLAN, hub={"revision": "v2", "token": "t2"}).components == (
        ComponentBytes("prior", 16, 8, "float16", "safetensors headers", ("prior/diffusion_pytorch_model.safetensors",)),)
    assert asked == [("org/sd", "prior/diffusion_pytorch_model.safetensors", "v2", "t2")]
    assert [c.name for c in count_hub("org/prior", PLAN, ["text_encoder"])] == ["text_encoder"]  # no prefix unless asked


def test_count_folder_names_each_component_with_the_prefix(tmp_path):
    from autopipe_core.planning import count_folder

    _folder(tmp_path)
    plan = replace_plan(variant="fp16", component_dtypes={"prior_text_encoder": "float32"})
    assert count_folder(tmp_path, plan, ["unet", "tokenizer", "text_encoder"], label_prefix="prior_") == [
        ComponentBytes("prior_unet", 32, 16, "float16", "safetensors headers", ("unet/diffusion_pytorch_model.fp16.safetensors",)),
        ComponentBytes("prior_text_encoder", 40, 10, "float32", "safetensors headers (no fp16 files: the plain ones)", ("text_encoder/model.safetensors",)),
    ]
    assert [c.name for c in count_folder(str(tmp_path), PLAN, ["text_encoder"])] == ["text_encoder"]


# --- the whole plan of a resolved checkpoint ---------------------------------------------------------------------


def test_a_placement_the_caller_forces_is_checked_applied_and_said(tiny_sd):
    from autopipe_core import PlacementError, resolve
    from autopipe_core.planning import plan

    resolution = resolve(tiny_sd, "text2img")
    with pytest.raises(PlacementError) as info:
        plan(resolution, _cuda(8 * GiB), force="gpu")
    assert str(info.value) == "placement 'gpu' is not one of auto, device, balanced, model_cpu_offload, sequential_cpu_offload"
    auto = plan(resolution, _cuda(8 * GiB))
    assert (auto.rule, auto.plan.placement, auto.overridden_by, auto.budget, auto.devices) == ("device", "device", None, 8 * GiB, 1)
    assert plan(resolution, _cuda(8 * GiB), force="auto") == auto == plan(resolution, _cuda(8 * GiB), force="device")
    forced = plan(resolution, _cuda(8 * GiB), force="sequential_cpu_offload")
    assert (forced.rule, forced.plan.placement, forced.footprint) == ("device", "sequential_cpu_offload", auto.footprint)
    assert forced.plan.reason == f"placement 'sequential_cpu_offload' as the caller asked (the rules said device); {auto.plan.reason}"
    assert plan(resolution, _cuda(8 * GiB), device_name="cuda:1").plan == replace(auto.plan, device="cuda:1")
    on_total = plan(resolution, DeviceFacts("cuda", 3, None, 6 * GiB, True))
    assert (on_total.budget, on_total.devices) == (6 * GiB, 3)
    cpu = plan(resolution, DeviceFacts("cpu", 4, GiB, GiB))
    assert (cpu.budget, cpu.devices, cpu.plan.dtype, cpu.plan.device) == (GiB, 0, "float32", "cpu")


def test_balanced_keeps_its_device_map_only_while_it_is_the_placement(tiny_sd):
    from autopipe_core import resolve
    from autopipe_core.planning import plan

    resolution = resolve(tiny_sd, "text2img")
    fp = plan(resolution, _cuda(8 * GiB)).footprint
    budget = fp.weights + fp.activation.nbytes - 1  # one byte short on one GPU; every component finds room on two
    balanced = plan(resolution, _cuda(budget, count=2))
    assert (balanced.rule, balanced.plan.placement, balanced.devices) == ("balanced", "balanced", 2)
    assert dict(balanced.max_memory) == {0: fp.weights - 1, 1: fp.weights - 1}
    assert set(balanced.device_map) == {c.name for c in fp.components} and set(balanced.device_map.values()) == {0, 1}
    offloaded = plan(resolution, _cuda(budget, count=2), force="model_cpu_offload")
    assert (offloaded.rule, offloaded.plan.placement, offloaded.max_memory, offloaded.device_map) == ("balanced", "model_cpu_offload", None, None)


def test_the_callers_keywords_reach_the_count(tiny_sd):
    import torch

    from autopipe_core import resolve
    from autopipe_core.planning import plan

    resolution = resolve(tiny_sd, "text2img")
    auto = plan(resolution, _cuda(8 * GiB))
    sizes = {c.name: c.nbytes for c in auto.footprint.components}
    asked = plan(resolution, _cuda(8 * GiB), kwargs={"variant": "fp16"})  # the caller's variant stands, whatever the files
    assert asked.plan.variant == "fp16" and asked.plan.reason.startswith("variant='fp16' as the caller asked; ")
    assert {c.source for c in asked.footprint.components} == {"safetensors headers (no fp16 files: the plain ones)"}
    mine = plan(resolution, _cuda(8 * GiB), kwargs={"text_encoder": torch.nn.Linear(2, 2), "controlnet": torch.nn.Linear(1, 1), "safety_checker": None,
                                                    "guidance": "not a model"})
    counted = {c.name: (c.nbytes, c.source.split(" (")[0]) for c in mine.footprint.components}
    assert counted == {"unet": (sizes["unet"], "safetensors headers"), "vae": (sizes["vae"], "safetensors headers"),
                       "text_encoder": (24, "the object passed in, as it is"), "controlnet": (8, "the object passed in, as it is")}
    assert "vae" not in {c.name for c in plan(resolution, _cuda(8 * GiB), kwargs={"vae": None}).footprint.components}  # None: not loaded
    bare = plan(replace(resolution, identity=None), _cuda(8 * GiB))  # a resolution made without its identity: nothing to count
    assert (bare.footprint.components, bare.plan.placement, bare.rule) == ((), "device", "device")
    wide = plan(resolution, _cuda(8 * GiB), width=768, height=384).footprint.activation
    assert (wide.width, wide.height) == (768, 384) and wide.nbytes == GiB // 2 + GiB * 768 * 384 // (512 * 512)


def test_the_callers_keywords_at_their_edges():
    import torch

    both = user_plan(PLAN, {"dtype": torch.float16, "torch_dtype": torch.float32})  # diffusers' newer name wins
    assert both.dtype == "float16" and both.reason == "dtype=torch.float16, torch_dtype=torch.float32 as the caller asked; the family's"
    assert user_plan(PLAN, {"torch_dtype": {"default": "int8", "unet": "bfloat16"}}).dtype == "float32"  # no default of ours: float32
    assert user_plan(PLAN, {"torch_dtype": {"default": torch.bfloat16}}).dtype == "bfloat16"
    assert dict(user_plan(PLAN, {"torch_dtype": {"default": "int8", "unet": "bfloat16"}}).component_dtypes) == {"unet": "bfloat16"}
    assert user_plan(PLAN, {"variant": None}).reason == "variant=None as the caller asked; the family's"
    skipping = replace_plan(skip={"text_encoder", "safety_checker"}, extra={"use_safetensors": True, "low_cpu_mem_usage": False})
    only_extra = user_plan(skipping, {"use_safetensors": False})
    assert only_extra.skip == skipping.skip and dict(only_extra.extra) == {"low_cpu_mem_usage": False}
    only_skip = user_plan(skipping, {"safety_checker": None})
    assert only_skip.skip == {"text_encoder"} and dict(only_skip.extra) == dict(skipping.extra)


def test_fit_variant_prefers_fp16_then_bf16_then_any_tag_the_files_have():
    components = {"unet": ("d", "U"), "vae": ("d", "V")}
    both = Identity("hub", "org/m", "C", components=components,
                    files=("unet/diffusion_pytorch_model.bf16.safetensors", "unet/diffusion_pytorch_model.fp16.safetensors", "vae/diffusion_pytorch_model.bf16.safetensors", "vae/diffusion_pytorch_model.fp16.safetensors"))
    assert fit_variant(replace_plan(variant=None), both).reason == "the family's; variant fp16: the fp16 files, as unet, vae have no other weights"
    assert fit_variant(replace_plan(variant="bf16"), both).variant == "bf16"  # the plan's own choice loads: kept
    ema = Identity("folder", "/m", "C", components=components, files=("unet/diffusion_pytorch_model.ema.safetensors", "vae/diffusion_pytorch_model.safetensors", "vae/diffusion_pytorch_model.ema.bin"))
    assert fit_variant(replace_plan(variant="fp16"), ema).reason == "the family's; variant ema: the ema files, as unet has no other weights"
    assert fit_variant(replace_plan(variant="fp16"), replace(ema, files=("vae/diffusion_pytorch_model.safetensors", "tokenizer/vocab.json"))).variant == "fp16"  # nothing to fix


def test_the_rules_at_the_edges_of_balanced():
    just = choose(_fp(GiB, unet=GiB, vae=GiB), _cuda(GiB + 1, count=2))  # 1 byte left per GPU: not enough for either
    assert just.placement == "sequential_cpu_offload"
    none_left = choose(_fp(GiB, unet=GiB), _cuda(GiB, count=2))  # the activations take all of it
    assert none_left.placement == "sequential_cpu_offload" and "spread" not in none_left.reason
    empty = choose(Footprint((ComponentBytes("unet", 2 * GiB, 1, "float16", "h"), ComponentBytes("vae", 2 * GiB, 1, "float16", "h"),
                              ComponentBytes("empty", 0, 0, "float16", "h")), Activation(GiB, 8, 8, "a")), _cuda(3 * GiB, count=2))
    assert empty.placement == "balanced" and dict(empty.device_map) == {"unet": 0, "vae": 1}  # nothing to place for a weightless one
    assert choose(_fp(GiB, unet=2 * GiB, vae=GiB), _cuda(3 * GiB, count=1)).placement == "model_cpu_offload"
    assert choose(_fp(GiB, unet=2 * GiB, vae=GiB), _cuda(3 * GiB, count=0)).placement == "model_cpu_offload"


def test_pickle_weights_in_a_folder_are_sized_from_the_files_and_on_the_hub_are_unknown(tmp_path, monkeypatch):
    from types import SimpleNamespace

    import huggingface_hub

    from autopipe_core.planning import footprint

    (tmp_path / "unet").mkdir()
    (tmp_path / "unet" / "diffusion_pytorch_model.bin").write_bytes(b"\0" * 400)
    components = {"unet": ("diffusers", "UNet2DConditionModel")}
    assert footprint(Identity("folder", str(tmp_path), "C", components), PLAN).components == (ComponentBytes(
        "unet", 200, 100, "float16", "estimated from the size of pickle weights (.bin, not opened; assumed 32-bit)", ("unet/diffusion_pytorch_model.bin",)),)
    monkeypatch.setattr(huggingface_hub, "parse_safetensors_file_metadata", lambda *a, **k: SimpleNamespace(tensors={}))
    hub = Identity("hub", "org/old", "C", components, files=("unet/diffusion_pytorch_model.bin",))
    assert footprint(hub, PLAN).components == (ComponentBytes(
        "unet", None, None, "float16", "pickle weights (.bin) only, and their size is not known here", ("unet/diffusion_pytorch_model.bin",)),)


def test_a_pickle_single_files_footprint_needs_the_callers_opt_in(tmp_path):
    import torch

    from autopipe_core.errors import UnsafeCheckpointError
    from autopipe_core.planning import footprint

    path = tmp_path / "old.ckpt"
    torch.save({"model.diffusion_model.w": torch.zeros(3)}, path)
    identity = Identity("file", str(path), "StableDiffusionPipeline", {}, {}, (path.name,))
    with pytest.raises(UnsafeCheckpointError):
        footprint(identity, PLAN)
    assert footprint(identity, PLAN, allow_pickle=True).components[0].parameters == 3
