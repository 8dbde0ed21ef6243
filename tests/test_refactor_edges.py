"""Behaviour a refactor could break without any other test noticing: each test here fails on a one-line change.

They were written against the planted bugs of the test audit (../shared/test-audit.md) and the mutants mutmut
left alive (docs/mutation.md says which test kills which): the guard's allowed libraries, the header reader's
negative offsets, sharded half-precision files, ``controlnet=None`` taken out of the class's keywords, from_pipe
refusing a target whose components the source lacks, a family's own plugin winning its rows, a plugin's
``SystemExit`` at import or in a load-time hook kept inside that plugin, and the two CPU offloads applied as named.
Toy plugins are real distributions laid out on sys.path as pip lays out a wheel (a ``.dist-info`` folder with
``entry_points.txt`` beside the module), found by the same discovery as any installed plugin.
"""

from __future__ import annotations

import json
import struct
import textwrap
from pathlib import Path

import pytest
from layouts import write_model_index

from autopipe_core import AutoPipelineForText2Image, InvalidModelError, PluginError, Task, UnsupportedModelError, UntrustedCodeError
from autopipe_core import guard, loading, registry
from autopipe_core.headers import read_header
from autopipe_core.resolve import class_kwargs
from autopipe_core.specs import DeviceFacts, Identity, LoadPlan
from autopipe_core.switch import PLAN, switch

SD_UNET = {"in_channels": 4, "sample_size": 8, "cross_attention_dim": 32}


# --- the guard ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("library", ["torch", "numpy", "os", "builtins", "accelerate", "safetensors", "huggingface_hub", "autopipe_core"])
def test_a_library_that_is_not_diffusers_or_transformers_is_refused_before_loading(tmp_path, library):
    folder = write_model_index(tmp_path / "m", "StableDiffusionPipeline", unet=dict(SD_UNET))
    index = json.loads((folder / "model_index.json").read_text())
    index["unet"] = [library, "Module"]
    (folder / "model_index.json").write_text(json.dumps(index))
    assert not guard.allowed(library)
    assert set(guard.foreign_in(folder)) == {"unet"}
    with pytest.raises(UntrustedCodeError, match=f"unet: \\[{library!r}, 'Module'\\] names the library {library!r}"):
        AutoPipelineForText2Image.from_pretrained(folder)


@pytest.mark.parametrize("library", ["diffusers", "transformers", None, "stable_diffusion", "kandinsky"])
def test_the_libraries_families_load_from_are_allowed(library):
    assert guard.allowed(library)


# --- the header reader -------------------------------------------------------------------------------------------

def _raw_header(tmp_path: Path, entries: dict, data: int) -> Path:
    raw = json.dumps(entries, separators=(",", ":")).encode()
    path = tmp_path / f"h{len(list(tmp_path.iterdir()))}.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * data)
    return path


@pytest.mark.parametrize("offsets", [[-4, 0], [0, -4], [-8, -4]])
def test_a_negative_tensor_offset_is_refused_as_such_whatever_the_key_order(tmp_path, offsets):
    # The usual key order takes the reader's fast path; the other order its checked path: both refuse alike.
    usual = {"t": {"dtype": "F32", "shape": [1], "data_offsets": offsets}}
    reordered = {"t": {"data_offsets": offsets, "shape": [1], "dtype": "F32"}}
    messages = []
    for entries in (usual, reordered):
        with pytest.raises(InvalidModelError, match="not two non-negative integers") as info:
            read_header(_raw_header(tmp_path, entries, 4))
        messages.append(str(info.value).rpartition(": ")[2])
    assert messages[0] == messages[1]


# --- weight variants in file names --------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "files, fp16",
    [
        (("unet/diffusion_pytorch_model.fp16.safetensors",), True),
        (("unet/diffusion_pytorch_model.fp16-00001-of-00002.safetensors", "unet/diffusion_pytorch_model.fp16-00002-of-00002.safetensors"), True),
        (("unet/diffusion_pytorch_model-00001-of-00002.safetensors", "unet/diffusion_pytorch_model.safetensors.index.json"), False),
        (("fp16/diffusion_pytorch_model.safetensors", "unet/diffusion_pytorch_model.bf16.safetensors"), False),  # a folder named fp16 is no variant
        ((), False),
        (None, False),
    ],
)
def test_sharded_and_single_half_precision_files_are_seen_as_the_variant(files, fp16):
    identity = Identity("folder", "/m", "StableDiffusionPipeline", files=files)
    assert identity.has_weight_variant("fp16") is fp16


# --- modifier keywords handed to the class ------------------------------------------------------------------------

def test_a_modifier_set_to_none_and_a_consumed_one_never_reach_the_class():
    reg = registry.get_registry()
    net = object()
    assert class_kwargs(reg, {"controlnet": None, "enable_pag": False, "torch_dtype": "float16"}) == {"torch_dtype": "float16"}
    assert class_kwargs(reg, {"controlnet": net, "enable_pag": True}) == {"controlnet": net}


# --- from_pipe ----------------------------------------------------------------------------------------------------

def test_from_pipe_to_a_class_needing_a_component_the_source_lacks_says_which_and_how(tiny_sd):
    from diffusers import StableDiffusionControlNetPipeline, StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(tiny_sd)
    with pytest.raises(UnsupportedModelError, match=r"StableDiffusionControlNetPipeline needs controlnet, which StableDiffusionPipeline does not have\. Pass it: from_pipe\(pipe, controlnet=\.\.\.\)"):
        switch(pipe, StableDiffusionControlNetPipeline, {})


# --- the two CPU offloads -----------------------------------------------------------------------------------------

def _layer_offload(model) -> bool:
    from accelerate.hooks import AlignDevicesHook

    return any(isinstance(getattr(m, "_hf_hook", None), AlignDevicesHook) and m._hf_hook.offload for m in model.modules())


def test_model_cpu_offload_moves_whole_models_and_sequential_offload_moves_each_layer(tiny_sd):
    from accelerate.hooks import AlignDevicesHook, CpuOffload  # noqa: F401
    from diffusers import StableDiffusionPipeline

    model = StableDiffusionPipeline.from_pretrained(tiny_sd)
    plan = LoadPlan("float32", None, "model_cpu_offload", "cpu", "test")
    assert loading.place(model, plan) is model and getattr(model, PLAN) is plan
    assert isinstance(model.unet._hf_hook, CpuOffload) and len(model._all_hooks) >= 3  # one hook per model, chained
    assert not _layer_offload(model.unet)

    layers = StableDiffusionPipeline.from_pretrained(tiny_sd)
    loading.place(layers, LoadPlan("float32", None, "sequential_cpu_offload", "cpu", "test"))
    assert isinstance(layers.unet._hf_hook, AlignDevicesHook) and _layer_offload(layers.unet)
    assert not getattr(layers, "_all_hooks", None)

    left = StableDiffusionPipeline.from_pretrained(tiny_sd)
    loading.place(left, LoadPlan("float32", None, "device", "cpu", "test"))
    assert not hasattr(left.unet, "_hf_hook") and left.device.type == "cpu"


# --- plugins as pip lays them out ---------------------------------------------------------------------------------

def _install(site: Path, dist: str, source: str, version: str = "1.0") -> str:
    """A distribution `dist` whose plugin module is `source`, laid out in `site` as pip installs a wheel."""
    module = dist.replace("-", "_")
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{module}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n\n")
    (info / "entry_points.txt").write_text(f"[autopipe.plugins]\n{module} = {module}\n")
    return dist


RIVAL_ROWS = """
from autopipe_core import PipelineRow, Task, hookimpl

@hookimpl
def autopipe_pipelines():
    return [PipelineRow("stable-diffusion", {Task.TEXT2IMG: "fractions:Fraction"})]
"""


def test_a_familys_own_plugin_wins_its_rows_over_a_plugin_whose_name_sorts_first(site):
    rival = _install(site, "aaa-rival-rows", RIVAL_ROWS)
    built = registry.build(frozenset({"autopipe-sd", rival}))
    key = ("stable-diffusion", frozenset())
    assert built.table[key][Task.TEXT2IMG] == ("diffusers:StableDiffusionPipeline", "autopipe-sd")
    assert registry.Conflict("text2img class of stable-diffusion", "autopipe-sd", (rival,)) in built.conflicts
    preferred = registry.build(frozenset({"autopipe-sd", rival}), prefer=(rival,))
    assert preferred.table[key][Task.TEXT2IMG] == ("fractions:Fraction", rival)


def test_a_plugin_exiting_at_import_is_reported_and_the_others_load(site):
    exits = _install(site, "aaa-exits-at-import", "raise SystemExit(4)\n")
    built = registry.build(frozenset({"autopipe-sd", exits}))
    info = {p.distribution: p for p in built.plugins}
    assert not info[exits].ok and "SystemExit" in info[exits].error
    assert info["autopipe-sd"].ok and "stable-diffusion" in built.families


LOAD_PLAN_EXITS = """
from autopipe_core import FamilySpec, PipelineRow, Task, hookimpl

@hookimpl
def autopipe_families():
    return [FamilySpec("exiting-family")]

@hookimpl
def autopipe_pipelines():
    return [PipelineRow("exiting-family", {Task.TEXT2IMG: "fractions:Fraction"})]

@hookimpl
def autopipe_load_plan(family, identity, device):
    raise SystemExit(5)
"""


def test_a_plugin_exiting_in_a_load_time_hook_is_a_plugin_error_naming_it(site):
    dist = _install(site, "aaa-exits-when-planning", LOAD_PLAN_EXITS, version="2.3")
    built = registry.build(frozenset({dist}))
    identity = Identity("folder", "/m", "Fraction")
    with pytest.raises(PluginError, match=r"the plugin aaa-exits-when-planning 2\.3 raised SystemExit in its autopipe_load_plan hook"):
        built.ask(dist, "autopipe_load_plan", family="exiting-family", identity=identity, device=DeviceFacts())
