"""The resolve path must never import torch, diffusers or transformers."""

import json
import subprocess
import sys

HEAVY = ("torch", "diffusers", "transformers")


def _imported_after(code: str, env_extra: dict | None = None) -> list[str]:
    import os

    probe = code + f"\nimport sys, json\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    env = {**os.environ, **(env_extra or {})}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_importing_the_core_imports_nothing_heavy():
    assert _imported_after("import autopipe_core") == []


def test_resolving_a_folder_imports_nothing_heavy(tiny_sd):
    code = f"from autopipe_core import resolve\nfor t in ('text2img', 'img2img', 'inpaint'): resolve({str(tiny_sd)!r}, t)"
    assert _imported_after(code, {"AUTOPIPE_PLUGINS": "autopipe-sd"}) == []


def test_the_cli_resolve_and_plugins_import_nothing_heavy(tiny_sd):
    code = (
        "import contextlib, io\nfrom autopipe_core.cli import main\n"
        f"with contextlib.redirect_stdout(io.StringIO()):\n    main(['resolve', {str(tiny_sd)!r}, '--json']); main(['plugins'])"
    )
    assert _imported_after(code, {"AUTOPIPE_PLUGINS": "autopipe-sd"}) == []


def test_the_sd_plugin_module_imports_nothing_heavy():
    assert _imported_after("import autopipe_sd.plugin") == []


def _autopipe_modules_after(code: str) -> list[str]:
    import os

    probe = code + "\nimport sys, json\nprint(json.dumps(sorted(m for m in sys.modules if m.startswith('autopipe_core.'))))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=dict(os.environ), check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_importing_the_core_imports_none_of_its_modules():
    # The public names are imported on first use (PEP 562): `import autopipe_core` is the package alone.
    assert _autopipe_modules_after("import autopipe_core") == []


def test_the_help_imports_nothing_heavy_and_no_loading_code():
    code = "import contextlib, io\nfrom autopipe_core.cli import main\nwith contextlib.redirect_stdout(io.StringIO()):\n    try:\n        main(['--help'])\n    except SystemExit:\n        pass"
    assert _imported_after(code) == []
    assert not {"autopipe_core.auto", "autopipe_core.loading", "autopipe_core.registry"} & set(_autopipe_modules_after(code))


def test_every_public_name_is_there_and_resolve_is_the_function():
    import autopipe_core
    import autopipe_core.resolve  # noqa: F401  (binds the submodule on the package: must not hide the function)

    for name in autopipe_core.__all__:
        assert getattr(autopipe_core, name) is not None, name
    assert callable(autopipe_core.resolve) and autopipe_core.resolve.__name__ == "resolve"
    from autopipe_core import resolve
    from autopipe_core.resolve import resolve as the_function

    assert resolve is the_function
    assert set(autopipe_core.__all__) <= set(dir(autopipe_core))


def test_resolving_a_folder_with_every_plugin_imports_no_loading_or_placement_code(tiny_sd):
    # Placement, loading and switching are for from_pretrained / plan / from_pipe; a resolve pays for none of them.
    code = f"from autopipe_core import resolve\nresolve({str(tiny_sd)!r}, 'text2img')"
    loaded = set(_autopipe_modules_after(code))
    assert not loaded & {"autopipe_core.planning", "autopipe_core.loading", "autopipe_core.auto", "autopipe_core.switch"}, sorted(loaded)


def test_the_old_module_name_placement_still_works_with_a_deprecation_warning():
    import importlib
    import sys
    import warnings

    sys.modules.pop("autopipe_core.placement", None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        old = importlib.import_module("autopipe_core.placement")
    assert any(issubclass(w.category, DeprecationWarning) and "autopipe_core.planning" in str(w.message) for w in caught)
    from autopipe_core import planning

    assert old.plan is planning.plan and old.GiB == planning.GiB and old.Footprint is planning.Footprint


def test_registering_every_shipped_plugin_imports_no_detection_module():
    """Each detecting plugin gives its autopipe_detect_keys from its package; were they taken from its detection module,
    registration would import all fourteen, the cost the keys exist to spare (a cold resolve of one file, a scan)."""
    import os

    probe = (
        "import sys, json\nfrom autopipe_core.registry import build\nr = build(None)\n"
        "detecting = sorted(p.distribution for p in r.plugins if 'autopipe_detect' in p.hooks)\n"
        "print(json.dumps([detecting, sorted(r.detect_keys), sorted(m for m in sys.modules if m.endswith(('.single_file', '.layout')))]))"
    )
    env = {k: v for k, v in os.environ.items() if k != "AUTOPIPE_PLUGINS"}  # every plugin installed
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    detecting, keyed, detection_modules = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(detecting) == 14 and keyed == detecting  # every shipped plugin that detects gives its keys
    assert detection_modules == []
