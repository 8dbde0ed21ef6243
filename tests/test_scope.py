"""A load imports only the plugins it reads (autopipe_core.scope), and resolves exactly as the full registry does.

The full registry is the oracle: on every folder of the real-checkpoint corpus, for every task, with and without a
modifier keyword, the scoped registry's answer (a class, or an error and its message) is the full one's; and for every
class name the tables know, the scoped registry holds the same entries for it. A fresh process loading a tiny SDXL
folder and switching tasks imports the SDXL plugin and those the snapshot says the load reads, and no other.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import real_checkpoints_data as data
import toy_plugins
from autopipe_core import scope, snapshot
from autopipe_core.errors import PluginError, UnsupportedModelError
from autopipe_core.plugins import allowed_from_env
from autopipe_core.registry import build, get_registry, scoped
from autopipe_core.resolve import identify, resolve_identity
from autopipe_core.tasks import Task

CORPUS = data.corpus_dir()


def _answer(step, registry):
    try:
        r = step(registry)
    except Exception as exc:  # noqa: BLE001 - the error is the answer compared
        return (type(exc).__name__, str(exc))
    return (r.family, r.task, r.modifiers, r.class_ref, r.plugin, r.variant)


def test_every_corpus_folder_resolves_through_the_scoped_registry_as_through_the_full_one(every_plugin):
    if not (CORPUS / "manifest.json").is_file():
        pytest.skip(f"the real-checkpoint corpus is absent ({CORPUS})")
    full = every_plugin
    scoped_folders = set()
    for folder in sorted(p for p in CORPUS.iterdir() if p.is_dir()):
        for task in Task:
            for kwargs in ({}, {"enable_pag": True}, {"controlnet": None}):
                def step(registry, folder=folder, task=task, kwargs=kwargs):
                    return resolve_identity(identify(folder, registry), task, kwargs, registry)

                try:
                    resolution, used = scope.resolving(scope.folder_class(folder), step)
                    got = _answer(lambda r: resolution, used)
                except Exception as exc:  # noqa: BLE001
                    got, used = (type(exc).__name__, str(exc)), full
                assert got == _answer(step, full), (folder.name, task, kwargs)
                if used is not full:
                    scoped_folders.add(folder.name)
                    assert len(used.plugins) < len(full.plugins)
    # Ordinary checkpoints of each kind load through a scoped registry, not all left to the full one.
    assert {"sd15", "sdxl-base", "sd15-inpainting", "kolors", "sd3-medium", "flux1-dev", "kandinsky22-decoder-inpaint"} <= scoped_folders, sorted(scoped_folders)


def test_for_every_class_name_the_scoped_registry_holds_what_the_full_one_holds(every_plugin):
    full = every_plugin
    index = scope.Index(snapshot.load())
    names = sorted(set(full.claimants) | set(full.classes))
    assert len(names) > 100
    for name in names:
        wanted = scope.needed(index, (name,))
        assert wanted is not None, name
        part = scoped(wanted)
        assert part.candidates((name,)) == full.candidates((name,)), name
        assert part.identify((name,)) == full.identify((name,)), name
        own = full.identify((name,))  # None for a name only borrowed (FamilySpec.also_named)
        families = {e.family for e in full.candidates((name,))} | ({own.family} if own else set())
        for family in families:
            assert part.families[family] == full.families[family], (name, family)
            rows = {k: dict(v) for k, v in full.table.items() if k[0] == family}
            assert {k: dict(v) for k, v in part.table.items() if k[0] == family} == rows, (name, family)
        assert dict(part.modifiers) == dict(full.modifiers), name
    assert scope.needed(index, ("NoSuchPipeline",)) is None


def test_an_error_of_the_scoped_registry_is_the_full_registrys(every_plugin):
    full = every_plugin
    folder = CORPUS / "sdxl-base"
    if not folder.is_dir():
        pytest.skip(f"the real-checkpoint corpus is absent ({CORPUS})")
    seen = []

    def step(registry):
        seen.append(registry)
        if registry is not full:
            raise UnsupportedModelError("worded from the scoped registry")
        return resolve_identity(identify(folder, registry), Task.TEXT2IMG, {}, registry)

    resolution, used = scope.resolving(scope.folder_class(folder), step)
    assert used is full and len(seen) == 2 and seen[0] is not full
    assert resolution.pipeline_class == "StableDiffusionXLPipeline"


def test_a_folder_whose_class_changed_between_the_reads_is_resolved_with_the_full_registry(every_plugin, tmp_path):
    full = every_plugin
    sd, xl = CORPUS / "sd15", CORPUS / "sdxl-base"
    if not sd.is_dir():
        pytest.skip(f"the real-checkpoint corpus is absent ({CORPUS})")
    # Scoped for an SDXL folder's class, then the folder read is an SD 1.5 one: the answer must come from the full registry.
    resolution, used = scope.resolving(scope.folder_class(xl), lambda r: resolve_identity(identify(sd, r), Task.TEXT2IMG, {}, r))
    assert used is full and resolution.pipeline_class == "StableDiffusionPipeline"


def test_folder_class_reads_only_a_local_folders_model_index(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    assert scope.folder_class(folder) is None  # no model_index.json
    (folder / "model_index.json").write_text("[1]")
    assert scope.folder_class(folder) is None  # not an object: the full path says so
    (folder / "model_index.json").write_text(json.dumps({"_class_name": ["mod", "Cls"]}))
    assert scope.folder_class(folder) is None  # a custom pipeline: the full path refuses it
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    assert scope.folder_class(folder) == ("StableDiffusionPipeline",)
    assert scope.folder_class(str(folder)) == ("StableDiffusionPipeline",)
    assert scope.folder_class("someone/repo") is None and scope.folder_class(object()) is None


def test_with_no_valid_snapshot_a_load_uses_the_full_registry_and_saves_one(monkeypatch, tmp_path):
    monkeypatch.setenv("AUTOPIPE_PLUGINS", data.SHIPPED_PLUGINS)
    monkeypatch.setenv("AUTOPIPE_CACHE", str(tmp_path / "cache"))
    assert snapshot.load() is None
    assert scope.registry_for(("StableDiffusionXLPipeline",)) is get_registry()
    assert snapshot.load() is not None  # the next process scopes its loads


def test_under_autopipe_strict_a_broken_plugin_fails_a_load_as_it_fails_the_full_registry(monkeypatch, tmp_path, site):
    broken = toy_plugins.install(site, "autopipe-toy-broken", "raise RuntimeError('broken on import')\n")
    monkeypatch.setenv("AUTOPIPE_PLUGINS", f"{data.SHIPPED_PLUGINS},{broken}")
    monkeypatch.setenv("AUTOPIPE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("AUTOPIPE_STRICT", "1")
    # What the command line saves under AUTOPIPE_STRICT: the registry it built, broken plugin and all.
    assert snapshot.save(build(allowed_from_env())) is not None and snapshot.load()["broken"] == 1
    with pytest.raises(PluginError, match="AUTOPIPE_STRICT is set"):
        scope.registry_for(("StableDiffusionXLPipeline",))
    monkeypatch.delenv("AUTOPIPE_STRICT")
    assert snapshot.save(get_registry()) is not None
    assert len(scope.registry_for(("StableDiffusionXLPipeline",)).plugins) < len(get_registry().plugins)  # not strict: scoped


LOAD = """
import json, sys, torch
from autopipe_core import AutoPipelineForImage2Image, AutoPipelineForInpainting, AutoPipelineForText2Image
pipe = AutoPipelineForText2Image.from_pretrained(sys.argv[1], torch_dtype=torch.float32)
after_load = sorted(m for m in sys.modules if m.startswith("autopipe_") and "." not in m)
pipe = AutoPipelineForInpainting.from_pipe(AutoPipelineForImage2Image.from_pipe(pipe))
print(json.dumps([type(pipe).__name__, after_load, sorted(m for m in sys.modules if m.startswith("autopipe_") and "." not in m)]))
"""


def test_a_fresh_process_loading_an_sdxl_folder_imports_only_the_plugins_the_load_reads(tiny_checkpoint, tmp_path):
    folder = tiny_checkpoint("stable-diffusion-xl")
    env = {**os.environ, "AUTOPIPE_CACHE": str(tmp_path / "cache"), "AUTOPIPE_PLUGINS": data.SHIPPED_PLUGINS}
    cwd = tmp_path / "cwd"
    cwd.mkdir()

    def run() -> list:
        out = subprocess.run([sys.executable, "-c", LOAD, str(folder)], env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr[-3000:]
        return json.loads(out.stdout.strip().splitlines()[-1])

    shipped = {d.strip().replace("-", "_") for d in data.SHIPPED_PLUGINS.split(",")}
    cls, loaded, switched = run()  # no snapshot yet: every plugin, and the snapshot saved
    assert cls == "StableDiffusionXLInpaintPipeline" and shipped <= set(loaded)
    cls, loaded, switched = run()
    index = scope.Index(snapshot_in(env))
    wanted = {d.replace("-", "_") for d in scope.needed(index, ("StableDiffusionXLPipeline",))} - {"autopipe_core"}
    assert cls == "StableDiffusionXLInpaintPipeline"
    assert "autopipe_sdxl" in wanted and "autopipe_flux" not in wanted
    assert set(loaded) - {"autopipe_core"} == wanted
    assert set(switched) - {"autopipe_core"} == wanted  # the switches read the same plugins


def snapshot_in(env: dict) -> dict:
    """The snapshot the child processes saved (one file: their key is not this process's)."""
    import marshal

    files = list(Path(env["AUTOPIPE_CACHE"], "registry").glob("*.marshal"))
    assert len(files) == 1, files
    return marshal.loads(files[0].read_bytes())
