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
    assert _imported_after("import autopipe_sd") == []
