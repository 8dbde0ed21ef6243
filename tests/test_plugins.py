"""Discovery through entry points, with real distributions pip-installed for the test.

One good third-party plugin, one that fails to import, one whose entry point
names a missing module, one that raises in a hook, one that registers
malformed data, and one that claims another plugin's class; one per hook of
hookspecs.HOOKS that raises in that hook, one that exits, one slow to import,
one that registers classes that do not exist (docs/reliability.md).
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from layouts import install_plugins, write_model_index

from autopipe_core import PluginError, hookspecs
from autopipe_core import registry as registry_module
from autopipe_core.plugins import SLOW_IMPORT_SECONDS

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

LOADED = []

@hookimpl
def autopipe_from_pretrained(family, pipeline_class, model, kwargs):
    LOADED.append(f"{family} loaded {pipeline_class.__name__} from {model} with {sorted(kwargs)}")
    return pipeline_class(1)
"""


def _raiser_dist(hook: str) -> str:
    return "autopipe-raises-in-" + hook.removeprefix("autopipe_").replace("_", "-")


def _raiser(hook: str) -> str:
    """A plugin that registers a healthy family, and whose `hook` raises (every hook, so hooks added later too)."""
    family = _raiser_dist(hook).removeprefix("autopipe-")
    source = "from autopipe_core import FamilySpec, PipelineRow, Task, hookimpl\n"
    if hook != "autopipe_families":
        source += f"@hookimpl\ndef autopipe_families():\n    return [FamilySpec({family!r})]\n"
    if hook != "autopipe_pipelines":
        source += f"@hookimpl\ndef autopipe_pipelines():\n    return [PipelineRow({family!r}, {{Task.TEXT2IMG: 'fractions:Fraction'}})]\n"
    return source + f"@hookimpl\ndef {hook}():\n    raise RuntimeError('boom in {hook}')\n"


# A plugin whose import takes longer than SLOW_IMPORT_SECONDS (0.5 s).
SLOW = "import time\ntime.sleep(0.6)\n" + TOY.format(family="slow").replace("ToyPipeline", "SlowPipeline")

# A plugin that registers classes that do not exist: one diffusers lacks, one in a module that is not installed.
GHOST_CLASSES = """
from autopipe_core import FamilySpec, PipelineRow, Task, hookimpl

@hookimpl
def autopipe_families():
    return [FamilySpec("ghost-classes")]

@hookimpl
def autopipe_pipelines():
    return [PipelineRow("ghost-classes", {Task.TEXT2IMG: "diffusers:NoSuchPipeline", Task.IMG2IMG: "autopipe_no_such_module:Pipe"})]
"""

# ValueError in a loading hook (diffusers' kind of error: a checkpoint it cannot load) and in a computing one.
VALUE_ERROR = """
from autopipe_core import FamilySpec, PipelineRow, Task, hookimpl

@hookimpl
def autopipe_families():
    return [FamilySpec("value-error")]

@hookimpl
def autopipe_pipelines():
    return [PipelineRow("value-error", {Task.TEXT2IMG: "fractions:Fraction"})]

@hookimpl
def autopipe_from_pretrained():
    raise ValueError("no file named diffusion_pytorch_model.safetensors")

@hookimpl
def autopipe_load_plan():
    raise ValueError("bad arithmetic")
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
    "autopipe-not-a-list": (
        "autopipe_not_a_list",
        "from autopipe_core import hookimpl\n@hookimpl\ndef autopipe_modifiers():\n    return 42\n",
        "autopipe_not_a_list",
    ),
    "autopipe-exits": (
        "autopipe_exits",
        "from autopipe_core import hookimpl\n@hookimpl\ndef autopipe_families():\n    raise SystemExit(3)\n",
        "autopipe_exits",
    ),
    "autopipe-slow": ("autopipe_slow", SLOW, "autopipe_slow"),
    "autopipe-value-error": ("autopipe_value_error", VALUE_ERROR, "autopipe_value_error"),
    "autopipe-ghost-classes": ("autopipe_ghost_classes", GHOST_CLASSES, "autopipe_ghost_classes"),
    **{_raiser_dist(h): (_raiser_dist(h).replace("-", "_"), _raiser(h), _raiser_dist(h).replace("-", "_")) for h in hookspecs.HOOKS},
}


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """A folder the test distributions are pip-installed into (as wheels, no editable tricks)."""
    return install_plugins(tmp_path_factory.mktemp("plugin-projects"), tmp_path_factory.mktemp("site"), PLUGINS)


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
    assert "its autopipe_modifiers hook: must return a list of ModifierSpec, not int" in listed["autopipe-not-a-list"]["error"]
    assert "SystemExit: 3" in listed["autopipe-exits"]["error"]


def test_a_slow_import_is_measured_and_shown_and_blocks_no_one(site, tiny_sd):
    listed = _plugins(site)["plugins"]
    # The slow toy sleeps 0.6 s at import, so its measured time is at least that on any machine; the other toys'
    # imports take what the machine gives them, so each is only checked to be labelled by its own measure.
    assert listed["autopipe-slow"]["slow_import"] and listed["autopipe-slow"]["import_seconds"] >= 0.6
    assert listed["autopipe-slow"]["error"] is None and listed["autopipe-slow"]["families"] == ["slow"]
    for name, entry in listed.items():
        if abs(entry["import_seconds"] - SLOW_IMPORT_SECONDS) >= 1e-4:  # the listing rounds to 4 places
            assert entry["slow_import"] is (entry["import_seconds"] > SLOW_IMPORT_SECONDS), name
    out = _autopipe(site, "plugins")
    slow = re.search(r"^autopipe-slow 1\.2\.3  \[ok\]  \[slow import: (\d+\.\d\d) s > 0\.5 s\]$", out.stdout, re.M)
    assert slow and float(slow[1]) >= 0.6, out.stdout
    toy = re.search(r"^autopipe-toy 1\.2\.3  \[ok\](  \[slow import: (\d+\.\d\d) s > 0\.5 s\])?$", out.stdout, re.M)
    assert toy and (toy[1] is None or float(toy[2]) > SLOW_IMPORT_SECONDS), out.stdout
    out = _autopipe(site, "resolve", str(tiny_sd), "--task", "t2i")  # every other plugin still answers
    assert out.stdout.strip() == "StableDiffusionPipeline", out.stderr


@pytest.mark.parametrize("hook", hookspecs.HOOKS)
def test_a_plugin_raising_in_any_hook_is_isolated_and_named(site, monkeypatch, hook):
    monkeypatch.syspath_prepend(str(site))
    dist = _raiser_dist(hook)
    reg = registry_module.build(allowed=frozenset({dist, "autopipe-sd"}))
    info = {p.distribution: p for p in reg.plugins}
    assert info["autopipe-sd"].ok and reg.classes["StableDiffusionPipeline"].plugin == "autopipe-sd"
    if hook in hookspecs.REGISTRATION_HOOKS:  # asked when the registry is built: the plugin is left out whole
        assert not info[dist].ok and f"boom in {hook}" in info[dist].error
        assert reg.families_of(dist) == () and "Fraction" not in reg.classes
    else:  # asked at load time: a PluginError that names the distribution and the hook
        assert info[dist].ok
        with pytest.raises(PluginError, match=f"the plugin {dist} 1.2.3 raised RuntimeError in its {hook} hook: boom in {hook}"):
            reg.call(dist, hook)


def test_load_time_hooks_raise_plugin_errors_through_their_callers(site, monkeypatch, tmp_path):
    from autopipe_core import AutoPipelineForText2Image, resolve
    from autopipe_core.planning import family_plan
    from autopipe_core.specs import DeviceFacts
    from autopipe_core.tiny import build_tiny

    monkeypatch.syspath_prepend(str(site))
    folder = write_model_index(tmp_path / "m", "Fraction")
    monkeypatch.setenv("AUTOPIPE_PLUGINS", _raiser_dist("autopipe_from_pretrained"))
    with pytest.raises(PluginError, match="autopipe-raises-in-from-pretrained 1.2.3 raised RuntimeError in its autopipe_from_pretrained hook"):
        AutoPipelineForText2Image.from_pretrained(folder)
    monkeypatch.setenv("AUTOPIPE_PLUGINS", _raiser_dist("autopipe_load_plan"))
    with pytest.raises(PluginError, match="autopipe-raises-in-load-plan 1.2.3 raised RuntimeError in its autopipe_load_plan hook"):
        family_plan(resolve(folder, "t2i"), DeviceFacts("cpu", 0))
    monkeypatch.setenv("AUTOPIPE_PLUGINS", _raiser_dist("autopipe_build_tiny"))
    with pytest.raises(PluginError, match="autopipe-raises-in-build-tiny 1.2.3 raised RuntimeError in its autopipe_build_tiny hook"):
        build_tiny("raises-in-build-tiny", tmp_path / "tiny")


def test_diffusers_errors_from_a_loading_hook_keep_their_type_with_a_note(site, monkeypatch, tmp_path):
    from autopipe_core import AutoPipelineForText2Image, resolve
    from autopipe_core.planning import family_plan
    from autopipe_core.specs import DeviceFacts

    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("AUTOPIPE_PLUGINS", "autopipe-value-error")
    folder = write_model_index(tmp_path / "m", "Fraction")
    with pytest.raises(ValueError, match="no file named") as info:  # what a diffusers user already catches
        AutoPipelineForText2Image.from_pretrained(folder)
    assert not isinstance(info.value, PluginError)
    assert info.value.__notes__ == ["raised in the autopipe_from_pretrained hook of the plugin autopipe-value-error"]
    with pytest.raises(PluginError, match="autopipe-value-error 1.2.3 raised ValueError in its autopipe_load_plan hook: bad arithmetic"):
        family_plan(resolve(folder, "t2i"), DeviceFacts("cpu", 0))


def test_a_registered_class_that_does_not_exist_is_the_plugins_error(site, monkeypatch, tmp_path):
    from autopipe_core import AutoPipelineForImage2Image, AutoPipelineForText2Image, resolve

    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("AUTOPIPE_PLUGINS", "autopipe-ghost-classes")
    folder = write_model_index(tmp_path / "m", "NoSuchPipeline")
    assert resolve(folder, "t2i").class_ref == "diffusers:NoSuchPipeline"  # resolution imports nothing
    with pytest.raises(PluginError, match="autopipe-ghost-classes 1.2.3 registered diffusers:NoSuchPipeline for text2img of ghost-classes, but it cannot be imported"):
        AutoPipelineForText2Image.from_pretrained(folder)
    with pytest.raises(PluginError, match="autopipe_no_such_module:Pipe .*ModuleNotFoundError") as info:
        AutoPipelineForImage2Image.from_pretrained(folder)
    assert "autopipe plugins --check" in str(info.value)


def test_plugins_check_imports_every_registered_class(site, monkeypatch, capsys):
    from autopipe_core.cli import main

    # In-process (diffusers is imported by the rest of the suite anyway; a fresh process spends seconds on it).
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("AUTOPIPE_PLUGINS", "autopipe-ghost-classes,autopipe-sd")
    assert main(["plugins", "--check", "--json"]) == 1
    listed = {p["distribution"]: p for p in json.loads(capsys.readouterr().out)["plugins"]}
    assert {c["class"] for c in listed["autopipe-ghost-classes"]["unimportable"]} == {"diffusers:NoSuchPipeline", "autopipe_no_such_module:Pipe"}
    assert listed["autopipe-sd"]["unimportable"] == []
    assert main(["plugins", "--check"]) == 1
    text = capsys.readouterr().out
    assert "cannot import autopipe_no_such_module:Pipe: ModuleNotFoundError" in text
    assert "checked: 2 registered class(es) cannot be imported" in text
    monkeypatch.setenv("AUTOPIPE_PLUGINS", "autopipe-sd")
    assert main(["plugins", "--check"]) == 0 and "checked: every registered class imports" in capsys.readouterr().out


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
    answer = json.loads(out.stdout)
    assert answer["pipelines"] == {"text2img": "ToyPipeline", "img2img": None, "inpaint": None}
    assert (answer["family"], answer["plugin"]) == ("toy", "autopipe-toy")
    assert answer["refused"] == {t: f"toy has no {t} pipeline. It does text2img: use --task text2img." for t in ("img2img", "inpaint")}


def test_empty_autopipe_plugins_loads_none(site, tiny_sd):
    assert set(_plugins(site, AUTOPIPE_PLUGINS="")["plugins"]) == {"autopipe-core"}
    out = _autopipe(site, "resolve", str(tiny_sd), AUTOPIPE_PLUGINS="")
    assert out.returncode == 1 and "autopipe-sd is installed but AUTOPIPE_PLUGINS='' leaves it out" in out.stderr  # not "pip install" it


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
    code = (
        f"from autopipe_core import AutoPipelineForText2Image as A; import autopipe_two_stage as p; "
        f"assert A.from_pretrained({str(folder)!r}, prior=1) == 1; print(p.LOADED[0])"
    )
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
