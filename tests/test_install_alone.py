"""Each plugin installs on its own next to the core, from a wheel, and the others' families say what to install.

The test builds wheels of autopipe-core and one plugin, installs them with pip
into a fresh virtual environment whose only other packages are the
third-party dependencies (torch, diffusers, ...) linked in from this one, and
asks the `autopipe` command there.
"""

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from layouts import fresh_env, write_model_index

ROOT = Path(__file__).resolve().parent.parent
PLUGINS = {tomllib.loads(p.read_text())["project"]["name"]: p.parent for p in sorted(ROOT.glob("plugins/*/pyproject.toml"))}
# One class each plugin's family answers for, so the others can be asked about.
PROBES = {
    "autopipe-sd": "StableDiffusionPipeline",
    "autopipe-sdxl": "StableDiffusionXLPipeline",
    "autopipe-kandinsky": "KandinskyV22CombinedPipeline",
    "autopipe-deepfloyd-if": "IFPipeline",
    "autopipe-lcm": "LatentConsistencyModelPipeline",
    "autopipe-kolors": "KolorsPipeline",
    "autopipe-sd3": "StableDiffusion3Pipeline",
    "autopipe-flux": "FluxPipeline",
    "autopipe-qwenimage": "QwenImagePipeline",
    "autopipe-pixart": "PixArtAlphaPipeline",
    "autopipe-hunyuandit": "HunyuanDiTPipeline",
    "autopipe-zimage": "ZImagePipeline",
    "autopipe-cascade": "StableCascadeCombinedPipeline",
    "autopipe-flux2": "Flux2Pipeline",
    "autopipe-lumina": "Lumina2Pipeline",
    "autopipe-auraflow": "AuraFlowPipeline",
    "autopipe-cogview": "CogView4Pipeline",
    "autopipe-bria": "BriaPipeline",
    "autopipe-ovis": "OvisImagePipeline",
    "autopipe-prx": "PRXPipeline",
    "autopipe-hidream": "HiDreamImagePipeline",
    "autopipe-helios": "HeliosPipeline",
    "autopipe-krea2": "Krea2Pipeline",
    "autopipe-nucleusmoe": "NucleusMoEImagePipeline",
    "autopipe-ideogram": "Ideogram4Pipeline",
    "autopipe-glm-image": "GlmImagePipeline",
}


def _pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "--quiet", *args], check=True, capture_output=True)


@pytest.fixture(scope="module")
def wheels(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheels")
    _pip("wheel", "--no-deps", "--no-build-isolation", "--no-index", "--wheel-dir", str(out), str(ROOT), *map(str, PLUGINS.values()))
    return out


@pytest.mark.parametrize("plugin", sorted(PLUGINS))
def test_a_plugin_installed_alone_works_and_the_others_say_install(plugin, wheels, tmp_path):
    bindir = fresh_env(tmp_path / "venv")
    dist_wheels = [str(w) for w in wheels.glob("*.whl") if w.name.split("-")[0].replace("_", "-") in ("autopipe-core", plugin)]
    assert len(dist_wheels) == 2, dist_wheels
    subprocess.run([sys.executable, "-m", "pip", "--quiet", "--python", str(bindir / "python"), "install", "--no-deps", "--no-index", *dist_wheels], check=True, capture_output=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTOPIPE_", "PYTHONPATH"))}

    listed = json.loads(subprocess.run([str(bindir / "autopipe"), "plugins", "--json"], capture_output=True, text=True, env=env, check=True).stdout)
    assert sorted(p["distribution"] for p in listed["plugins"]) == sorted(["autopipe-core", plugin])
    assert all(p["error"] is None for p in listed["plugins"])

    for other, class_name in PROBES.items():
        if other == plugin or other not in PLUGINS:
            continue
        folder = write_model_index(tmp_path / other, class_name)
        out = subprocess.run([str(bindir / "autopipe"), "resolve", str(folder)], capture_output=True, text=True, env=env)
        assert out.returncode == 1 and f"pip install ./plugins/{other}" in out.stderr, out.stderr
    if plugin in PROBES:
        folder = write_model_index(tmp_path / "own", PROBES[plugin])
        out = subprocess.run([str(bindir / "autopipe"), "resolve", str(folder), "--json"], capture_output=True, text=True, env=env)
        assert out.returncode == 0 and json.loads(out.stdout)["plugin"] == plugin, out.stderr


@pytest.mark.parametrize("plugin, layout, expected", [("autopipe-sd", "sd1", "StableDiffusionPipeline"), ("autopipe-sdxl", "xl-base", "StableDiffusionXLPipeline")])
def test_a_plugin_installed_alone_detects_its_single_files_with_the_configs_its_wheel_ships(plugin, layout, expected, wheels, tmp_path):
    import single_file_layouts

    bindir = fresh_env(tmp_path / "venv")
    dist_wheels = [str(w) for w in wheels.glob("*.whl") if w.name.split("-")[0].replace("_", "-") in ("autopipe-core", plugin)]
    subprocess.run([sys.executable, "-m", "pip", "--quiet", "--python", str(bindir / "python"), "install", "--no-deps", "--no-index", *dist_wheels], check=True, capture_output=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTOPIPE_", "PYTHONPATH"))}
    path = single_file_layouts.write(tmp_path / "model.safetensors", single_file_layouts.layout(layout))
    out = subprocess.run([str(bindir / "autopipe"), "inspect", str(path), "--json"], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    best = json.loads(out.stdout)["best"]
    config = Path(best["config"])
    assert best["plugin"] == plugin and best["pipeline_class"] == f"diffusers:{expected}"
    assert config.is_relative_to(tmp_path / "venv") and (config / "model_index.json").is_file()
    # The CLIP BPE merges ship once, in the core's wheel (autopipe_core/toolkit/data/clip-bpe), and load offline there.
    merges = subprocess.run([str(bindir / "python"), "-c", "import autopipe_core.toolkit.tokenizers as t; print(len(t.clip()))"], capture_output=True, text=True, env=env)
    assert merges.returncode == 0 and merges.stdout.strip() == "49408", merges.stderr
