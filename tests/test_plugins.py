"""Discovery through entry points, with real distributions pip-installed for the test.

One good third-party plugin, one that fails to import, one whose entry point
names a missing module, one that raises in a hook, one that registers
malformed data, and one that claims another plugin's class.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from layouts import write_model_index

from autopipe_core import registry as registry_module

TOY = '''
from autopipe_core import FamilySpec, PipelineRow, Task, hookimpl

@hookimpl
def autopipe_families():
    return [FamilySpec("{family}", description="a toy family")]

@hookimpl
def autopipe_pipelines():
    return [PipelineRow("{family}", {{Task.TEXT2IMG: "autopipe_toy_classes:ToyPipeline"}})]
'''

# A two-stage family: a decoder checkpoint on disk loads as the combined pipeline (on_disk), and the
# family loads it with its own code (autopipe_from_pretrained). Stand-in classes from the standard library.
TWO_STAGE = """
from autopipe_core import FamilySpec, PipelineRow, Task, hookimpl

@hookimpl
def autopipe_families():
    return [FamilySpec("two-stage")]

@hookimpl
def autopipe_pipelines():
    return [
        PipelineRow("two-stage", {Task.TEXT2IMG: "fractions:Fraction"}),
        PipelineRow("two-stage", {Task.TEXT2IMG: "decimal:Decimal"}, modifiers={"decoder"}, on_disk=frozenset()),
    ]

@hookimpl
def autopipe_from_pretrained(family, pipeline_class, model, kwargs):
    return f"{family} loaded {pipeline_class.__name__} from {model} with {sorted(kwargs)}"
"""

PLUGINS = {
    # distribution: (module name, module source, entry point value)
    "autopipe-toy": ("autopipe_toy", TOY.format(family="toy"), "autopipe_toy"),
    "autopipe-toy-fork": ("autopipe_toy_fork", TOY.format(family="toy-fork"), "autopipe_toy_fork"),
    "autopipe-two-stage": ("autopipe_two_stage", TWO_STAGE, "autopipe_two_stage"),
    "autopipe-broken": ("autopipe_broken", "import autopipe_no_such_dependency\n", "autopipe_broken"),
    "autopipe-ghost": ("autopipe_ghost", "", "autopipe_ghost_was_renamed"),
    "autopipe-raises": (
        "autopipe_raises",
        "from autopipe_core import hookimpl\n@hookimpl\ndef autopipe_families():\n    raise RuntimeError('boom in families')\n",
        "autopipe_raises",
    ),
    "autopipe-malformed": (
        "autopipe_malformed",
        "from autopipe_core import hookimpl\n@hookimpl\ndef autopipe_pipelines():\n    return ['StableDiffusionPipeline']\n",
        "autopipe_malformed",
    ),
}


def _write_project(root: Path, dist: str, module: str, source: str, entry: str) -> Path:
    project = root / dist
    (project / module).mkdir(parents=True)
    (project / module / "__init__.py").write_text(source)
    (project / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""
            [build-system]
            requires = ["hatchling"]
            build-backend = "hatchling.build"
            [project]
            name = "{dist}"
            version = "1.2.3"
            dependencies = ["autopipe-core"]
            [project.entry-points."autopipe.plugins"]
            main = "{entry}"
            [tool.hatch.build.targets.wheel]
            packages = ["{module}"]
            """
        )
    )
    return project


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """A folder the test distributions are pip-installed into (as wheels, no editable tricks)."""
    root = tmp_path_factory.mktemp("plugin-projects")
    target = tmp_path_factory.mktemp("site")
    projects = [str(_write_project(root, d, *spec)) for d, spec in PLUGINS.items()]
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index", "--target", str(target), *projects],
        check=True,
        capture_output=True,
    )
    return target


def _autopipe(site: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != "AUTOPIPE_PLUGINS"}
    environ["PYTHONPATH"] = os.pathsep.join([str(site), environ.get("PYTHONPATH", "")])
    environ.update(env)
    code = "import sys; from autopipe_core.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=environ)


def _plugins(site: Path, **env: str) -> dict:
    out = _autopipe(site, "plugins", "--json", **env)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    return {"plugins": {p["distribution"]: p for p in data["plugins"]}, "conflicts": data["conflicts"]}


def test_every_plugin_is_listed_with_its_health(site):
    listed = _plugins(site)["plugins"]
    assert listed["autopipe-toy"]["error"] is None and listed["autopipe-toy"]["families"] == ["toy"]
    assert listed["autopipe-toy"]["version"] == "1.2.3"
    assert listed["autopipe-sd"]["error"] is None and listed["autopipe-sd"]["families"] == ["stable-diffusion"]
    assert "autopipe_no_such_dependency" in listed["autopipe-broken"]["error"]
    assert "ModuleNotFoundError" in listed["autopipe-ghost"]["error"]
    assert "boom in families" in listed["autopipe-raises"]["error"]
    assert "PipelineRow" in listed["autopipe-malformed"]["error"]
    assert listed["autopipe-malformed"]["families"] == []


def test_broken_plugins_do_not_take_the_others_down(site, tiny_sd):
    out = _autopipe(site, "resolve", str(tiny_sd), "--task", "inpaint")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "StableDiffusionInpaintPipeline"


def test_text_listing_names_the_broken_distribution(site):
    out = _autopipe(site, "plugins")
    assert out.returncode == 0
    assert "autopipe-broken 1.2.3  [BROKEN]" in out.stdout
    assert "autopipe-toy 1.2.3  [ok]" in out.stdout


def test_autopipe_plugins_restricts_what_loads(site, tmp_path):
    listed = _plugins(site, AUTOPIPE_PLUGINS="autopipe-toy, Autopipe_Broken")["plugins"]
    assert set(listed) == {"autopipe-core", "autopipe-toy", "autopipe-broken"}
    folder = write_model_index(tmp_path / "toy", "ToyPipeline")
    out = _autopipe(site, "resolve", str(folder), "--json", AUTOPIPE_PLUGINS="autopipe-toy")
    assert json.loads(out.stdout) == {"family": "toy", "plugin": "autopipe-toy", "pipelines": {"text2img": "ToyPipeline", "img2img": None, "inpaint": None}}


def test_empty_autopipe_plugins_loads_none(site, tiny_sd):
    assert set(_plugins(site, AUTOPIPE_PLUGINS="")["plugins"]) == {"autopipe-core"}
    out = _autopipe(site, "resolve", str(tiny_sd), AUTOPIPE_PLUGINS="")
    assert out.returncode == 1 and "pip install autopipe-sd" in out.stderr


def test_strict_mode_makes_plugin_errors_fatal(site):
    out = _autopipe(site, "plugins", AUTOPIPE_STRICT="1")
    assert out.returncode == 1
    assert "autopipe-broken" in out.stderr and "autopipe-ghost" in out.stderr
    assert _autopipe(site, "plugins", AUTOPIPE_STRICT="1", AUTOPIPE_PLUGINS="autopipe-toy,autopipe-sd").returncode == 0


def test_a_class_claimed_twice_is_a_reported_predictable_conflict(site, tmp_path):
    folder = write_model_index(tmp_path / "toy", "ToyPipeline")
    both = "autopipe-toy,autopipe-toy-fork"
    data = _plugins(site, AUTOPIPE_PLUGINS=both)
    assert {"what": "class ToyPipeline", "winner": "autopipe-toy", "losers": ["autopipe-toy-fork"]} in data["conflicts"]
    out = _autopipe(site, "resolve", str(folder), "--task", "t2i", "--json", AUTOPIPE_PLUGINS=both)
    assert json.loads(out.stdout)["family"] == "toy"
    out = _autopipe(site, "resolve", str(folder), "--task", "t2i", "--json", AUTOPIPE_PLUGINS=both, AUTOPIPE_PREFER="autopipe-toy-fork")
    assert json.loads(out.stdout)["family"] == "toy-fork"


def test_in_process_registry_sees_the_same(site, monkeypatch):
    monkeypatch.syspath_prepend(str(site))
    reg = registry_module.build(allowed=None)
    health = {p.distribution: p.ok for p in reg.plugins}
    assert health["autopipe-toy"] and health["autopipe-sd"] and not health["autopipe-broken"]
    assert reg.classes["ToyPipeline"].family == "toy"
    assert reg.classes["StableDiffusionPipeline"].plugin == "autopipe-sd"


def test_a_checkpoint_on_disk_resolves_with_its_rows_on_disk_modifiers(site, tmp_path):
    folder = write_model_index(tmp_path / "decoder", "Decimal")
    out = _autopipe(site, "resolve", str(folder), "--task", "t2i", AUTOPIPE_PLUGINS="autopipe-two-stage")
    assert out.stdout.strip() == "Fraction", out.stderr  # the combined class, not the decoder's own


def test_a_family_can_load_with_its_own_code(site, tmp_path):
    folder = write_model_index(tmp_path / "decoder", "Decimal")
    code = f"from autopipe_core import AutoPipelineForText2Image as A; print(A.from_pretrained({str(folder)!r}, prior=1))"
    env = {**os.environ, "PYTHONPATH": str(site), "AUTOPIPE_PLUGINS": "autopipe-two-stage"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.stdout.strip() == f"two-stage loaded Fraction from {folder} with ['prior']", out.stderr


def test_a_live_pipeline_keeps_its_rows_own_modifiers(site, monkeypatch):
    from autopipe_core.resolve import resolve_identity
    from autopipe_core.specs import Identity

    monkeypatch.syspath_prepend(str(site))
    reg = registry_module.build(allowed=frozenset({"autopipe-two-stage"}))
    live = Identity("pipeline", "x", "Decimal", bases=("Decimal", "object"))
    assert resolve_identity(live, "t2i", {}, reg).pipeline_class == "Decimal"
    assert resolve_identity(Identity("folder", "x", "Decimal"), "t2i", {}, reg).pipeline_class == "Fraction"
