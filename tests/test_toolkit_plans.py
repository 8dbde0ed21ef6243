"""autopipe_core.toolkit.plans: the half-precision plan on made-up devices and file lists, the core's default plan, and
plans that leave components out or add keywords (LoadPlan.skip / extra) as far as from_pretrained's keywords and the
planner's counting."""

from __future__ import annotations

import dataclasses
import json
import types

import pytest
import torch
from layouts import install_plugins, write_model_index

from autopipe_core import DeviceFacts, GiB, Identity, LoadPlan, resolve
from autopipe_core import loading, planning
from autopipe_core.toolkit.plans import CPU_REASON, half_precision_plan, leave_out, weight_files

CPU = DeviceFacts("cpu")
CUDA = DeviceFacts("cuda", 1, 20 * GiB, 24 * GiB, True)  # an Ampere-class GPU: bfloat16
OLD_CUDA = DeviceFacts("cuda", 1, 20 * GiB, 24 * GiB, False)  # a Turing-class one: no bfloat16
MPS = DeviceFacts("mps", 1)

PLAIN = ("model_index.json", "unet/diffusion_pytorch_model.safetensors", "vae/diffusion_pytorch_model.safetensors", "unet/config.json")
FP16_TOO = (*PLAIN, "unet/diffusion_pytorch_model.fp16.safetensors", "vae/diffusion_pytorch_model.fp16.safetensors")
BF16_TOO = (*PLAIN, "unet/diffusion_pytorch_model.bf16.safetensors", "vae/diffusion_pytorch_model.bf16.safetensors")
#: Saved only as bf16 files (a FLUX-style upload): diffusers needs variant="bf16" whatever the dtype.
BF16_ONLY = (
    "model_index.json", "unet/diffusion_pytorch_model.bf16.safetensors", "vae/diffusion_pytorch_model.bf16.safetensors",
    "text_encoder/model.bf16-00001-of-00002.safetensors", "text_encoder/model.bf16-00002-of-00002.safetensors", "tokenizer/vocab.json",
)


def _identity(files):
    return Identity("folder", "x", "SomePipeline", files=files)


def test_a_cpu_gets_float32_from_the_plain_files_even_beside_half_precision_ones():
    for files in (PLAIN, FP16_TOO, BF16_TOO, None):
        p = half_precision_plan(_identity(files), CPU)
        assert (p.dtype, p.variant, p.placement, p.device, p.reason) == ("float32", None, "device", "cpu", CPU_REASON)


def test_an_accelerator_gets_float16_from_its_fp16_files_where_it_has_them():
    p = half_precision_plan(_identity(FP16_TOO), CUDA)
    assert (p.dtype, p.variant, p.placement, p.device) == ("float16", "fp16", "device", "cuda")
    assert p.reason == "float16 from its fp16 weight files"
    mps = half_precision_plan(_identity(FP16_TOO), MPS)
    assert (mps.dtype, mps.variant, mps.device) == ("float16", "fp16", "mps")


def test_without_fp16_files_float16_comes_from_the_full_files_and_the_reason_says_so():
    assert half_precision_plan(_identity(PLAIN), CUDA).reason == "float16 from its full-precision files (no fp16 variant found)"
    beside_bf16 = half_precision_plan(_identity(BF16_TOO), CUDA)  # bf16 rounds away mantissa float16 keeps: the full files
    assert (beside_bf16.dtype, beside_bf16.variant) == ("float16", None)
    unknown = half_precision_plan(_identity(None), CUDA)
    assert (unknown.variant, unknown.reason) == (None, "float16 from its default files (file list unknown)")


def test_bfloat16_where_the_family_prefers_it_and_the_device_has_it():
    p = half_precision_plan(_identity(BF16_TOO), CUDA, prefer="bfloat16")
    assert (p.dtype, p.variant, p.reason) == ("bfloat16", "bf16", "bfloat16 from its bf16 weight files")
    old = half_precision_plan(_identity(BF16_TOO), OLD_CUDA, prefer="bfloat16")
    assert (old.dtype, old.variant) == ("float16", None) and "cuda has no bfloat16" in old.reason
    assert half_precision_plan(_identity(FP16_TOO), OLD_CUDA, prefer="bfloat16").variant == "fp16"
    assert half_precision_plan(_identity(FP16_TOO), MPS, prefer="bfloat16").dtype == "float16"  # DeviceFacts says no bf16
    fp16_files = half_precision_plan(_identity(FP16_TOO), CUDA, prefer="bfloat16")
    assert (fp16_files.dtype, fp16_files.variant) == ("bfloat16", None) and "no bf16 variant found" in fp16_files.reason


def test_a_checkpoint_saved_only_as_bf16_files_loads_them_and_the_reason_names_the_folders():
    for device in (CUDA, OLD_CUDA, MPS):
        p = half_precision_plan(_identity(BF16_ONLY), device)
        assert (p.dtype, p.variant) == ("float16", "bf16"), device
        assert p.reason == "float16 from its bf16 weight files (text_encoder, unet, vae have no others)"
    assert half_precision_plan(_identity(BF16_ONLY), CUDA, prefer="bfloat16").reason == "bfloat16 from its bf16 weight files"
    # one folder without plain files is enough: diffusers falls back to the plain files of the others
    mixed = ("unet/diffusion_pytorch_model.bf16.safetensors", "vae/diffusion_pytorch_model.safetensors")
    assert weight_files(_identity(mixed), "float16") == ("bf16", "its bf16 weight files (unet has no others)")
    assert weight_files(_identity(mixed), "float32") == ("bf16", "its bf16 weight files (unet has no others)")


def test_the_plan_agrees_with_the_planners_own_check_of_the_files():
    """fit_variant is what planning applies to any family's plan: the half-precision plan for an accelerator needs no
    correcting; the CPU plan keeps the plain files, and fit_variant gives a checkpoint without any the variant it has."""
    components = {name: ("diffusers", "Model") for name in ("unet", "vae", "text_encoder")}
    for files in (PLAIN, FP16_TOO, BF16_TOO, BF16_ONLY):
        identity = Identity("folder", "x", "SomePipeline", components=components, files=files)
        for device in (CUDA, OLD_CUDA):
            p = half_precision_plan(identity, device)
            assert planning.fit_variant(p, identity) == p, (files, device)
        cpu = half_precision_plan(identity, CPU)
        assert cpu.variant is None and planning.fit_variant(cpu, identity).variant == ("bf16" if files == BF16_ONLY else None)


def test_components_kept_in_float32_on_an_accelerator_only():
    p = half_precision_plan(_identity(FP16_TOO), CUDA, keep_float32={"vae": "it overflows in float16"})
    assert dict(p.component_dtypes) == {"vae": "float32"} and p.reason.endswith("; vae in float32: it overflows in float16")
    assert dict(half_precision_plan(_identity(FP16_TOO), CUDA, keep_float32=("vae",)).component_dtypes) == {"vae": "float32"}
    assert dict(half_precision_plan(_identity(FP16_TOO), CPU, keep_float32=("vae",)).component_dtypes) == {}


def test_the_cpu_sentence_is_the_familys_and_prefer_is_checked():
    assert half_precision_plan(_identity(PLAIN), CPU, on_cpu="on the CPU float32 (36 GB of RAM)").reason == "on the CPU float32 (36 GB of RAM)"
    with pytest.raises(ValueError, match="prefer must be one of float16, bfloat16"):
        half_precision_plan(_identity(PLAIN), CUDA, prefer="float8")


# --- the core's default plan ---------------------------------------------------------------------------------------

NO_LOADING_CODE = (
    "from autopipe_core import FamilySpec, PipelineRow, Task, hookimpl\n"
    "@hookimpl\ndef autopipe_families():\n    return [FamilySpec('no-loading-code')]\n"
    "@hookimpl\ndef autopipe_pipelines():\n    return [PipelineRow('no-loading-code', {Task.TEXT2IMG: 'fractions:Fraction'})]\n"
)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return install_plugins(
        tmp_path_factory.mktemp("projects"), tmp_path_factory.mktemp("site"),
        {"autopipe-no-loading-code": ("autopipe_no_loading_code", NO_LOADING_CODE, "autopipe_no_loading_code")},
    )


def test_a_family_without_loading_code_gets_half_precision_not_float32(site, monkeypatch, tmp_path):
    """Was float32 everywhere, which no family wants on a GPU (twice the memory, and slower)."""
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("AUTOPIPE_PLUGINS", "autopipe-no-loading-code")
    folder = write_model_index(tmp_path / "m", "Fraction", unet={"in_channels": 4})
    for name in ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.fp16.safetensors"):
        (folder / "unet" / name).write_bytes(b"")
    resolution = resolve(folder, "text2img")
    gpu = planning.family_plan(resolution, CUDA)
    assert (gpu.dtype, gpu.variant, gpu.placement) == ("float16", "fp16", "device")
    assert gpu.reason == "autopipe-no-loading-code gives no loading code for no-loading-code, so the core's default: float16 from its fp16 weight files"
    cpu = planning.family_plan(resolution, CPU)
    assert (cpu.dtype, cpu.variant) == ("float32", None) and cpu.reason.endswith(CPU_REASON)


# --- leaving components out, adding keywords ------------------------------------------------------------------------


def test_a_load_plan_stays_backward_compatible_and_checks_skip_and_extra():
    old = LoadPlan("float16", None, "device", "cuda", "why")  # the six fields of before
    assert old.skip == frozenset() and dict(old.extra) == {} and old == LoadPlan("float16", None, "device", "cuda", "why", {})
    p = LoadPlan("float16", None, "device", "cuda", "", skip=["text_encoder_3", "tokenizer_3"], extra={"use_safetensors": True})
    assert p.skip == frozenset({"text_encoder_3", "tokenizer_3"}) and dict(p.extra) == {"use_safetensors": True}
    with pytest.raises(TypeError):
        p.extra["low_cpu_mem_usage"] = False  # frozen, as component_dtypes
    for bad in ("text_encoder_3", [3], ["not a name"]):
        with pytest.raises(ValueError, match="skip"):
            LoadPlan("float16", None, "device", "cuda", "", skip=bad)
    for own in ("torch_dtype", "dtype", "variant", "device_map", "max_memory"):
        with pytest.raises(ValueError, match="the plan's own"):
            LoadPlan("float16", None, "device", "cuda", "", extra={own: 1})
    with pytest.raises(ValueError, match="both skipped and given"):
        LoadPlan("float16", None, "device", "cuda", "", skip={"vae"}, extra={"vae": 1})


def test_leave_out_adds_the_components_and_says_why():
    p = leave_out(half_precision_plan(_identity(PLAIN), CUDA), ["text_encoder_3", "tokenizer_3"], "T5-XXL alone is 9 GiB in float16")
    assert p.skip == {"text_encoder_3", "tokenizer_3"}
    assert p.reason.endswith("; text_encoder_3, tokenizer_3 left out: T5-XXL alone is 9 GiB in float16")
    assert leave_out(p, [], "nothing") is p


def test_skip_and_extra_reach_from_pretrained_as_keywords_and_the_callers_own_win():
    p = LoadPlan("float16", "fp16", "device", "cuda", "", skip={"text_encoder_3", "tokenizer_3"}, extra={"use_safetensors": True})
    dtype = loading.dtype_keyword()
    assert loading.load_kwargs(p, {}) == {dtype: torch.float16, "variant": "fp16", "text_encoder_3": None, "tokenizer_3": None, "use_safetensors": True}
    encoder = object()
    mine = loading.load_kwargs(p, {"text_encoder_3": encoder, "use_safetensors": False})
    assert mine["text_encoder_3"] is encoder and mine["use_safetensors"] is False and mine["tokenizer_3"] is None


def _skipping(monkeypatch, skip, extra=None):
    """The SD plugin's plan, with `skip` and `extra` (the loading code a family would write)."""
    import autopipe_sd.loading

    plain = autopipe_sd.loading.plan
    monkeypatch.setattr(autopipe_sd.loading, "plan", lambda identity, device: LoadPlan(**{
        **{f: getattr(plain(identity, device), f) for f in ("dtype", "variant", "placement", "device", "reason")}, "skip": skip, "extra": extra or {},
    }))


def test_skipped_components_are_not_counted_and_the_plan_shows_them(tiny_sd, monkeypatch):
    r = resolve(tiny_sd, "text2img")
    whole = planning.plan(r, CUDA)
    _skipping(monkeypatch, {"text_encoder"}, {"use_safetensors": True})
    placed = planning.plan(r, CUDA)
    text = whole.footprint.component("text_encoder")
    assert text is not None and text.nbytes > 0 and placed.footprint.component("text_encoder") is None
    assert placed.footprint.weights == whole.footprint.weights - text.nbytes
    assert placed.plan.skip == {"text_encoder"}
    report = placed.to_json()
    assert report["skipped_components"] == ["text_encoder"] and report["extra_keywords"] == {"use_safetensors": True}
    json.dumps(report)
    text_report = planning.format_plan(placed, str(tiny_sd), "StableDiffusionPipeline")
    assert "left out:    text_encoder (not loaded" in text_report and "keywords:    use_safetensors=True" in text_report
    assert "left out" not in planning.format_plan(whole, str(tiny_sd), "StableDiffusionPipeline")


def test_a_component_the_caller_passes_is_counted_as_passed_not_skipped(tiny_sd, monkeypatch):
    from transformers import CLIPTextModel

    encoder = CLIPTextModel.from_pretrained(tiny_sd / "text_encoder")
    _skipping(monkeypatch, {"text_encoder", "safety_checker"}, {"use_safetensors": True})
    placed = planning.plan(resolve(tiny_sd, "text2img"), CUDA, kwargs={"text_encoder": encoder, "use_safetensors": False})
    assert placed.plan.skip == {"safety_checker"} and dict(placed.plan.extra) == {}
    assert placed.footprint.component("text_encoder").source.startswith("the object passed in")


def test_placement_auto_hands_diffusers_the_skipped_components_as_none(tiny_sd, monkeypatch):
    from diffusers import StableDiffusionPipeline

    from autopipe_core import AutoPipelineForText2Image

    _skipping(monkeypatch, {"text_encoder", "tokenizer"}, {"use_safetensors": True})
    seen = {}
    original = StableDiffusionPipeline.from_pretrained.__func__
    monkeypatch.setattr(StableDiffusionPipeline, "from_pretrained", classmethod(lambda cls, model, **kw: seen.update(kw) or original(cls, model, **kw)))
    place = loading.place  # applied for real, on this machine's CPU in place of the made-up GPU the plan names
    monkeypatch.setattr(loading, "place", lambda pipe, plan: place(pipe, dataclasses.replace(plan, device="cpu")))

    pipe = AutoPipelineForText2Image.from_pretrained(tiny_sd, placement="auto", device=CUDA)
    assert seen["text_encoder"] is None and seen["tokenizer"] is None and seen["use_safetensors"] is True
    assert pipe.text_encoder is None and pipe.tokenizer is None and pipe.unet.dtype == torch.float16  # SD is planned in float16
    assert pipe._autopipe_plan.skip == {"text_encoder", "tokenizer"}


def test_a_skipped_component_is_really_not_loaded(tiny_sd):
    """diffusers takes name=None as "do not load it": what LoadPlan.skip relies on (the pipeline then takes prompt_embeds)."""
    plan = LoadPlan("float32", None, "device", "cpu", "", skip={"text_encoder", "tokenizer"})
    r = resolve(tiny_sd, "text2img")
    pipe = loading.from_pretrained(r, tiny_sd, loading.load_kwargs(plan, {}))
    assert pipe.text_encoder is None and pipe.tokenizer is None and pipe.unet is not None
