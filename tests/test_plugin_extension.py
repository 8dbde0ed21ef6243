"""Third-party plugins extending what is installed, with no core edit: real distributions pip-installed for the test.

- autopipe-sketch adds a modifier keyword (sketch_mode=) and a row of new
  task classes to a family it does not own (Stable Diffusion, autopipe-sd's);
- autopipe-rival-low and autopipe-rival-high claim the same class; the one
  that declares the higher FamilySpec.priority wins whatever the names'
  order, AUTOPIPE_PREFER overrides it, and `autopipe plugins` shows both.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from layouts import write_model_index

SKETCH = '''
"""Sketch pipelines for Stable Diffusion: a modifier and its rows, over autopipe-sd's family."""
from autopipe_core import ModifierSpec, PipelineRow, Task, hookimpl

@hookimpl
def autopipe_modifiers():
    return [ModifierSpec("sketch_mode", frozenset({"sketch"}), lambda on: "sketch" if on else None, consume=True)]

@hookimpl
def autopipe_pipelines():
    return [PipelineRow(
        "stable-diffusion",
        {Task.TEXT2IMG: "autopipe_sketch.classes:SketchPipeline", Task.IMG2IMG: "autopipe_sketch.classes:SketchImg2ImgPipeline"},
        modifiers={"sketch"},
        missing={Task.INPAINT: "sketches are drawn whole: there is no sketch inpainting"},
    )]
'''

SKETCH_CLASSES = '''
from diffusers import StableDiffusionImg2ImgPipeline, StableDiffusionPipeline

class SketchPipeline(StableDiffusionPipeline):
    pass

class SketchImg2ImgPipeline(StableDiffusionImg2ImgPipeline):
    pass
'''

RIVAL = '''
from autopipe_core import FamilySpec, PipelineRow, Task, hookimpl

@hookimpl
def autopipe_families():
    return [FamilySpec("{family}", priority={priority})]

@hookimpl
def autopipe_pipelines():
    return [PipelineRow("{family}", {{Task.TEXT2IMG: "fractions:Fraction"}})]
'''

# distribution -> {relative file: source}. "a-low" sorts and loads first: a first-come or by-name choice would pick it,
# so "b-high" winning shows the declared priority decides.
PROJECTS = {
    "autopipe-sketch": {"autopipe_sketch/__init__.py": SKETCH, "autopipe_sketch/classes.py": SKETCH_CLASSES},
    "autopipe-rival-a-low": {"autopipe_rival_a_low/__init__.py": RIVAL.format(family="rival-low", priority=0)},
    "autopipe-rival-b-high": {"autopipe_rival_b_high/__init__.py": RIVAL.format(family="rival-high", priority=10)},
}


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("projects")
    target = tmp_path_factory.mktemp("site")
    for dist, files in PROJECTS.items():
        module = dist.replace("-", "_")
        for rel, source in files.items():
            (root / dist / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / dist / rel).write_text(textwrap.dedent(source))
        (root / dist / "pyproject.toml").write_text(textwrap.dedent(f"""
            [build-system]
            requires = ["hatchling"]
            build-backend = "hatchling.build"
            [project]
            name = "{dist}"
            version = "2.0.0"
            dependencies = ["autopipe-core"]
            [project.entry-points."autopipe.plugins"]
            main = "{module}"
            [tool.hatch.build.targets.wheel]
            packages = ["{module}"]
        """))
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index", "--target", str(target), *(str(root / d) for d in PROJECTS)],
        check=True,
        capture_output=True,
    )
    return target


def _run(site: Path, args: list[str], plugins: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("AUTOPIPE_")}
    environ.update(PYTHONPATH=str(site), AUTOPIPE_PLUGINS=plugins, **env)
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=environ)


def _cli(site: Path, *args: str, plugins: str, **env: str) -> subprocess.CompletedProcess:
    return _run(site, ["-c", "import sys; from autopipe_core.cli import main; sys.exit(main(sys.argv[1:]))", *args], plugins, **env)


def test_a_third_party_modifier_and_rows_extend_another_plugins_family(site, tiny_sd):
    code = textwrap.dedent(f"""
        from autopipe_core import AutoPipelineForImage2Image as I, AutoPipelineForInpainting as P, AutoPipelineForText2Image as T
        from autopipe_core import UnsupportedTaskError
        sketch = T.from_pretrained({str(tiny_sd)!r}, sketch_mode=True)
        sketch_i2i = I.from_pipe(sketch)
        plain = T.from_pipe(sketch_i2i, sketch_mode=False)
        print(type(sketch).__name__, type(sketch_i2i).__name__, type(plain).__name__, sketch_i2i.unet is sketch.unet is plain.unet)
        try:
            P.from_pipe(sketch)
        except UnsupportedTaskError as refusal:
            print(refusal)
    """)
    out = _run(site, ["-c", code], "autopipe-sd,autopipe-sketch")
    assert out.returncode == 0, out.stderr
    classes, refusal = out.stdout.strip().splitlines()
    assert classes == "SketchPipeline SketchImg2ImgPipeline StableDiffusionPipeline True"
    assert "no sketch inpainting" in refusal


def test_plugins_lists_the_modifier_under_its_plugin_and_no_conflict(site):
    out = _cli(site, "plugins", "--json", plugins="autopipe-sd,autopipe-sketch")
    data = json.loads(out.stdout)
    listed = {p["distribution"]: p for p in data["plugins"]}
    assert listed["autopipe-sketch"]["modifiers"] == ["sketch_mode"] and listed["autopipe-sketch"]["families"] == []
    assert listed["autopipe-sketch"]["error"] is None and data["conflicts"] == []


def test_a_declared_priority_wins_and_autopipe_prefer_overrides_it(site, tmp_path):
    folder = write_model_index(tmp_path / "rival", "Fraction")
    both = "autopipe-rival-a-low,autopipe-rival-b-high"
    resolved = _cli(site, "resolve", str(folder), "--task", "t2i", "--json", plugins=both)
    assert json.loads(resolved.stdout)["family"] == "rival-high", resolved.stderr  # priority 10 beats the earlier name
    data = json.loads(_cli(site, "plugins", "--json", plugins=both).stdout)
    assert {"what": "class Fraction", "winner": "autopipe-rival-b-high", "losers": ["autopipe-rival-a-low"]} in data["conflicts"]

    preferred = _cli(site, "resolve", str(folder), "--task", "t2i", "--json", plugins=both, AUTOPIPE_PREFER="autopipe-rival-a-low")
    assert json.loads(preferred.stdout)["family"] == "rival-low"
    text = _cli(site, "plugins", plugins=both, AUTOPIPE_PREFER="autopipe-rival-a-low").stdout
    assert "conflict: class Fraction registered by autopipe-rival-a-low, autopipe-rival-b-high; autopipe-rival-a-low wins" in text
