"""autopipe_core.toolkit.rows: the row and Variant builders give what plugins wrote by hand, and lazy_hooks gives hook
implementations that pluggy and the core call like hand-written ones, importing their code only when asked."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import types

import pytest

from autopipe_core import PipelineRow, Task, Variant, hookspecs, plugins
from autopipe_core.toolkit.rows import PAG, inpainting_only, lazy_hooks, row, rows

SD = {
    Task.TEXT2IMG: "diffusers:StableDiffusionPipeline",
    Task.IMG2IMG: "diffusers:StableDiffusionImg2ImgPipeline",
    Task.INPAINT: "diffusers:StableDiffusionInpaintPipeline",
}
SD_PAG = {
    Task.TEXT2IMG: "diffusers:StableDiffusionPAGPipeline",
    Task.IMG2IMG: "diffusers:StableDiffusionPAGImg2ImgPipeline",
    Task.INPAINT: "diffusers:StableDiffusionPAGInpaintPipeline",
}


def test_rows_give_the_plain_row_and_the_pag_row_as_written_by_hand():
    built = rows("stable-diffusion", text2img=SD[Task.TEXT2IMG], img2img=SD[Task.IMG2IMG], inpaint=SD[Task.INPAINT],
                 pag=tuple(SD_PAG.values()))
    assert built == [PipelineRow("stable-diffusion", SD), PipelineRow("stable-diffusion", SD_PAG, modifiers=frozenset({"pag"}))]
    assert rows("stable-diffusion", **{t.value: ref for t, ref in SD.items()}) == [PipelineRow("stable-diffusion", SD)]
    assert rows("stable-diffusion", pag={"text2img": SD_PAG[Task.TEXT2IMG]}, text2img=SD[Task.TEXT2IMG])[1].classes == {Task.TEXT2IMG: SD_PAG[Task.TEXT2IMG]}


def test_a_task_without_a_pag_class_is_missing_there_with_a_reason():
    no_inpaint = "diffusers has no inpainting pipeline for this family"
    plain, pag = rows("lcm-like", text2img="diffusers:A", img2img="diffusers:B", pag=("diffusers:PA", None, None), missing={Task.INPAINT: no_inpaint})
    assert set(plain.classes) == {Task.TEXT2IMG, Task.IMG2IMG} and plain.missing == {Task.INPAINT: no_inpaint}
    assert pag.modifiers == {PAG} and set(pag.classes) == {Task.TEXT2IMG}
    assert pag.missing[Task.INPAINT] == no_inpaint  # the family's own reason, not a PAG one
    assert pag.missing[Task.IMG2IMG] == "diffusers has no PAG img2img pipeline for lcm-like; leave out enable_pag"


def test_bad_declarations_fail_when_made():
    with pytest.raises(ValueError, match="text2img, img2img, inpaint"):
        rows("fam", text2img="diffusers:A", pag=("diffusers:PA",))
    with pytest.raises(ValueError, match="text2img, img2img, inpaint"):
        rows("fam", text2img="diffusers:A", pag="diffusers:PA")
    with pytest.raises(ValueError, match="not of the form 'module:ClassName'"):
        rows("fam", text2img="StableDiffusionPipeline")  # the module is part of the reference
    with pytest.raises(ValueError, match="family name"):
        row("Not A Name", text2img="diffusers:A")


def test_row_takes_modifiers_missing_and_on_disk():
    built = row("kandinsky", text2img="diffusers:KandinskyPipeline", modifiers={"decoder"}, on_disk=(), missing={"inpaint": "why"})
    assert built == PipelineRow("kandinsky", {Task.TEXT2IMG: "diffusers:KandinskyPipeline"}, modifiers=frozenset({"decoder"}),
                                missing={Task.INPAINT: "why"}, on_disk=frozenset())
    assert row("kandinsky", text2img="diffusers:KandinskyPipeline").on_disk is None


def test_inpainting_only_is_the_variant_sd_sdxl_and_kandinsky_wrote():
    sd = Variant(
        name="inpainting-only", component="unet", key="in_channels", value=9, tasks=frozenset({Task.INPAINT}),
        reason="its UNet takes 9 input channels, latents plus mask plus masked image, so it needs a mask at every step",
    )
    assert inpainting_only() == sd
    kandinsky = inpainting_only(what="decoder UNet")
    assert kandinsky.reason.startswith("its decoder UNet takes 9 input channels") and kandinsky.matches({"unet": {"in_channels": 9}})
    assert not inpainting_only(channels=33).matches({"unet": {"in_channels": 9}})
    with pytest.raises(ValueError, match="channels"):
        inpainting_only(channels=True)


# --- lazy_hooks -------------------------------------------------------------------------------------------------------

PLUGIN = '''
from autopipe_core import FamilySpec, PipelineRow, Task, hookimpl
from autopipe_core.toolkit.rows import lazy_hooks

@hookimpl
def autopipe_families():
    return [FamilySpec("lazy-toy")]

globals().update(lazy_hooks(
    __name__,
    autopipe_load_plan=".code:plan",
    autopipe_footprint=".code:ALLOWANCE.footprint",
    autopipe_build_tiny=".code:build",
    autopipe_placement=".code:needs_more",
    autopipe_from_pretrained=".code:takes_all",
))
'''

CODE = '''
import dataclasses
from autopipe_core import GiB, LoadPlan
from autopipe_core.toolkit.allowance import Allowance

CALLS = []
ALLOWANCE = Allowance(at=GiB, reference=64, what="a toy")

def plan(device, identity):  # any subset of the hook's parameters, in any order
    CALLS.append(("plan", identity, device))
    return LoadPlan("float32", None, "device", "cpu", "toy")

def build(path, variant=None, seed=0):
    CALLS.append(("build", path, variant, seed))
    return path  # ignored by the core, as the hand-written wrapper's None was

def needs_more(plan, extra):
    return plan

def takes_all(**kwargs):
    return sorted(kwargs)
'''


@pytest.fixture
def lazy_toy(tmp_path, monkeypatch):
    package = tmp_path / "lazy_toy"
    package.mkdir()
    (package / "__init__.py").write_text(PLUGIN)
    (package / "code.py").write_text(CODE)
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("lazy_toy", "lazy_toy.code"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    import lazy_toy

    return lazy_toy


def test_the_functions_are_plain_hook_implementations_named_after_their_hooks(lazy_toy):
    for hook in ("autopipe_load_plan", "autopipe_footprint", "autopipe_build_tiny", "autopipe_placement"):
        function = getattr(lazy_toy, hook)
        assert type(function) is types.FunctionType and function.__name__ == hook and function.__module__ == "lazy_toy"
        assert isinstance(getattr(function, "autopipe_impl"), dict)  # hookimpl's marker
    pm = plugins.new_manager()
    pm.register(lazy_toy, name="lazy-toy")
    for hook in ("autopipe_load_plan", "autopipe_footprint", "autopipe_build_tiny"):
        impl = pm.impl(hook, "lazy-toy")
        assert impl is not None and tuple(impl.argnames) == _params(hook)


def _params(hook: str) -> tuple[str, ...]:
    import inspect

    return tuple(inspect.signature(getattr(hookspecs, hook)).parameters)


def test_the_code_is_imported_at_the_first_call_and_given_the_arguments_it_names(lazy_toy, tmp_path):
    assert "lazy_toy.code" not in sys.modules
    pm = plugins.new_manager()
    pm.register(lazy_toy, name="lazy-toy")
    from autopipe_core import DeviceFacts, Footprint, Identity

    identity, device = Identity("folder", "x", "Toy"), DeviceFacts("cuda", 1)
    plan = plugins.call(pm, "lazy-toy", "autopipe_load_plan", family="lazy-toy", identity=identity, device=device)
    code = sys.modules["lazy_toy.code"]
    assert plan.reason == "toy" and code.CALLS == [("plan", identity, device)]
    plugins.call(pm, "lazy-toy", "autopipe_build_tiny", family="lazy-toy", path=tmp_path, variant="x")
    assert code.CALLS[-1] == ("build", tmp_path, "x", 0)
    fp = plugins.call(pm, "lazy-toy", "autopipe_footprint", family="lazy-toy", identity=identity, plan=plan,
                      footprint=Footprint(()), width=None, height=None)
    assert (fp.activation.nbytes, fp.activation.width) == (2**30 * 2, 64)  # float32: twice the float16 figure
    everything = dict(family="lazy-toy", pipeline_class=object, model="m", kwargs={})
    assert plugins.call(pm, "lazy-toy", "autopipe_from_pretrained", **everything) == sorted(everything)


def test_a_function_that_needs_what_the_hook_does_not_give_is_a_clear_error(lazy_toy):
    with pytest.raises(TypeError, match=r"lazy_toy.code:needs_more takes 'extra', which the autopipe_placement hook does not give"):
        lazy_toy.autopipe_placement(family="f", identity=None, device=None, footprint=None, plan=None)


def test_the_function_is_looked_up_at_each_call_as_the_hand_written_wrapper_did(lazy_toy, monkeypatch):
    import lazy_toy.code

    monkeypatch.setattr(lazy_toy.code, "plan", lambda identity: "patched")
    assert lazy_toy.autopipe_load_plan(family="f", identity=None, device=None) == "patched"


def test_names_and_references_are_checked_when_declared():
    with pytest.raises(ValueError, match="'autopipe_load_plans' is not a hook"):
        lazy_hooks("pkg", autopipe_load_plans=".loading:plan")
    for bad in (".loading", "loading.plan", ".loading:", ":plan", ".loading:plan()", 3):
        with pytest.raises(ValueError, match="module:function"):
            lazy_hooks("pkg", autopipe_load_plan=bad)
    assert lazy_hooks("pkg.sub", autopipe_load_plan="..other:plan")["autopipe_load_plan"].target == "pkg.other:plan"
    assert lazy_hooks("pkg", autopipe_load_plan="elsewhere.mod:plan")["autopipe_load_plan"].target == "elsewhere.mod:plan"


def test_a_reference_per_family_sends_each_family_to_its_own_code(lazy_toy):
    import lazy_toy.code

    hooks = lazy_hooks("lazy_toy", autopipe_load_plan={"one": ".code:plan", "*": ".code:takes_all"}, autopipe_placement={"one": ".code:takes_all"})
    plan, placement = hooks["autopipe_load_plan"], hooks["autopipe_placement"]
    assert plan(family="one", identity="i", device="d").reason == "toy" and lazy_toy.code.CALLS[-1] == ("plan", "i", "d")
    assert plan(family="two", identity="i", device="d") == ["device", "family", "identity"]  # "*": every other family
    assert placement(family="one", identity=None, device=None, footprint=None, plan=None) == ["device", "family", "footprint", "identity", "plan"]
    assert placement(family="two", identity=None, device=None, footprint=None, plan=None) is None  # no entry: nothing to say
    assert plan.target == "one: lazy_toy.code:plan; *: lazy_toy.code:takes_all"
    with pytest.raises(ValueError, match="autopipe_detect is not asked for a family"):
        lazy_hooks("pkg", autopipe_detect={"one": ".single_file:detect"})
    with pytest.raises(ValueError, match="module:function"):
        lazy_hooks("pkg", autopipe_load_plan={"one": "plan"})


def test_the_shipped_plugins_register_their_hooks_without_importing_their_code():
    """The registration of every shipped plugin imports none of its loading, tiny or single-file modules."""
    code = textwrap.dedent(
        """
        import json, sys
        from autopipe_core.registry import get_registry
        registry = get_registry()
        hooks = {p.distribution: sorted(p.hooks) for p in registry.plugins}
        loaded = sorted(m for m in sys.modules if m.startswith("autopipe_") and m.rsplit(".", 1)[-1] in ("loading", "tiny", "single_file", "connected", "planning"))
        print(json.dumps([hooks, loaded]))
        """
    )
    import json
    import os

    env = {k: v for k, v in os.environ.items() if k != "AUTOPIPE_PLUGINS"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    hooks, loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert loaded == []
    assert {"autopipe_load_plan", "autopipe_footprint", "autopipe_build_tiny"} <= set(hooks["autopipe-sd"])
    assert {"autopipe_placement", "autopipe_from_pretrained"} <= set(hooks["autopipe-kandinsky"])
    assert "autopipe_detect" in hooks["autopipe-controlnet"]
