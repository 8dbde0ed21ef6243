"""A plugin never takes the others down, whatever it raises or returns, and never hangs the process.

Real distributions, pip-installed as wheels into a folder put on sys.path: BaseException subclasses
(SystemExit, GeneratorExit, asyncio's CancelledError, one of its own) at import, in a registration hook,
in detection and in a load-time hook; a hook that yields forever; a loading hook that returns something
other than a pipeline; a plugin that asks for the registry while it is being built; a slow import.
"""

import subprocess
import sys

import pytest
from layouts import install_plugins, write_model_index

from autopipe_core import PluginError, registry as registry_module, resolve
from autopipe_core.answers import CHECKS, MAX_ITEMS
from autopipe_core.hookspecs import HOOKS

RAISED = {
    "system-exit": "SystemExit(3)",
    "generator-exit": "GeneratorExit('closed')",
    "cancelled": "__import__('asyncio').CancelledError('cancelled')",
    "own-base": "type('OwnBase', (BaseException,), {})('own')",
}
WHERE = ("import", "families", "detect", "load-plan")


def _source(where: str, raised: str) -> str:
    family = f"{where}-fam"
    lines = ["from autopipe_core import FamilySpec, PipelineRow, Task, hookimpl"]
    if where == "import":
        lines.append(f"raise {raised}")
    lines.append("@hookimpl\ndef autopipe_families():\n" + (f"    raise {raised}" if where == "families" else f"    return [FamilySpec({family!r})]"))
    lines.append(f"@hookimpl\ndef autopipe_pipelines():\n    return [PipelineRow({family!r}, {{Task.TEXT2IMG: 'fractions:Fraction'}})]")
    if where == "detect":
        lines.append(f"@hookimpl\ndef autopipe_detect(header):\n    raise {raised}")
    if where == "load-plan":
        lines.append(f"@hookimpl\ndef autopipe_load_plan():\n    raise {raised}")
    return "\n".join(lines) + "\n"


REENTRANT_AT_IMPORT = "from autopipe_core.registry import get_registry\nget_registry()\n"
REENTRANT_IN_HOOK = """
from autopipe_core import FamilySpec, hookimpl
from autopipe_core.registry import get_registry

@hookimpl
def autopipe_families():
    get_registry()
    return [FamilySpec("reentrant")]
"""
ENDLESS = """
import itertools
from autopipe_core import FamilySpec, PipelineRow, Task, hookimpl

@hookimpl
def autopipe_families():
    return [FamilySpec("endless")]

@hookimpl
def autopipe_pipelines():
    for i in itertools.count():
        yield PipelineRow("endless", {Task.TEXT2IMG: f"fractions:Fraction{i}"})
"""
NOT_A_PIPELINE = """
from autopipe_core import FamilySpec, PipelineRow, Task, hookimpl

@hookimpl
def autopipe_families():
    return [FamilySpec("not-a-pipeline")]

@hookimpl
def autopipe_pipelines():
    return [PipelineRow("not-a-pipeline", {Task.TEXT2IMG: "fractions:Fraction"})]

@hookimpl
def autopipe_from_pretrained(pipeline_class, model):
    return "a string, not a Fraction"
"""
OWN_ERROR = """
from autopipe_core import FamilySpec, PipelineRow, Task, UnsupportedModelError, hookimpl

@hookimpl
def autopipe_families():
    return [FamilySpec("own-error")]

@hookimpl
def autopipe_pipelines():
    return [PipelineRow("own-error", {Task.TEXT2IMG: "fractions:Fraction"})]

@hookimpl
def autopipe_footprint():
    raise UnsupportedModelError("this checkpoint's prior is gated: log in first")
"""
SLOW = "import time\ntime.sleep(1.5)\nfrom autopipe_core import FamilySpec, hookimpl\n@hookimpl\ndef autopipe_families():\n    return [FamilySpec('slow')]\n"

PLUGINS = {
    **{f"autopipe-{w}-{r}": (f"autopipe_{w}_{r}".replace("-", "_"), _source(w, code), f"autopipe_{w}_{r}".replace("-", "_")) for w in WHERE for r, code in RAISED.items()},
    "autopipe-reentrant-import": ("autopipe_reentrant_import", REENTRANT_AT_IMPORT, "autopipe_reentrant_import"),
    "autopipe-reentrant-hook": ("autopipe_reentrant_hook", REENTRANT_IN_HOOK, "autopipe_reentrant_hook"),
    "autopipe-endless": ("autopipe_endless", ENDLESS, "autopipe_endless"),
    "autopipe-not-a-pipeline": ("autopipe_not_a_pipeline", NOT_A_PIPELINE, "autopipe_not_a_pipeline"),
    "autopipe-own-error": ("autopipe_own_error", OWN_ERROR, "autopipe_own_error"),
    "autopipe-slow-notice": ("autopipe_slow_notice", SLOW, "autopipe_slow_notice"),
}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return install_plugins(tmp_path_factory.mktemp("projects"), tmp_path_factory.mktemp("site"), PLUGINS)


@pytest.fixture
def on_path(site, monkeypatch):
    monkeypatch.syspath_prepend(str(site))
    return site


def test_every_hook_has_an_answer_check():
    assert set(CHECKS) == set(HOOKS)


@pytest.mark.parametrize("raised", sorted(RAISED))
@pytest.mark.parametrize("where", ["import", "families"])
def test_a_base_exception_at_import_or_registration_leaves_only_that_plugin_out(on_path, where, raised):
    dist = f"autopipe-{where}-{raised}"
    reg = registry_module.build(allowed=frozenset({dist, "autopipe-sd"}))
    info = {p.distribution: p for p in reg.plugins}
    assert not info[dist].ok, f"{dist} raised {RAISED[raised]} and was not reported"
    assert info["autopipe-sd"].ok and reg.classes["StableDiffusionPipeline"].plugin == "autopipe-sd"
    assert reg.families_of(dist) == ()


@pytest.mark.parametrize("raised", sorted(RAISED))
def test_a_base_exception_in_detect_is_a_verdict_and_the_others_still_answer(on_path, raised, tmp_path):
    import single_file_layouts

    from autopipe_core import single_file
    from autopipe_core.headers import read_header

    dist = f"autopipe-detect-{raised}"
    reg = registry_module.build(allowed=frozenset({dist, "autopipe-sd"}))
    path = single_file_layouts.write(tmp_path / "sd1.safetensors", single_file_layouts.layout("sd1"))
    report = single_file.detect(read_header(path), reg)
    assert report.best is not None and report.best.plugin == "autopipe-sd"
    (verdict,) = [v for v in report.verdicts if v.plugin == dist]
    assert verdict.error is not None


@pytest.mark.parametrize("raised", sorted(RAISED))
def test_a_base_exception_in_a_load_time_hook_is_a_plugin_error(on_path, raised, tmp_path):
    from autopipe_core.planning import family_plan
    from autopipe_core.specs import DeviceFacts

    dist = f"autopipe-load-plan-{raised}"
    reg = registry_module.build(allowed=frozenset({dist}))
    folder = write_model_index(tmp_path / "m", "Fraction")
    from autopipe_core.resolve import identify, resolve_identity

    resolution = resolve_identity(identify(folder, reg), "t2i", {}, reg)
    with pytest.raises(PluginError, match=f"the plugin {dist} 1.2.3 raised .* in its autopipe_load_plan hook"):
        family_plan(resolution, DeviceFacts("cpu", 0), reg)


def test_a_plugins_own_typed_error_in_a_planning_hook_passes_unchanged(on_path, monkeypatch, tmp_path):
    from autopipe_core import UnsupportedModelError
    from autopipe_core.planning import plan
    from autopipe_core.specs import DeviceFacts

    monkeypatch.setenv("AUTOPIPE_PLUGINS", "autopipe-own-error")
    folder = write_model_index(tmp_path / "m", "Fraction")
    with pytest.raises(UnsupportedModelError, match="prior is gated") as info:
        plan(resolve(folder, "t2i"), DeviceFacts("cuda", 1, 8 << 30, 8 << 30))
    assert not isinstance(info.value, PluginError)


def test_keyboard_interrupt_alone_propagates(monkeypatch):
    from autopipe_core import plugins

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    reg = registry_module.build(allowed=frozenset({"autopipe-sd"}))
    monkeypatch.setattr(plugins, "call", interrupted)
    with pytest.raises(KeyboardInterrupt):
        reg.ask("autopipe-sd", "autopipe_families")


def test_a_plugin_asking_for_the_registry_while_it_is_built_is_named_not_a_deadlock(site):
    code = (
        "from autopipe_core.registry import get_registry; r = get_registry(); "
        "print({p.distribution: p.error for p in r.plugins if not p.ok}); print(sorted(r.families))"
    )
    env = {"PYTHONPATH": str(site), "AUTOPIPE_PLUGINS": "autopipe-reentrant-import,autopipe-reentrant-hook,autopipe-sd"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env={**_env(), **env})
    assert out.returncode == 0, out.stderr
    broken, families = out.stdout.strip().splitlines()
    assert "the plugin autopipe-reentrant-import called get_registry() while the registry was being built" in broken
    assert "the plugin autopipe-reentrant-hook called get_registry() while the registry was being built" in broken
    assert families == "['stable-diffusion']"


def test_a_hook_that_yields_forever_is_cut_off_and_reported(on_path):
    reg = registry_module.build(allowed=frozenset({"autopipe-endless", "autopipe-sd"}))
    info = {p.distribution: p for p in reg.plugins}
    assert not info["autopipe-endless"].ok
    assert f"more than {MAX_ITEMS} items" in info["autopipe-endless"].error
    assert info["autopipe-sd"].ok


def test_a_loading_hook_must_return_a_pipeline_of_the_resolved_class(on_path, monkeypatch, tmp_path):
    from autopipe_core import AutoPipelineForText2Image

    monkeypatch.setenv("AUTOPIPE_PLUGINS", "autopipe-not-a-pipeline")
    folder = write_model_index(tmp_path / "m", "Fraction")
    assert resolve(folder, "t2i").pipeline_class == "Fraction"
    with pytest.raises(PluginError, match="autopipe-not-a-pipeline 1.2.3 gave a malformed answer from its autopipe_from_pretrained hook: returned str, not a Fraction"):
        AutoPipelineForText2Image.from_pretrained(folder)


def test_a_slow_import_is_named_on_stderr_while_the_process_waits(site):
    code = (
        "import autopipe_core.plugins as p; p.NOTICE_SECONDS = 0.5; "
        "from autopipe_core.registry import get_registry; print(sorted(get_registry().families))"
    )
    env = {"PYTHONPATH": str(site), "AUTOPIPE_PLUGINS": "autopipe-slow-notice"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env={**_env(), **env})
    assert out.returncode == 0 and out.stdout.strip() == "['slow']", out.stderr
    assert "autopipe: still importing the plugin autopipe-slow-notice (" in out.stderr


def _env() -> dict:
    import os

    return {k: v for k, v in os.environ.items() if k not in ("AUTOPIPE_PLUGINS", "PYTHONPATH")}
