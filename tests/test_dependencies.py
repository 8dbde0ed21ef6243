"""A plugin whose classes the installed diffusers lacks (diffusers changed after the plugin was installed) says so in
`autopipe plugins` and refuses with the version to install, instead of failing to import; checked on toy distributions
laid out as pip lays out wheels, whose metadata requires a diffusers this environment does not have."""

from __future__ import annotations

import json
from importlib import metadata

import pytest
from toy_plugins import install

from autopipe_core import PluginError, UnsupportedModelError, resolve
from autopipe_core.cli import main
from autopipe_core.dependencies import Unmet, unmet

TOY = '''
from autopipe_core import FamilySpec, PipelineRow, Task, hookimpl

@hookimpl
def autopipe_families():
    return [FamilySpec(name="{family}")]

@hookimpl
def autopipe_pipelines():
    return [PipelineRow("{family}", {{Task.TEXT2IMG: "diffusers:{cls}"}})]
'''
DIFFUSERS = metadata.version("diffusers")


def _folder(tmp_path, cls):
    folder = tmp_path / cls
    folder.mkdir()
    (folder / "model_index.json").write_text(json.dumps({"_class_name": cls}))
    return folder


def test_a_class_the_installed_diffusers_lacks_is_refused_with_the_version_to_install(site, tmp_path, monkeypatch):
    install(site, "autopipe-toy-future", TOY.format(family="toy-future", cls="ToyFuturePipeline"), requires=("diffusers>=99.1,<100", "pluggy>=1"))
    monkeypatch.setenv("AUTOPIPE_PLUGINS", "autopipe-toy-future")
    resolution = resolve(_folder(tmp_path, "ToyFuturePipeline"), "text2img")  # resolution reads JSON: it still answers
    with pytest.raises(UnsupportedModelError) as caught:
        resolution.load_class()
    assert str(caught.value).endswith(
        f"autopipe-toy-future needs diffusers<100,>=99.1; diffusers {DIFFUSERS} is installed: pip install 'diffusers<100,>=99.1'"
    )
    assert "ToyFuturePipeline, which autopipe-toy-future serves for text2img of toy-future" in str(caught.value)


def test_a_class_missing_from_a_diffusers_the_plugin_accepts_is_the_plugins_error(site, tmp_path, monkeypatch):
    install(site, "autopipe-toy-typo", TOY.format(family="toy-typo", cls="StableDiffusionPipelin"), requires=(f"diffusers>={DIFFUSERS}",))
    monkeypatch.setenv("AUTOPIPE_PLUGINS", "autopipe-toy-typo")
    with pytest.raises(PluginError, match="registered diffusers:StableDiffusionPipelin"):
        resolve(_folder(tmp_path, "StableDiffusionPipelin"), "text2img").load_class()


def test_unmet_reads_requirements_markers_extras_and_absent_libraries(site):
    install(site, "autopipe-toy-reqs", "", requires=(
        "diffusers>=99", f"diffusers>={DIFFUSERS}; extra == 'test'", "pluggy>=1", "no-such-library-here>=1",
        "torch<0.1; python_version < '3'", "not a requirement !!",
    ))
    assert unmet("autopipe-toy-reqs") == (
        Unmet("autopipe-toy-reqs", "diffusers", ">=99", DIFFUSERS),
        Unmet("autopipe-toy-reqs", "no-such-library-here", ">=1", None),
    )
    assert unmet("autopipe-toy-reqs", frozenset({"diffusers"})) == (Unmet("autopipe-toy-reqs", "diffusers", ">=99", DIFFUSERS),)
    assert str(unmet("autopipe-toy-reqs")[1]) == "autopipe-toy-reqs needs no-such-library-here>=1; no-such-library-here is not installed: pip install 'no-such-library-here>=1'"
    assert unmet("autopipe-no-such-distribution") == ()


def test_autopipe_plugins_names_the_unmet_requirement_and_check_fails_on_it(site, monkeypatch, capsys):
    install(site, "autopipe-toy-future", TOY.format(family="toy-future", cls="ToyFuturePipeline"), requires=("diffusers>=99.1",))
    monkeypatch.setenv("AUTOPIPE_PLUGINS", "autopipe-toy-future")
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "autopipe-toy-future 1.0  [unmet requirements]" in out
    assert f"needs:     diffusers>=99.1 ({DIFFUSERS} is installed): pip install 'diffusers>=99.1'" in out
    assert main(["plugins", "--json"]) == 0
    listed = {p["distribution"]: p for p in json.loads(capsys.readouterr().out)["plugins"]}
    assert listed["autopipe-toy-future"]["unmet"] == [
        {"library": "diffusers", "specifier": ">=99.1", "installed": DIFFUSERS, "install": "pip install 'diffusers>=99.1'"}
    ]
    assert listed["autopipe-core"]["unmet"] == []
    assert main(["plugins", "--check"]) == 1
    out = capsys.readouterr().out
    assert "cannot import diffusers:ToyFuturePipeline" in out and "pip install 'diffusers>=99.1'" in out


def test_every_shipped_plugin_has_its_requirements_met_here():
    from autopipe_core.registry import build

    for plugin in build(allowed=None).plugins:
        assert unmet(plugin.distribution) == (), plugin.distribution
