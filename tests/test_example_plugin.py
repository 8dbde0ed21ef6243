"""The example third-party plugin (docs/examples/autopipe-amused) works as a published plugin would.

Its wheel and the core's are pip-installed into a fresh virtual environment
(no editable install, no sys.path tricks: the example's sources are not on
any path there), then the `autopipe` command, from_pretrained and the
example's own test suite, which runs the conformance kit, are run with that
environment's python. This is the proof that docs/plugin-guide.md is enough
to write a working plugin: the example uses nothing else. Its family, aMUSEd,
is one this repository ships no plugin for, and diffusers' own AutoPipeline
tables have no entry for it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from layouts import fresh_env, write_model_index

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "docs" / "examples" / "autopipe-amused"
FAMILY = "amused"
PIPELINES = {"text2img": "AmusedPipeline", "img2img": "AmusedImg2ImgPipeline", "inpaint": "AmusedInpaintPipeline"}


@pytest.fixture(scope="module")
def bindir(tmp_path_factory) -> Path:
    wheels = tmp_path_factory.mktemp("wheels")
    pip = [sys.executable, "-m", "pip", "--quiet"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "--wheel-dir", str(wheels), str(ROOT), str(EXAMPLE)], check=True, capture_output=True)
    built = sorted(w.name.split("-")[0] for w in wheels.glob("*.whl"))
    assert built == ["autopipe_amused", "autopipe_core"], built
    bindir = fresh_env(tmp_path_factory.mktemp("amused") / "venv")
    subprocess.run([*pip, "--python", str(bindir / "python"), "install", "--no-deps", "--no-index", *map(str, wheels.glob("*.whl"))], check=True, capture_output=True)
    return bindir


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    """No AUTOPIPE_* setting and no PYTHONPATH from this process: the venv finds the plugin by its entry point alone."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("AUTOPIPE_", "PYTHONPATH"))}
    environ.update(HF_HUB_OFFLINE="1", AUTOPIPE_CACHE=str(tmp_path_factory.mktemp("cache")), OMP_NUM_THREADS="1")
    return environ


def test_autopipe_plugins_lists_it_healthy(bindir, env):
    out = subprocess.run([str(bindir / "autopipe"), "plugins", "--json"], capture_output=True, text=True, env=env, check=True)
    listed = {p["distribution"]: p for p in json.loads(out.stdout)["plugins"]}
    assert sorted(listed) == ["autopipe-amused", "autopipe-core"]
    amused = listed["autopipe-amused"]
    assert (amused["version"], amused["families"], amused["error"]) == ("0.1.0", [FAMILY], None)
    assert set(amused["hooks"]) == {"autopipe_families", "autopipe_pipelines", "autopipe_load_plan", "autopipe_footprint", "autopipe_build_tiny"}


def test_autopipe_resolve_uses_it(bindir, env, tmp_path):
    # resolve reads model_index.json alone: a folder with just that is a checkpoint to it
    folder = write_model_index(tmp_path / "amused", "AmusedPipeline")
    out = subprocess.run([str(bindir / "autopipe"), "resolve", str(folder), "--json"], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"family": FAMILY, "plugin": "autopipe-amused", "pipelines": PIPELINES}
    inpaint = subprocess.run([str(bindir / "autopipe"), "resolve", str(folder), "--task", "inpaint", "--json"], capture_output=True, text=True, env=env)
    assert inpaint.returncode == 0 and json.loads(inpaint.stdout)["pipeline_class"] == "AmusedInpaintPipeline", inpaint.stderr


def test_from_pretrained_loads_the_amused_classes_from_the_installed_wheel(bindir, env, tmp_path):
    # The plugin's tiny checkpoint, built by its autopipe_build_tiny through the core, in the same process.
    code = f"""
import autopipe_amused, torch
from autopipe_core import AutoPipelineForImage2Image, AutoPipelineForInpainting, AutoPipelineForText2Image
from autopipe_core.tiny import build_tiny
tiny = build_tiny({FAMILY!r}, {str(tmp_path / "tiny")!r})
t2i = AutoPipelineForText2Image.from_pretrained(tiny)
i2i = AutoPipelineForImage2Image.from_pipe(t2i)
inpaint = AutoPipelineForInpainting.from_pipe(t2i)
image = t2i("a fox", num_inference_steps=2, generator=torch.Generator().manual_seed(0)).images[0]
shared = i2i.transformer is t2i.transformer is inpaint.transformer and inpaint.vqvae is t2i.vqvae
print(type(t2i).__name__, type(i2i).__name__, type(inpaint).__name__, shared, image.size, autopipe_amused.__file__)
"""
    out = subprocess.run([str(bindir / "python"), "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    t2i, i2i, inpaint, shared, *size, where = out.stdout.split()
    assert (t2i, i2i, inpaint, shared) == (*PIPELINES.values(), "True")
    assert "".join(size) == "(256,256)"  # 16x16 tokens of 16x16 pixels, as amused-256
    assert Path(where).is_relative_to(bindir.parent) and "site-packages" in where  # the wheel's copy, not docs/examples


def test_autopipe_demo_runs_every_task_on_its_tiny_checkpoint(bindir, env, tmp_path):
    out = subprocess.run(
        [str(bindir / "autopipe"), "demo", "--family", FAMILY, "--size", "256", "--steps", "2", "--out-dir", str(tmp_path)],
        capture_output=True, text=True, env=env,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "inpaint:  AmusedInpaintPipeline" in out.stdout and "weights shared across the three pipelines: yes" in out.stdout
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["img2img.png", "inpaint.png", "text2img.png"]


def test_its_own_suite_with_the_conformance_kit_passes_there(bindir, env, tmp_path):
    # The tests and the pytest settings only, in a folder of their own: the plugin comes from the wheel.
    shutil.copytree(EXAMPLE / "tests", tmp_path / "tests")
    shutil.copy(EXAMPLE / "pyproject.toml", tmp_path / "pyproject.toml")
    out = subprocess.run([str(bindir / "python"), "-m", "pytest", "-q", "-p", "no:randomly"], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    summary = out.stdout.strip().splitlines()[-1]
    assert "failed" not in summary and "skipped" not in summary and "error" not in summary, summary
    assert "TestConformance" in subprocess.run([str(bindir / "python"), "-m", "pytest", "--collect-only", "-q"], cwd=tmp_path, capture_output=True, text=True, env=env).stdout
