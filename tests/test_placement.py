"""placement.py: bytes counted from headers, the rules, balanced as diffusers does it, `autopipe plan`, from_pretrained(placement=)."""

from __future__ import annotations

import dataclasses

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from autopipe_core import AutoPipelineForText2Image, DeviceFacts, InvalidModelError, LoadPlan, resolve
from autopipe_core import loading, planning
from autopipe_core.cli import main
from autopipe_core.planning import (
    GiB,
    Activation,
    ComponentBytes,
    Footprint,
    PlacementError,
    balanced_assignment,
    choose,
    count_tensors,
    parse_memory,
    stored_variants,
    weight_files,
)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import fullsize  # noqa: E402


def _cuda(free_gib: float, count: int = 1) -> DeviceFacts:
    return DeviceFacts("cuda", count, int(free_gib * GiB), 80 * GiB, True)


def _fp(act_gib: float = 1.0, **sizes_gib: float) -> Footprint:
    components = tuple(ComponentBytes(n, int(s * GiB), None, "float16", "test") for n, s in sizes_gib.items())
    return Footprint(components, Activation(int(act_gib * GiB), 512, 512, "test"))


def test_parse_memory_takes_the_spellings_people_write():
    assert parse_memory("8GiB") == parse_memory("8gib") == parse_memory("8 GIB") == 8 * GiB
    assert parse_memory("512MiB") == 512 << 20
    assert parse_memory(" 1024 KiB ") == 1 << 20
    assert parse_memory("1.5GiB") == 3 * GiB // 2
    assert parse_memory("8GB") == parse_memory("8gb") == 8 * 10**9  # decimal units are powers of 1000
    assert parse_memory("2TB") == 2 * 10**12 and parse_memory("1TiB") == 1 << 40
    assert parse_memory(123) == 123 and parse_memory("4096") == 4096
    for bad in ("-1GiB", "0GiB", "lots", "8 gigs", "1e3GiB", True, 0, 2**70, "99999999999999999999TiB"):
        with pytest.raises(PlacementError):
            parse_memory(bad)
    with pytest.raises(PlacementError, match="has no unit"):
        parse_memory("8", unit_required=True)


def test_weight_files_follow_diffusers_choice_of_variant_shards_and_format():
    files = [
        "unet/diffusion_pytorch_model.safetensors", "unet/diffusion_pytorch_model.fp16.safetensors", "unet/config.json",
        "text_encoder/model.fp16-00001-of-00002.safetensors", "text_encoder/model.fp16-00002-of-00002.safetensors",
        "text_encoder/model.safetensors.index.fp16.json", "text_encoder/model.safetensors",
        "vae/diffusion_pytorch_model.bin", "vae/diffusion_pytorch_model.safetensors",
        "old/pytorch_model.bin", "tokenizer/vocab.json",
    ]
    assert weight_files(files, "unet", "fp16") == (("unet/diffusion_pytorch_model.fp16.safetensors",), "safetensors", True)
    assert weight_files(files, "unet", None) == (("unet/diffusion_pytorch_model.safetensors",), "safetensors", False)
    shards = ("text_encoder/model.fp16-00001-of-00002.safetensors", "text_encoder/model.fp16-00002-of-00002.safetensors")
    assert weight_files(files, "text_encoder", "fp16") == (shards, "safetensors", True)
    # no fp16 file: the plain one, as diffusers falls back; safetensors before pickle
    assert weight_files(files, "vae", "fp16") == (("vae/diffusion_pytorch_model.safetensors",), "safetensors", False)
    assert weight_files(files, "old", None) == (("old/pytorch_model.bin",), "pickle", False)
    assert weight_files(files, "tokenizer", None) == ((), "", False)


def test_weight_file_rules_at_their_edges():
    files = [
        "unet/diffusion_pytorch_model.safetensors", "unet/diffusion_pytorch_model.non.ema.safetensors",
        "unet/model.x/diffusion_pytorch_model.safetensors",  # a folder inside the component's: never loaded
        "unetx/diffusion_pytorch_model.bf16.safetensors",  # another component whose name starts alike
        "te/model.fp16-00001-of-00002.bin", "te/model.fp16-00002-of-00002.bin",
    ]
    # diffusers names a variant's file f"{name}.{variant}.{ext}": the variant is all between the first dot and the suffix
    assert stored_variants(files, "unet") == stored_variants(files, "unet/") == {None, "non.ema"}
    assert weight_files(files, "unet/", "non.ema") == (("unet/diffusion_pytorch_model.non.ema.safetensors",), "safetensors", True)
    assert weight_files(files, "unet", "bf16") == (("unet/diffusion_pytorch_model.safetensors",), "safetensors", False)
    assert stored_variants(files, "te") == {"fp16"}
    assert weight_files(files, "te", "fp16") == (("te/model.fp16-00001-of-00002.bin", "te/model.fp16-00002-of-00002.bin"), "pickle", True)
    assert weight_files(files, "te", None) == ((), "", False)  # only fp16 shards: diffusers finds no plain file


def test_only_the_weight_file_names_diffusers_and_transformers_load_are_weights():
    # Found by a hostile-input trial: an old_backup.safetensors left in unet/ was counted (7.45 GiB planned for a
    # tiny UNet), though diffusers loads only diffusion_pytorch_model[.variant].safetensors or its shards, and
    # transformers model[.variant].safetensors (pytorch_model.bin before safetensors).
    files = [
        "unet/diffusion_pytorch_model.safetensors", "unet/old_backup.safetensors", "unet/old_backup.fp16.safetensors",
        "unet/diffusion_pytorch_model.ema.bin", "text_encoder/model.safetensors", "text_encoder/notes.safetensors",
        "vae/vae-ft-mse.safetensors",
    ]
    assert weight_files(files, "unet", None) == (("unet/diffusion_pytorch_model.safetensors",), "safetensors", False)
    assert weight_files(files, "unet", "fp16") == (("unet/diffusion_pytorch_model.safetensors",), "safetensors", False)
    assert weight_files(files, "text_encoder", None) == (("text_encoder/model.safetensors",), "safetensors", False)
    assert weight_files(files, "vae", None) == ((), "", False)  # nothing diffusers would load: none counted
    assert stored_variants(files, "unet") == {None, "ema"}
    assert stored_variants(files, "vae") == set()


def test_bytes_are_counted_in_the_target_dtype_with_kept_float32_layers_and_integer_tensors():
    tensors = [("a.wo.weight", "F32", (10, 10)), ("a.wi.weight", "F32", (10, 10)), ("ids", "I64", (5,))]
    assert count_tensors(tensors, "float16") == (205, 100 * 2 + 100 * 2 + 40)
    assert count_tensors(tensors, "float16", keep_float32=("wo",)) == (205, 100 * 4 + 100 * 2 + 40)
    assert count_tensors(tensors, "float32", keep_float32=("wo",)) == (205, 800 + 40)
    assert count_tensors([("x.two.weight", "BF16", (4,))], "float16", keep_float32=("wo",)) == (4, 8)  # whole parts only


def test_pickle_weights_are_sized_from_the_file_and_never_opened(tmp_path):
    (tmp_path / "vae").mkdir()
    (tmp_path / "vae" / "diffusion_pytorch_model.bin").write_bytes(b"not a pickle" * 100)  # 1200 bytes
    plan = LoadPlan("float16", None, "device", "cuda", "")
    [c] = planning.count_folder(tmp_path, plan, ["vae", "tokenizer"])
    assert (c.name, c.nbytes, c.parameters) == ("vae", 600, 300)
    assert "not opened" in c.source


def test_the_rules_with_the_activation_allowance_on_each_side():
    fp = _fp(2.0, unet=5.0, text_encoder=1.0, vae=0.5)  # 6.5 GiB of weights
    assert choose(fp, _cuda(8.5)).placement == "device"  # 6.5 + 2 fits exactly
    assert choose(fp, _cuda(8.4)).placement == "model_cpu_offload"
    assert choose(fp, _cuda(7.0)).placement == "model_cpu_offload"  # unet 5 + 2
    assert choose(fp, _cuda(6.9)).placement == "sequential_cpu_offload"
    assert choose(fp, DeviceFacts("cpu")).placement == "device"
    unknown = choose(fp, DeviceFacts("cuda", 1, None, None))
    assert unknown.placement == "device" and "unknown" in unknown.reason
    assert choose(fp, DeviceFacts("mps", 1, 4 * GiB)).placement == "sequential_cpu_offload"  # a budget given for mps counts too


def test_several_gpus_balance_only_when_diffusers_would_keep_every_component_on_one():
    fp = _fp(2.0, t5=10.0, unet=8.0)
    two = choose(fp, _cuda(14, count=2))
    assert two.placement == "balanced"
    assert dict(two.device_map) == {"t5": 0, "unet": 1}
    assert dict(two.max_memory) == {0: 12 * GiB, 1: 12 * GiB}  # the activations kept free on each
    assert choose(fp, _cuda(11, count=2)).placement == "sequential_cpu_offload"  # t5 + activations fit on none
    assert choose(fp, _cuda(20.5, count=2)).placement == "device"  # one is enough: no balancing


@pytest.mark.parametrize(
    "sizes, budgets",
    [
        ({"a": 10, "b": 8, "c": 3, "d": 1}, {0: 12, 1: 12}),
        ({"a": 10, "b": 8, "c": 3, "d": 1}, {0: 11, 1: 12}),
        ({"a": 5, "b": 5, "c": 5, "d": 5, "e": 1}, {0: 10, 1: 10, 2: 3}),
        ({"a": 9, "b": 2}, {0: 8, 1: 8}),
        ({"a": 4, "b": 4, "c": 4}, {0: 6, 1: 6}),
    ],
)
def test_the_balanced_mirror_agrees_with_diffusers_own_assignment(sizes, budgets):
    from diffusers.pipelines.pipeline_loading_utils import _assign_components_to_devices

    ordered = dict(sorted(sizes.items(), key=lambda kv: kv[1], reverse=True))
    theirs = _assign_components_to_devices(ordered, dict(sorted(budgets.items(), key=lambda kv: kv[1], reverse=True)))
    ours = balanced_assignment(sizes, budgets)
    if "cpu" in theirs:
        assert ours is None
    else:
        assert ours == {name: device for device, names in theirs.items() for name in names}


def test_plan_counts_the_tiny_checkpoint_from_its_headers(tiny_sd):
    placed = planning.plan(resolve(tiny_sd, "text2img"), _cuda(8))
    assert placed.plan.dtype == "float16" and placed.plan.placement == "device"
    assert {c.name for c in placed.footprint.components} == {"unet", "vae", "text_encoder"}
    assert all(c.source == "safetensors headers" for c in placed.footprint.components)
    # 0.5 GiB fixed + 1 GiB at 512x512 in float16, scaled to the tiny UNet's native 256x256
    assert placed.footprint.activation == Activation(GiB // 2 + GiB // 4, 256, 256, placed.footprint.activation.reason)
    bigger = planning.plan(resolve(tiny_sd, "text2img"), _cuda(8), width=1024, height=512)
    assert bigger.footprint.activation.nbytes == GiB // 2 + 2 * GiB


def test_the_caller_s_dtype_and_variant_win_and_change_the_estimate(tiny_sd):
    import torch

    r = resolve(tiny_sd, "text2img")
    auto = planning.plan(r, _cuda(8))
    mine = planning.plan(r, _cuda(8), kwargs={"torch_dtype": torch.float32})
    assert mine.plan.dtype == "float32" and mine.footprint.weights == 2 * auto.footprint.weights
    assert "as the caller asked" in mine.plan.reason


def test_a_checkpoint_whose_sizes_cannot_be_read_is_not_planned_by_the_rules(tiny_sd):
    r = resolve(tiny_sd, "text2img")
    hub = type(r.identity)("hub", "org/name", r.identity.class_name, r.identity.components, r.identity.configs, None)
    placed = planning.plan(type(r)(**{**r.__dict__, "identity": hub}), _cuda(1))
    assert placed.plan.placement == "device" and "rules were not applied" in placed.plan.reason
    assert {c.name for c in placed.footprint.unknown} == {"unet", "vae", "text_encoder"}


def test_autopipe_plan_json_and_text(tiny_sd, capsys):
    assert main(["plan", str(tiny_sd), "--task", "text2img", "--device", "cuda", "--memory", "8GiB", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["dtype"] == "float16" and out["variant"] is None and out["placement"] == "device"
    assert isinstance(out["estimated_bytes"], int) and out["estimated_bytes"] == sum(c["bytes"] for c in out["components"].values())
    assert out["activation_bytes"] == GiB // 2 + GiB // 4
    assert main(["plan", str(tiny_sd), "--task", "text2img", "--memory", "512MiB", "--gpus", "1"]) == 0
    text = capsys.readouterr().out
    assert "placement:   sequential_cpu_offload on cuda" in text and "why:" in text and "dtype:       float16" in text
    assert "taken to have no bfloat16; pass --bf16 for one that has it" in text  # float16 is an assumption, and says so
    assert main(["plan", str(tiny_sd), "--task", "text2img", "--memory", "512MiB", "--bf16"]) == 0
    assert "taken to have no bfloat16" not in capsys.readouterr().out


def test_autopipe_plan_refuses_a_memory_without_unit(tiny_sd, capsys):
    with pytest.raises(SystemExit):
        main(["plan", str(tiny_sd), "--task", "text2img", "--memory", "8"])
    err = capsys.readouterr().err
    assert "has no unit" in err and "GiB = 2**30 bytes, GB = 10**9" in err


def test_autopipe_plan_imports_no_torch_and_reads_no_weights(tmp_path):
    folder = fullsize.write("sdxl", tmp_path)  # 13 GB of weights on paper, holes on disk
    code = (
        "import sys, json\nfrom autopipe_core.cli import main\n"
        f"main(['plan', {str(folder)!r}, '--task', 'text2img', '--memory', '8GiB', '--json'])\n"
        "heavy = sorted(m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules)\n"
        "print(json.dumps(heavy))\n"
    )
    env = {**os.environ, "AUTOPIPE_PLUGINS": "autopipe-sdxl"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    plan_json, heavy = out.rsplit("\n", 2)[0], out.rsplit("\n", 2)[1]
    assert json.loads(heavy) == []
    assert json.loads(plan_json)["placement"] == "model_cpu_offload"


def _placing_on_this_cpu(monkeypatch) -> None:
    """from_pretrained's own placement, really applied, on this machine's CPU in place of the made-up GPU the plan names.

    The offloads' hooks are accelerate's whatever the execution device, so which one was applied shows on the
    pipeline: a CpuOffload hook per model (model offload), AlignDevicesHooks that offload each layer (sequential).
    """
    place = loading.place
    monkeypatch.setattr(loading, "place", lambda pipe, plan: place(pipe, dataclasses.replace(plan, device="cpu")))


def _applied(pipe) -> str:
    from accelerate.hooks import AlignDevicesHook, CpuOffload

    layers = any(isinstance(getattr(m, "_hf_hook", None), AlignDevicesHook) and m._hf_hook.offload for m in pipe.unet.modules())
    models = isinstance(getattr(pipe.unet, "_hf_hook", None), CpuOffload)
    assert not (layers and models)
    return "sequential_cpu_offload" if layers else "model_cpu_offload" if models else "device"


def test_from_pretrained_placement_auto_applies_the_plan_and_keeps_its_keywords_from_diffusers(tiny_sd, monkeypatch):
    import torch
    from diffusers import StableDiffusionPipeline

    seen = {}
    original = StableDiffusionPipeline.from_pretrained.__func__

    def spy(cls, model, **kwargs):
        seen.update(kwargs)
        return original(cls, model, **kwargs)

    monkeypatch.setattr(StableDiffusionPipeline, "from_pretrained", classmethod(spy))
    _placing_on_this_cpu(monkeypatch)
    pipe = AutoPipelineForText2Image.from_pretrained(tiny_sd, placement="auto", device=_cuda(24), memory="300MiB")
    assert seen == {loading.dtype_keyword(): torch.float16}  # no placement=, device= or memory= for diffusers
    assert pipe.unet.dtype == torch.float16  # 300 MiB < the activation allowance:
    assert pipe._autopipe_plan.placement == _applied(pipe) == "sequential_cpu_offload"

    seen.clear()
    pipe = AutoPipelineForText2Image.from_pretrained(tiny_sd, placement="auto", device=_cuda(24), torch_dtype=torch.float32, variant=None)
    assert seen == {"torch_dtype": torch.float32, "variant": None}  # the caller's spelling, as given
    assert pipe._autopipe_plan.placement == _applied(pipe) == "device" and pipe.device.type == "cpu"

    seen.clear()
    pipe = AutoPipelineForText2Image.from_pretrained(tiny_sd, placement="model_cpu_offload", device=_cuda(24))
    assert pipe._autopipe_plan.placement == _applied(pipe) == "model_cpu_offload"


def test_from_pretrained_balanced_hands_diffusers_the_device_map_and_max_memory(tiny_sd, monkeypatch):
    import types

    # Two made-up GPUs, each with room for the allowance and a bit more than the tiny UNet, not for everything:
    # the real rules choose "balanced". diffusers itself is replaced by a recorder (this machine has no GPU to map).
    resolution = resolve(tiny_sd, "t2i")
    fp = planning.plan(resolution, _cuda(80)).footprint
    budget = fp.activation.nbytes + fp.largest.nbytes + 1024
    facts = DeviceFacts("cuda", 2, budget, 80 * GiB, True)
    placed = planning.plan(resolution, facts)
    assert placed.plan.placement == "balanced", placed.plan.reason
    seen = {}
    monkeypatch.setattr(loading, "from_pretrained", lambda resolution, model, kwargs, registry=None, checked=False: seen.update(kwargs) or types.SimpleNamespace())
    AutoPipelineForText2Image.from_pretrained(tiny_sd, placement="auto", device=facts)
    assert seen["device_map"] == "balanced" and seen["max_memory"] == {0: budget - fp.activation.nbytes, 1: budget - fp.activation.nbytes}
    seen.clear()
    pipe = AutoPipelineForText2Image.from_pretrained(tiny_sd, placement="auto", device=facts, device_map="cuda")
    assert seen["device_map"] == "cuda" and "max_memory" not in seen  # the caller's device_map wins
    assert "device_map='cuda' as the caller asked" in pipe._autopipe_plan.reason


def test_from_pretrained_on_the_cpu_and_without_placement_is_diffusers_own(tiny_sd):
    import torch

    pipe = AutoPipelineForText2Image.from_pretrained(tiny_sd, placement="auto", device="cpu")
    assert pipe.unet.dtype == torch.float32 and pipe.device.type == "cpu"
    plain = AutoPipelineForText2Image.from_pretrained(tiny_sd)
    assert plain.unet.dtype == torch.float32
    with pytest.raises(TypeError, match="placement"):
        AutoPipelineForText2Image.from_pretrained(tiny_sd, memory="8GiB")
    with pytest.raises(PlacementError, match="everywhere"):
        AutoPipelineForText2Image.from_pretrained(tiny_sd, placement="everywhere", device="cpu")


def test_a_hub_repo_is_sized_from_its_headers_through_huggingface_hub(tmp_path, monkeypatch):
    """Listed with list_repo_files and read with parse_safetensors_file_metadata (range requests): no weight downloaded."""
    import huggingface_hub
    from huggingface_hub.utils import SafetensorsFileMetadata, TensorInfo

    from autopipe_core.headers import read_header

    folder = fullsize.write("sd15", tmp_path)
    asked = []

    def parse(repo_id, filename, revision=None, token=None, **_):
        asked.append((repo_id, filename, revision))
        header = read_header(folder / filename)
        tensors = {n: TensorInfo(dtype=t.dtype, shape=list(t.shape), data_offsets=(0, t.nbytes)) for n, t in header.tensors.items()}
        return SafetensorsFileMetadata(metadata={}, tensors=tensors)

    monkeypatch.setattr(huggingface_hub, "list_repo_files", lambda repo_id, **_: planning.list_folder(folder))
    monkeypatch.setattr(huggingface_hub, "parse_safetensors_file_metadata", parse)
    local = resolve(folder, "text2img")
    hub = type(local)(**{**local.__dict__, "identity": type(local.identity)("hub", "org/sd15", local.identity.class_name,
                                                                                  local.identity.components, local.identity.configs, None)})
    from_hub = planning.plan(hub, _cuda(8), kwargs={"revision": "main"})
    from_disk = planning.plan(local, _cuda(8))
    assert from_hub.footprint.weights == from_disk.footprint.weights > 2 * GiB
    assert from_hub.plan.variant == "fp16" and ("org/sd15", "unet/diffusion_pytorch_model.fp16.safetensors", "main") in asked


def _absurd_sample_size(tiny_sd, tmp_path, value):
    import json
    import shutil

    folder = tmp_path / "m"
    shutil.copytree(tiny_sd, folder)
    config = json.loads((folder / "unet" / "config.json").read_text())
    config["sample_size"] = value
    (folder / "unet" / "config.json").write_text(json.dumps(config))
    return folder


@pytest.mark.parametrize("value", [10**300, -64, 1.5e300, "64", True])
def test_an_absurd_number_in_a_config_is_a_typed_error_naming_it(tiny_sd, tmp_path, value):
    from autopipe_core.planning import plan

    folder = _absurd_sample_size(tiny_sd, tmp_path, value)
    with pytest.raises(InvalidModelError, match="unet/config.json says sample_size = .*not a whole number"):
        plan(resolve(folder, "t2i"), DeviceFacts("cuda", 1, 8 * GiB, 8 * GiB))


def test_an_absurd_number_in_a_config_is_an_error_line_from_autopipe_plan(tiny_sd, tmp_path):
    """The command line's side of the case above, once (the same path for each value): a line, no traceback."""
    folder = _absurd_sample_size(tiny_sd, tmp_path, 10**300)
    out = subprocess.run([sys.executable, "-m", "autopipe_core.cli", "plan", str(folder), "--task", "t2i", "--memory", "8GiB"],
                         capture_output=True, text=True, env={**os.environ, "AUTOPIPE_PLUGINS": "autopipe-sd"})
    assert out.returncode == 1 and out.stderr.startswith("autopipe: error: ") and "Traceback" not in out.stderr


# --- the weight variant follows the files; a single file is counted per component -----------------------------


@pytest.fixture(scope="module")
def fp16_only(tiny_sd, tmp_path_factory):
    """The tiny SD checkpoint saved with variant="fp16" only: *.fp16.safetensors and no plain weight files."""
    from diffusers import StableDiffusionPipeline

    folder = tmp_path_factory.mktemp("fp16-only") / "sd"
    StableDiffusionPipeline.from_pretrained(tiny_sd).save_pretrained(folder, variant="fp16")
    assert not list(folder.glob("unet/diffusion_pytorch_model.safetensors")) and list(folder.glob("unet/*.fp16.safetensors"))
    return folder


def test_an_fp16_only_checkpoint_plans_its_variant_on_the_cpu_counts_its_bytes_and_loads(fp16_only):
    placed = planning.plan(resolve(fp16_only, "t2i"), DeviceFacts("cpu"))
    assert placed.plan.variant == "fp16" and placed.plan.dtype == "float32"
    assert "variant fp16" in placed.plan.reason
    assert not placed.footprint.unknown and placed.footprint.component("unet").nbytes > 0
    pipe = AutoPipelineForText2Image.from_pretrained(fp16_only, placement="auto", device="cpu")
    assert type(pipe).__name__ == "StableDiffusionPipeline" and pipe.unet.dtype.itemsize == 4


def test_a_bf16_only_checkpoint_plans_bf16_on_cuda(fp16_only, tmp_path):
    import shutil

    folder = tmp_path / "bf16-only"
    shutil.copytree(fp16_only, folder)
    for f in folder.rglob("*.fp16.safetensors"):
        f.rename(f.with_name(f.name.replace(".fp16.", ".bf16.")))
    placed = planning.plan(resolve(folder, "t2i"), DeviceFacts("cuda", 1, 8 * GiB, 8 * GiB, True))
    assert placed.plan.variant == "bf16" and not placed.footprint.unknown
    assert all(c.nbytes > 0 for c in placed.footprint.components)


def test_a_component_without_files_of_the_chosen_variant_is_unknown_never_zero(fp16_only):
    placed = planning.plan(resolve(fp16_only, "t2i"), DeviceFacts("cuda", 1, 8 * GiB, 8 * GiB), kwargs={"variant": "bf16"})
    unknown = {c.name: c.source for c in placed.footprint.unknown}
    assert set(unknown) >= {"unet", "vae", "text_encoder"}
    assert "only fp16 ones" in unknown["unet"]
    assert placed.plan.placement == "device" and "not known, so the memory rules were not applied" in placed.plan.reason


def test_plan_of_a_single_file_counts_each_component_from_its_header(tmp_path):
    import single_file_layouts

    path = single_file_layouts.write(tmp_path / "sd15.safetensors", single_file_layouts.layout("sd1"))
    placed = planning.plan(resolve(path, "t2i"), DeviceFacts("cuda", 1, 4 * GiB, 4 * GiB))
    counted = {c.name: c for c in placed.footprint.components}
    assert set(counted) == {"unet", "vae", "text_encoder"}
    assert counted["unet"].parameters == 859_520_964 and counted["unet"].nbytes == 2 * 859_520_964  # SD 1.5's published UNet
    assert all(c.nbytes and c.source.startswith("the file's header") for c in counted.values())
    assert placed.plan.placement == "device"  # about 2.0 GiB of float16 weights + 1.5 GiB of activations fit in 4 GiB
    tight = planning.plan(resolve(path, "t2i"), DeviceFacts("cuda", 1, 13 * GiB // 4, 4 * GiB))
    assert tight.plan.placement == "model_cpu_offload"  # not in 3.25 GiB; the UNet alone (1.6 GiB) with them does


def test_autopipes_own_loading_triggers_no_deprecation_warning(tiny_sd):
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        AutoPipelineForText2Image.from_pretrained(tiny_sd, placement="auto", device="cpu")
    deprecations = [str(w.message) for w in caught if issubclass(w.category, (DeprecationWarning, FutureWarning))]
    assert deprecations == []


def test_a_model_folder_without_weight_files_is_of_unknown_size_never_zero_bytes_that_fit(tmp_path):
    """A checkpoint with its JSON but no weights (an incomplete download; the real-config corpus is such copies): each
    model component with a config.json and no weight files is unknown, so the rules are not applied to 0 bytes. Tokenizers
    and schedulers, which have no config.json, hold no weights and are left out as before."""
    folder = tmp_path / "m"
    (folder / "unet").mkdir(parents=True)
    (folder / "tokenizer").mkdir()
    (folder / "scheduler").mkdir()
    (folder / "model_index.json").write_text(json.dumps({
        "_class_name": "StableDiffusionPipeline", "unet": ["diffusers", "UNet2DConditionModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"], "scheduler": ["diffusers", "PNDMScheduler"],
    }))
    (folder / "unet" / "config.json").write_text(json.dumps({"_class_name": "UNet2DConditionModel", "sample_size": 64}))
    (folder / "tokenizer" / "tokenizer_config.json").write_text("{}")
    (folder / "scheduler" / "scheduler_config.json").write_text("{}")
    device = DeviceFacts("cuda", 1, 8 << 30, 8 << 30, True)
    placed = planning.plan(resolve(folder, "text2img"), device)
    assert [(c.name, c.nbytes) for c in placed.footprint.components] == [("unet", None)]
    assert "no weight files" in placed.footprint.unknown[0].source
    assert "is not known, so the memory rules were not applied" in placed.plan.reason
    assert "1 component(s) of unknown size" in planning.format_plan(placed, str(folder), "StableDiffusionPipeline")
