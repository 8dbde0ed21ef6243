"""AUTOPIPE_PLUGINS and AUTOPIPE_PREFER as a user gets them wrong: a plugin left out is not one to install, a typo is said.

This suite runs with AUTOPIPE_PLUGINS=autopipe-sd (conftest.py) in an environment where every shipped plugin is
installed, so autopipe-sdxl and autopipe-controlnet are installed but left out: the case a setting left from a test,
or a list that forgot one, puts a user in. The plugins truly not installed are in tests/test_install_alone.py.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from layouts import write_model_index
from toy_plugins import install

from autopipe_core import UnsupportedModelError, resolve
from autopipe_core import registry as registry_module
from autopipe_core.known import install_command

UNET = {"in_channels": 4, "sample_size": 8, "cross_attention_dim": 32}
LEFT_OUT = "installed but AUTOPIPE_PLUGINS='autopipe-sd' leaves it out: add it to AUTOPIPE_PLUGINS, or unset AUTOPIPE_PLUGINS to load every installed plugin."


def test_a_class_whose_plugin_is_installed_but_left_out_says_to_add_it_not_to_install_it(tmp_path):
    folder = write_model_index(tmp_path / "m", "StableDiffusionXLPipeline")
    with pytest.raises(UnsupportedModelError) as info:
        resolve(folder, "text2img")
    assert str(info.value) == f"StableDiffusionXLPipeline (from {folder}) is handled by a plugin that is not loaded. autopipe-sdxl is {LEFT_OUT}"


def test_a_modifier_whose_row_is_in_a_left_out_plugin_says_so(tmp_path):
    folder = write_model_index(tmp_path / "m", "StableDiffusionPipeline", unet=dict(UNET))
    with pytest.raises(UnsupportedModelError) as info:
        resolve(folder, "text2img", controlnet=object())
    assert str(info.value) == (
        f"{folder}: there is no stable-diffusion + controlnet pipeline. Combinations available: stable-diffusion; stable-diffusion + pag. "
        f"The plugin that has it is not loaded. autopipe-controlnet is {LEFT_OUT}"
    )


def test_not_loaded_tells_left_out_failed_and_absent_apart(site, monkeypatch):
    broken = install(site, "toy-broken", "raise RuntimeError('no torch here')\n")
    monkeypatch.setenv("AUTOPIPE_PLUGINS", f"autopipe-sd,{broken}")
    reg = registry_module.get_registry()
    assert [p.distribution for p in reg.plugins if not p.ok] == [broken]
    assert registry_module.not_loaded(["autopipe-nonesuch"], reg) == ("not installed", f"Install it with: {install_command(['autopipe-nonesuch'])}")
    assert registry_module.not_loaded([broken], reg) == ("not loaded", f"{broken} is installed but failed to load: `autopipe plugins` says why.")
    setting = f"AUTOPIPE_PLUGINS='autopipe-sd,{broken}'"
    assert registry_module.not_loaded(["autopipe-sdxl", "autopipe-kolors", broken, "autopipe-nonesuch", "autopipe-other"], reg) == (
        "not loaded",
        f"autopipe-sdxl, autopipe-kolors are installed but {setting} leaves them out: add them to AUTOPIPE_PLUGINS, "
        f"or unset AUTOPIPE_PLUGINS to load every installed plugin. {broken} is installed but failed to load: `autopipe plugins` says why. "
        f"Install them with: {install_command(['autopipe-nonesuch', 'autopipe-other'])}",
    )
    other = install(site, "toy-broken-too", "raise RuntimeError('nor here')\n")
    monkeypatch.setenv("AUTOPIPE_PLUGINS", f"autopipe-sd,{broken},{other}")
    assert registry_module.not_loaded([broken, other], registry_module.get_registry()) == (
        "not loaded", f"{broken}, {other} are installed but failed to load: `autopipe plugins` says why."
    )
    monkeypatch.delenv("AUTOPIPE_PLUGINS")
    assert registry_module.left_out() == ()
    assert registry_module.not_loaded(["autopipe-nonesuch"], registry_module.get_registry())[0] == "not installed"


def test_left_out_lists_every_installed_plugin_the_setting_does_not_name(monkeypatch):
    from autopipe_core.plugins import installed

    everything = installed()
    assert {"autopipe-sd", "autopipe-sdxl", "autopipe-controlnet"} <= everything
    assert registry_module.left_out() == tuple(sorted(everything - {"autopipe-sd"}))
    monkeypatch.setenv("AUTOPIPE_PLUGINS", "Autopipe_SDXL, autopipe-sd")
    assert "autopipe-sdxl" not in registry_module.left_out() and "autopipe-sd" not in registry_module.left_out()
    monkeypatch.setenv("AUTOPIPE_PLUGINS", "")
    assert registry_module.left_out() == tuple(sorted(everything))


def test_names_in_the_settings_that_match_no_installed_plugin_are_said(tmp_path, monkeypatch):
    assert registry_module.not_installed_settings() == {}
    monkeypatch.setenv("AUTOPIPE_PLUGINS", "autopipe-sd, autopipe-sdd, autopipe-core")
    monkeypatch.setenv("AUTOPIPE_PREFER", "autopipe-sdx,autopipe-sd")
    assert registry_module.not_installed_settings() == {"AUTOPIPE_PLUGINS": ("autopipe-sdd",), "AUTOPIPE_PREFER": ("autopipe-sdx",)}
    folder = write_model_index(tmp_path / "m", "TotallyNewPipeline")
    with pytest.raises(UnsupportedModelError) as info:
        resolve(folder, "text2img")
    assert str(info.value) == (
        f"no installed autopipe plugin handles TotallyNewPipeline (from {folder}). Families installed: stable-diffusion (autopipe-sd). "
        "AUTOPIPE_PLUGINS names autopipe-sdd, which is not installed. AUTOPIPE_PREFER names autopipe-sdx, which is not installed. "
        "If a plugin exists for this model, pip install it; `autopipe plugins` lists what is loaded and what failed."
    )


def test_a_class_nobody_handles_counts_the_families_when_there_are_many(tmp_path, monkeypatch):
    monkeypatch.delenv("AUTOPIPE_PLUGINS")
    reg = registry_module.get_registry()
    families, plugins = len(reg.families), len({p for _, p in reg.families.values()})
    assert families > 8
    folder = write_model_index(tmp_path / "m", "TotallyNewPipeline")
    with pytest.raises(UnsupportedModelError) as info:
        resolve(folder, "text2img")
    assert str(info.value) == (
        f"no installed autopipe plugin handles TotallyNewPipeline (from {folder}). Families installed: {families}, from {plugins} plugins. "
        "If a plugin exists for this model, pip install it; `autopipe plugins` lists what is loaded and what failed."
    )


def test_autopipe_plugins_lists_what_the_settings_leave_out_and_the_names_they_get_wrong(monkeypatch):
    from autopipe_core.plugins import installed

    env = {**__import__("os").environ, "AUTOPIPE_PLUGINS": "autopipe-sd,autopipe-sdd", "AUTOPIPE_PREFER": "autopipe-sdx"}
    run = lambda *a: subprocess.run([sys.executable, "-m", "autopipe_core.cli", "plugins", *a], capture_output=True, text=True, env=env)  # noqa: E731
    text, as_json = run(), run("--json")
    assert text.returncode == 0 and as_json.returncode == 0, text.stderr + as_json.stderr
    left = sorted(installed() - {"autopipe-sd"})
    assert text.stdout.splitlines()[-3:] == [
        f"left out by AUTOPIPE_PLUGINS (installed, not loaded): {', '.join(left)}",
        "AUTOPIPE_PLUGINS names autopipe-sdd, which is not installed",
        "AUTOPIPE_PREFER names autopipe-sdx, which is not installed",
    ]
    data = json.loads(as_json.stdout)
    assert data["left_out"] == left and data["not_installed"] == {"AUTOPIPE_PLUGINS": ["autopipe-sdd"], "AUTOPIPE_PREFER": ["autopipe-sdx"]}


def _families(site, count: int) -> str:
    """A toy plugin registering `count` families (toy0, toy1, ...) and nothing else."""
    names = ", ".join(f'FamilySpec("toy{i}")' for i in range(count))
    return install(site, f"toy-families-{count}", f"""
from autopipe_core import FamilySpec, hookimpl

@hookimpl
def autopipe_families():
    return [{names}]
""")


@pytest.mark.parametrize(("toys", "listed"), [(7, True), (8, False)])
def test_up_to_eight_families_are_named_and_more_are_counted(site, tmp_path, monkeypatch, toys, listed):
    dist = _families(site, toys)
    monkeypatch.setenv("AUTOPIPE_PLUGINS", f"autopipe-sd,{dist}")
    folder = write_model_index(tmp_path / "m", "TotallyNewPipeline")
    with pytest.raises(UnsupportedModelError) as info:
        resolve(folder, "text2img")
    if listed:  # 8 in all: stable-diffusion and toy0..toy6
        named = ", ".join(["stable-diffusion (autopipe-sd)", *(f"toy{i} ({dist})" for i in range(toys))])
        assert f"Families installed: {named}. If a plugin" in str(info.value)
    else:
        assert f"Families installed: {toys + 1}, from 2 plugins. If a plugin" in str(info.value)


def test_several_names_that_match_nothing_are_said_together(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOPIPE_PLUGINS", "autopipe-sd,autopipe-sdd,autopipe-sdxxl")
    folder = write_model_index(tmp_path / "m", "TotallyNewPipeline")
    with pytest.raises(UnsupportedModelError) as info:
        resolve(folder, "text2img")
    assert "(autopipe-sd). AUTOPIPE_PLUGINS names autopipe-sdd, autopipe-sdxxl, which are not installed. If a plugin" in str(info.value)


def test_a_modifier_keyword_of_a_plugin_left_out_says_so(monkeypatch):
    # known.json names no modifier today (the core registers enable_pag and controlnet); one a plugin registers
    # would be written there by bench/known_table.py, as this stands for.
    import importlib

    resolution = importlib.import_module("autopipe_core.resolve")  # the module: autopipe_core.resolve is also the function
    monkeypatch.setattr(resolution, "known_modifiers", lambda: {"ip_adapter_toy": "autopipe-sdxl"})
    modifiers_for = resolution.modifiers_for
    reg = registry_module.get_registry()
    with pytest.raises(UnsupportedModelError) as info:
        modifiers_for(reg, frozenset(), {"ip_adapter_toy": object()})
    assert str(info.value) == f"ip_adapter_toy= needs the plugin autopipe-sdxl, which is not loaded. autopipe-sdxl is {LEFT_OUT}"
    assert modifiers_for(reg, frozenset(), {"ip_adapter_toy": None}) == frozenset()  # None asks for nothing
