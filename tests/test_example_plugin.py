"""The example third-party plugin (docs/examples/autopipe-lcm) works as a published plugin would.

Its wheel and the core's are pip-installed into a fresh virtual environment
(no editable install, no sys.path tricks: the example's sources are not on
any path there), then the `autopipe` command, from_pretrained and the
example's own test suite, which runs the conformance kit, are run with that
environment's python. This is the proof that docs/plugin-guide.md is enough
to write a working plugin: the example uses nothing else.
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
EXAMPLE = ROOT / "docs" / "examples" / "autopipe-lcm"
FAMILY = "latent-consistency"


@pytest.fixture(scope="module")
def bindir(tmp_path_factory) -> Path:
    wheels = tmp_path_factory.mktemp("wheels")
    pip = [sys.executable, "-m", "pip", "--quiet"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "--wheel-dir", str(wheels), str(ROOT), str(EXAMPLE)], check=True, capture_output=True)
    built = sorted(w.name.split("-")[0] for w in wheels.glob("*.whl"))
    assert built == ["autopipe_core", "autopipe_lcm"], built
    bindir = fresh_env(tmp_path_factory.mktemp("lcm") / "venv")
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
    assert sorted(listed) == ["autopipe-core", "autopipe-lcm"]
    lcm = listed["autopipe-lcm"]
    assert (lcm["version"], lcm["families"], lcm["error"]) == ("0.1.0", [FAMILY], None)
    assert set(lcm["hooks"]) == {"autopipe_families", "autopipe_pipelines", "autopipe_load_plan", "autopipe_build_tiny"}


def test_autopipe_resolve_uses_it(bindir, env, tmp_path):
    # resolve reads model_index.json alone: a folder with just that is a checkpoint to it
    folder = write_model_index(tmp_path / "lcm", "LatentConsistencyModelPipeline")
    out = subprocess.run([str(bindir / "autopipe"), "resolve", str(folder), "--json"], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    pipelines = {"text2img": "LatentConsistencyModelPipeline", "img2img": "LatentConsistencyModelImg2ImgPipeline", "inpaint": None}
    answer = json.loads(out.stdout)
    assert {k: answer[k] for k in ("family", "plugin", "pipelines")} == {"family": FAMILY, "plugin": "autopipe-lcm", "pipelines": pipelines}
    assert set(answer["refused"]) == {"inpaint"} and "no inpaint pipeline" in answer["refused"]["inpaint"]
    refusal = subprocess.run([str(bindir / "autopipe"), "resolve", str(folder), "--task", "inpaint"], capture_output=True, text=True, env=env)
    assert refusal.returncode == 1 and "pip install ./plugins/autopipe-sd" in refusal.stderr


def test_from_pretrained_loads_the_lcm_classes_from_the_installed_wheel(bindir, env, tmp_path):
    # The plugin's tiny checkpoint, built by its autopipe_build_tiny through the core, in the same process.
    code = f"""
import autopipe_lcm, torch
from autopipe_core import AutoPipelineForImage2Image, AutoPipelineForText2Image
from autopipe_core.tiny import build_tiny
tiny = build_tiny({FAMILY!r}, {str(tmp_path / "tiny")!r})
t2i = AutoPipelineForText2Image.from_pretrained(tiny)
i2i = AutoPipelineForImage2Image.from_pipe(t2i)
image = t2i("a fox", num_inference_steps=2, generator=torch.Generator().manual_seed(0)).images[0]
print(type(t2i).__name__, type(i2i).__name__, i2i.unet is t2i.unet, image.size, autopipe_lcm.__file__)
"""
    out = subprocess.run([str(bindir / "python"), "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    t2i, i2i, shared, *size, where = out.stdout.split()
    assert (t2i, i2i, shared) == ("LatentConsistencyModelPipeline", "LatentConsistencyModelImg2ImgPipeline", "True")
    assert Path(where).is_relative_to(bindir.parent) and "site-packages" in where  # the wheel's copy, not docs/examples


def test_its_own_suite_with_the_conformance_kit_passes_there(bindir, env, tmp_path):
    # The tests and the pytest settings only, in a folder of their own: the plugin comes from the wheel.
    shutil.copytree(EXAMPLE / "tests", tmp_path / "tests")
    shutil.copy(EXAMPLE / "pyproject.toml", tmp_path / "pyproject.toml")
    out = subprocess.run([str(bindir / "python"), "-m", "pytest", "-q", "-p", "no:randomly"], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    summary = out.stdout.strip().splitlines()[-1]
    assert "failed" not in summary and "skipped" not in summary and "error" not in summary, summary
    assert "TestConformance" in subprocess.run([str(bindir / "python"), "-m", "pytest", "--collect-only", "-q"], cwd=tmp_path, capture_output=True, text=True, env=env).stdout
