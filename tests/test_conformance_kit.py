"""The conformance kit fails where a plugin breaks its contract, each time saying what to change.

Each case writes a test module that subclasses PluginConformance the way an
author would and runs pytest on it (in this process: pytester). The
declarations are checked against what the real plugins register, running
only the kit's cheap tests; each newer check is broken by a toy plugin
installed as a wheel (a family over SD's classes and tiny checkpoint), or by
the real autopipe-sd with a wrong single file, and passes on the toy
unbroken. The autopipe pytest plugin is run with and without the setting
that asks for it.
"""

import textwrap

import pytest

# pytester's in-process runs forget every module first imported inside them, and a C extension cannot be
# imported twice in a process: what the kit's tests load is imported here, before any of those runs.
import diffusers  # noqa: F401,E402
import safetensors.torch  # noqa: F401,E402
import torch  # noqa: F401,E402
import transformers  # noqa: F401,E402
from diffusers import AutoencoderKL, ControlNetModel, StableDiffusionPipeline, UNet2DConditionModel  # noqa: F401,E402
from PIL import Image  # noqa: F401,E402
from transformers import CLIPTextModel, CLIPTokenizer  # noqa: F401,E402

pytest_plugins = ["pytester"]

CHEAP = "claimed_or_declared or declarations or healthy"


def _run(pytester: pytest.Pytester, body: str) -> pytest.RunResult:
    pytester.makepyfile(test_author=textwrap.dedent(body))
    return pytester.runpytest("-p", "no:cacheprovider", "-k", CHEAP)


def test_the_plugins_true_declarations_pass(pytester):
    result = _run(pytester, """
        from autopipe_core import Task
        from autopipe_core.testing import PluginConformance

        class TestControlNet(PluginConformance):
            plugin = "autopipe-controlnet"
            with_plugins = ("autopipe-sd",)
            cannot = {("stable-diffusion+controlnet+pag", "img2img"): "no such class in diffusers",
                      **{("stable-diffusion+controlnet-union", t): "SDXL only" for t in Task}}
    """)
    result.assert_outcomes(passed=2 + 3 * 3)  # healthy and declarations, then 3 rows x 3 tasks


def test_an_undeclared_gap_fails_and_says_what_to_declare(pytester):
    result = _run(pytester, """
        from autopipe_core.testing import PluginConformance

        class TestControlNet(PluginConformance):
            plugin = "autopipe-controlnet"
            with_plugins = ("autopipe-sd",)
    """)
    outcomes = result.parseoutcomes()
    assert outcomes["failed"] == 4  # img2img of controlnet+pag, and the three tasks of controlnet-union
    result.stdout.fnmatch_lines(["*stable-diffusion+controlnet+pag has no img2img pipeline and does not say so*"])


def test_a_declared_gap_that_is_not_one_fails(pytester):
    result = _run(pytester, """
        from autopipe_core.testing import PluginConformance

        class TestSD(PluginConformance):
            plugin = "autopipe-sd"
            cannot = {("stable-diffusion", "inpaint"): "it cannot, says the author"}
    """)
    assert result.parseoutcomes()["failed"] == 1
    result.stdout.fnmatch_lines(["*declares it cannot do inpaint*but claims diffusers:StableDiffusionInpaintPipeline*"])


def test_declarations_must_name_rows_the_plugin_registers(pytester):
    result = _run(pytester, """
        from autopipe_core.testing import PluginConformance

        class TestSD(PluginConformance):
            plugin = "autopipe-sd"
            cannot = {("stable-diffusion+controlnet", "inpaint"): "a row of another plugin"}
            by_hand = {"stable-diffusion": "not a row with modifiers"}
    """)
    assert result.parseoutcomes()["failed"] == 1
    result.stdout.fnmatch_lines(["*`cannot` names 'stable-diffusion+controlnet', which autopipe-sd does not register*"])


def test_a_plugin_that_is_not_installed_fails_loudly(pytester):
    result = _run(pytester, """
        from autopipe_core.testing import PluginConformance

        class TestGhost(PluginConformance):
            plugin = "autopipe-not-installed"
    """)
    result.stdout.fnmatch_lines(["*no entry point of autopipe-not-installed in the group autopipe.plugins*"])
    assert result.parseoutcomes()["failed"] >= 1


def test_a_public_loader_without_the_load_lock_fails(pytester):
    pytester.makepyfile(test_author=textwrap.dedent("""
        import pytest
        import autopipe_controlnet.plugin
        from autopipe_core import Task
        from autopipe_core.testing import PluginConformance

        @pytest.fixture(autouse=True)
        def unlocked(monkeypatch):  # the author forgot @serialized
            monkeypatch.setattr(autopipe_controlnet.plugin, "from_single_file", autopipe_controlnet.plugin.from_single_file.__wrapped__)

        class TestControlNet(PluginConformance):
            plugin = "autopipe-controlnet"
            with_plugins = ("autopipe-sd",)
    """))
    result = pytester.runpytest("-p", "no:cacheprovider", "-k", "load_lock")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*public loaders ?'from_single_file'? load without autopipe's process-wide lock*"])


# -- cases only for what a plugin implements ------------------------------------------------------------------


def test_a_plugin_with_nothing_of_a_kind_gets_no_case_and_no_skip(pytester):
    """autopipe-controlnet owns no family and IF writes no row with modifiers: their suites hold no such test at all."""
    pytester.makepyfile(test_author=textwrap.dedent("""
        from autopipe_core.testing import PluginConformance

        class TestControlNet(PluginConformance):
            plugin = "autopipe-controlnet"
            with_plugins = ("autopipe-sd", "autopipe-sdxl")

        class TestIF(PluginConformance):
            plugin = "autopipe-deepfloyd-if"
    """))
    result = pytester.runpytest("-p", "no:cacheprovider", "--collect-only", "-q")
    collected = [line for line in result.outlines if "::" in line]
    controlnet = [line.split("::")[2] for line in collected if "TestControlNet" in line]
    per_family = ("tiny_checkpoint", "recognised", "from_pretrained", "from_pipe", "round_trip", "loading_code", "placements", "bfloat16")
    assert not [t for t in controlnet if t.startswith(tuple(f"test_{p}" for p in per_family)) or "[none]" in t], controlnet
    assert "test_a_single_file_is_detected_and_loads[stable-diffusion]" in controlnet  # what it does implement
    assert not [line for line in collected if "TestIF" in line and "rows_with_modifiers" in line]
    assert not [line for line in collected if "none" in line.split("::")[-1] or "no-case" in line]


def test_with_the_pytest_plugin_off_a_test_with_no_case_is_a_skip_that_says_why(pytester):
    pytester.makepyfile(test_author=textwrap.dedent("""
        from autopipe_core.testing import PluginConformance

        class TestIF(PluginConformance):
            plugin = "autopipe-deepfloyd-if"
    """))
    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:autopipe", "-k", "rows_with_modifiers", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*no case for this plugin (with the autopipe pytest plugin on, such a test is not collected at all)*"])


# -- the pytest plugin ----------------------------------------------------------------------------------------

ENVIRONMENT_SEEN = """
    import os
    from pathlib import Path

    def seen(request):
        temp = request.getfixturevalue("tmp_path_factory").getbasetemp()
        return (os.environ.get("AUTOPIPE_PLUGINS"), os.environ.get("AUTOPIPE_PREFER"), os.environ.get("HF_HUB_OFFLINE"),
                Path(os.environ.get("AUTOPIPE_CACHE", "/")).is_relative_to(temp))
"""


def test_the_pytest_plugin_does_nothing_in_a_run_that_does_not_ask(pytester, monkeypatch):
    monkeypatch.setenv("AUTOPIPE_PREFER", "autopipe-sdxl")
    monkeypatch.setenv("AUTOPIPE_PLUGINS", "outside")
    pytester.makepyfile(test_plain=textwrap.dedent(ENVIRONMENT_SEEN + """
    import pytest

    def test_environment_untouched(request):
        assert seen(request) == ("outside", "autopipe-sdxl", os.environ.get("HF_HUB_OFFLINE"), False)
        assert request.config.pluginmanager.get_plugin("autopipe-fixtures") is None
        with pytest.raises(pytest.FixtureLookupError):
            request.getfixturevalue("tiny_checkpoint")
    """))
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


@pytest.mark.parametrize("asked", ["ini", "command line"])
def test_the_ini_option_or_the_command_line_isolates_every_test_and_provides_tiny_checkpoint(pytester, monkeypatch, asked):
    monkeypatch.setenv("AUTOPIPE_PREFER", "autopipe-sdxl")
    monkeypatch.setenv("HF_HUB_OFFLINE", "")  # empty: huggingface_hub would stay online
    pytester.makepyfile(test_suite=textwrap.dedent(ENVIRONMENT_SEEN + """
    import pytest

    @pytest.fixture(scope="module")
    def at_module_scope(request):
        return seen(request)

    def test_isolated(request, at_module_scope, tiny_checkpoint):
        assert seen(request) == at_module_scope == ("autopipe-sd", None, "1", True)
        assert (tiny_checkpoint("stable-diffusion") / "model_index.json").is_file()
        from huggingface_hub import constants
        assert constants.HF_HUB_OFFLINE is True
    """))
    if asked == "ini":
        pytester.makeini("[pytest]\nautopipe_plugins = autopipe-sd\n")
        result = pytester.runpytest("-p", "no:cacheprovider")
    else:
        result = pytester.runpytest("-p", "no:cacheprovider", "--autopipe-plugins=autopipe-sd")
    result.assert_outcomes(passed=1)


def test_a_conftest_setting_isolates_its_folder_and_the_nearest_wins(pytester):
    pytester.makeini("[pytest]\nautopipe_plugins = autopipe-sd\n")
    (pytester.path / "xl").mkdir()
    (pytester.path / "xl" / "conftest.py").write_text('autopipe_plugins = "autopipe-sdxl"\n')
    check = textwrap.dedent(ENVIRONMENT_SEEN + """
    def test_isolated_as_its_folder_says(request):
        assert seen(request)[:3] == (EXPECTED, None, "1")
    """)
    (pytester.path / "xl" / "test_xl.py").write_text(check.replace("EXPECTED", "'autopipe-sdxl'"))
    (pytester.path / "test_root.py").write_text(check.replace("EXPECTED", "'autopipe-sd'"))
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)


# -- the new checks, each broken by a plugin ------------------------------------------------------------------
# Toy plugins, pip-installed as wheels (layouts.install_plugins): a family over SD's classes whose tiny checkpoint
# is autopipe-sd's. AUTOPIPE_TOY_BREAK, read when a hook is called, says which part of the contract the toy breaks.

TOY = '''
import functools
import json
import os
from dataclasses import replace

from autopipe_core import FamilySpec, PipelineRow, Variant, hookimpl
from autopipe_core.specs import Activation

FAMILY = "toy"


def _breaks(what):
    return os.environ.get("AUTOPIPE_TOY_BREAK") == what


@functools.cache
def _pipeline_class():
    import torch
    from diffusers import StableDiffusionPipeline

    class ToyPipeline(StableDiffusionPipeline):
        def register_modules(self, **modules):
            super().register_modules(**modules)
            if _breaks("config") and modules.get("unet") is not None:  # the pipeline rewrites its UNet's config
                modules["unet"].register_to_config(made_up_entry=False)

        def __call__(self, *args, **kwargs):
            if _breaks("bfloat16"):  # latents made in float32, whatever the UNet's dtype
                shape = (1, self.unet.config.in_channels, 8, 8)
                kwargs["latents"] = torch.randn(shape, generator=torch.Generator().manual_seed(0), dtype=torch.float32)
            return super().__call__(*args, **kwargs)

    return ToyPipeline


def __getattr__(name):
    if name == "ToyPipeline":
        return _pipeline_class()
    raise AttributeError(name)


@hookimpl
def autopipe_families():
    # A variant told apart by an entry of the UNet's config, which the tiny checkpoint has.
    return [FamilySpec(FAMILY, variants=(Variant("made-up", "unet", "made_up_entry", True, {"text2img", "img2img"}, "made up"),))]


@hookimpl
def autopipe_pipelines():
    module = __name__
    return [PipelineRow(FAMILY, {"text2img": f"{module}:ToyPipeline", "img2img": "diffusers:StableDiffusionImg2ImgPipeline"})]


@hookimpl
def autopipe_build_tiny(family, path, variant):
    from autopipe_core.registry import build
    from autopipe_core.tiny import build_tiny

    build_tiny("stable-diffusion", path, None, build(frozenset({"autopipe-sd"})))
    index = json.loads((path / "model_index.json").read_text())
    (path / "model_index.json").write_text(json.dumps({**index, "_class_name": "ToyPipeline"}))
    unet = json.loads((path / "unet" / "config.json").read_text())
    (path / "unet" / "config.json").write_text(json.dumps({**unet, "made_up_entry": True}))


@hookimpl
def autopipe_footprint(family, identity, plan, footprint, width, height):
    width, height = width or 64, height or 64
    footprint = footprint.with_activation(Activation(width * height * 4096, width, height, f"toy activations at {width}x{height}"))
    if _breaks("bytes"):  # the UNet counted in half its bytes
        unet = footprint.component("unet")
        footprint = footprint.with_component(replace(unet, nbytes=unet.nbytes // 2))
    if _breaks("activation"):
        footprint = footprint.with_activation(Activation(0, 0, 0, "none"))
    if _breaks("size"):  # the allowance always for 64x64
        footprint = footprint.with_activation(Activation(64 * 64 * 4096, 64, 64, "toy activations at 64x64"))
    return footprint


@hookimpl
def autopipe_placement(family, identity, device, footprint, plan):
    if _breaks("placement") and plan.placement == "balanced":
        return replace(plan, placement="model_cpu_offload")  # and the rules' reason for balancing, unchanged
    return None
'''

GREEDY = '''
from autopipe_core import Detection, FamilySpec, hookimpl


@hookimpl
def autopipe_families():
    return [FamilySpec("greedy")]


@hookimpl
def autopipe_detect(header):
    return [Detection("greedy", "anything", 1.0, "claims every file", pipeline_class="diffusers:StableDiffusionPipeline")]
'''

TOYS = {
    "autopipe-toy": ("autopipe_toy", TOY, "autopipe_toy"),
    "autopipe-greedy": ("autopipe_greedy", GREEDY, "autopipe_greedy"),
}
TOY_KIT = """
from autopipe_core.testing import PluginConformance

class TestToy(PluginConformance):
    plugin = "autopipe-toy"
    cannot = {("toy", "inpaint"): "a toy"}
"""


@pytest.fixture(scope="module")
def toys(tmp_path_factory):
    from layouts import install_plugins

    return install_plugins(tmp_path_factory.mktemp("toy-projects"), tmp_path_factory.mktemp("toy-site"), TOYS)


def _run_toy(pytester, monkeypatch, toys, breaks: str, checks: str) -> pytest.RunResult:
    monkeypatch.syspath_prepend(str(toys))
    monkeypatch.setenv("AUTOPIPE_TOY_BREAK", breaks)
    pytester.makepyfile(test_author=textwrap.dedent(TOY_KIT))
    return pytester.runpytest("-p", "no:cacheprovider", "-k", checks)


NEW_CHECKS = "placements or bfloat16 or declared_configs"


def test_the_toy_keeps_the_new_checks(pytester, monkeypatch, toys):
    """The control: unbroken, the toy passes what each test below breaks."""
    result = _run_toy(pytester, monkeypatch, toys, "", NEW_CHECKS)
    result.assert_outcomes(passed=3)


BROKEN_PLANS = {
    "bytes": "*the footprint counts*bytes, the pipeline loaded in the plan's dtypes holds*autopipe_footprint must count each component*",
    "activation": "*toy's autopipe_footprint states no activation allowance*with_activation(Activation(bytes, width, height, reason))*",
    "size": "*asked for 320x192, toy's autopipe_footprint gives an allowance for 64x64*use the width and height the hook is given*",
    "placement": "*autopipe_placement chose model_cpu_offload but its reason is the rules' reason for balanced*say why model_cpu_offload instead*",
}


@pytest.mark.parametrize(("breaks", "message"), BROKEN_PLANS.items(), ids=list(BROKEN_PLANS))
def test_a_footprint_or_placement_that_breaks_the_plan_fails_and_says_what_to_change(pytester, monkeypatch, toys, breaks, message):
    result = _run_toy(pytester, monkeypatch, toys, breaks, "placements")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([message])


def test_a_pipeline_that_cannot_run_in_bfloat16_fails_and_says_what_to_change(pytester, monkeypatch, toys):
    result = _run_toy(pytester, monkeypatch, toys, "bfloat16", "bfloat16")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*a 2-step text2img call of ToyPipeline in bfloat16 on the CPU failed (RuntimeError*make toy's pipeline run in the dtype its components were loaded in*"])


def test_a_pipeline_that_rewrites_a_declared_config_fails_from_pipe_and_says_what_to_change(pytester, monkeypatch, toys):
    result = _run_toy(pytester, monkeypatch, toys, "config", "declared_configs")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*a live ToyPipeline's unet config differs from the *config.json it was loaded from at made_up_entry (True on disk, False live)*"
        "key toy's variants and requirements on entries the component's library keeps on the loaded model*"
    ])


SD_SINGLE_FILE = """
from autopipe_core.testing import PluginConformance

class TestSD(PluginConformance):
    plugin = "autopipe-sd"
"""


def test_a_plugin_reading_single_files_must_say_how_to_write_one(pytester):
    pytester.makepyfile(test_author=textwrap.dedent(SD_SINGLE_FILE))
    result = pytester.runpytest("-p", "no:cacheprovider", "-k", "single_file")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*autopipe-sd implements autopipe_detect: override tiny_single_file(self, family, path) in TestSD*or declare no_single_file*"])


def _sd_single_file_of(pytester, tensors: str) -> None:
    pytester.makepyfile(test_author=textwrap.dedent(SD_SINGLE_FILE + f"""
    def tiny_single_file(self, family, path):
        import torch
        from safetensors.torch import save_file

        save_file({tensors}, str(path))
        return path
    """))


def test_a_single_file_the_plugin_does_not_recognise_fails(pytester):
    # SD's detect key, the UNet's first convolution, with 5 input channels (a depth model's): shown to autopipe-sd, not claimed
    _sd_single_file_of(pytester, '{"model.diffusion_model.input_blocks.0.0.weight": torch.zeros(320, 5, 3, 3)}')
    result = pytester.runpytest("-p", "no:cacheprovider", "-k", "single_file")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*autopipe-sd's autopipe_detect does not recognise the tiny stable-diffusion single file TestSD.tiny_single_file wrote*"])


def test_a_single_file_holding_none_of_the_detect_keys_fails_and_names_them(pytester):
    _sd_single_file_of(pytester, '{"something.else.weight": torch.zeros(2, 2)}')
    result = pytester.runpytest("-p", "no:cacheprovider", "-k", "single_file")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*the tiny stable-diffusion single file TestSD.tiny_single_file wrote holds none of autopipe-sd's autopipe_detect_keys "
        "(model.diffusion_model.input_blocks.0.0.weight), so its autopipe_detect is never shown it*"
    ])


def test_a_single_file_another_installed_plugin_outranks_fails(pytester, monkeypatch, toys):
    monkeypatch.syspath_prepend(str(toys))  # autopipe-greedy, installed, claims every file with confidence 1
    pytester.makepyfile(test_author=textwrap.dedent(SD_SINGLE_FILE + """
    def tiny_single_file(self, family, path):
        from autopipe_sd.tiny import build_single_file

        return build_single_file(path)
    """))
    result = pytester.runpytest("-p", "no:cacheprovider", "-k", "single_file")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*autopipe-greedy claims the tiny stable-diffusion single file as greedy/anything (confidence 1.0: claims every file), ranked above autopipe-sd's claim*"])


def test_the_from_pipe_check_switches_from_another_task():
    """The kit's from_pipe case switches from another task the checkpoint does, never from the task itself (which would
    switch nothing and pass for a family whose pipelines cannot share their components)."""
    from autopipe_core import Task
    from autopipe_core.testing.kit import source_task

    every = list(Task)
    assert source_task(every, Task.TEXT2IMG, lambda t: True) is Task.IMG2IMG
    assert source_task(every, Task.IMG2IMG, lambda t: True) is Task.TEXT2IMG
    assert source_task(every, Task.TEXT2IMG, lambda t: t is not Task.IMG2IMG) is Task.INPAINT
    assert source_task(every, Task.INPAINT, lambda t: t is Task.INPAINT) is Task.INPAINT  # only where it does no other
    assert source_task([Task.TEXT2IMG], Task.TEXT2IMG, lambda t: True) is Task.TEXT2IMG
