"""docs/plugin-guide.md stays true: every hook documented with its exact signature, the example quoted verbatim,
the kit's tests all listed, and the example plugin using only what the guide documents."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

import autopipe_core
from autopipe_core import hookspecs
from autopipe_core.testing import PluginConformance

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "plugin-guide.md"
EXAMPLE = ROOT / "docs" / "examples" / "autopipe-amused"
# The packages of the plugins this repository ships (plugins/*/src/*): the example imports none of them.
SHIPPED = frozenset(p.name for p in ROOT.glob("plugins/*/src/*") if p.is_dir())
# What the guide tells an author to import from autopipe_core besides its top-level names.
DOCUMENTED_TESTING = {"PluginConformance", "isolate", "tiny_checkpoint"}


def _text() -> str:
    return GUIDE.read_text(encoding="utf-8")


def _blocks(text: str) -> list[tuple[str, str, int]]:
    """(language, code, offset) of every fenced block."""
    return [(m.group(1), m.group(2), m.start()) for m in re.finditer(r"^```(\w*)\n(.*?)^```", text, re.S | re.M)]


def expected_signature(name: str) -> str:
    """The hookspec's def line as written in hookspecs.py (annotations are strings there: postponed evaluation)."""
    sig = inspect.signature(getattr(hookspecs, name))
    params = ", ".join(f"{p.name}: {p.annotation}" for p in sig.parameters.values())
    return f"def {name}({params}) -> {sig.return_annotation}:"


def documented_hooks(text: str) -> dict[str, str]:
    """hook name -> the first line of the first python block after its heading."""
    out = {}
    blocks = _blocks(text)
    for m in re.finditer(r"^### `(autopipe_\w+)`\s*$", text, re.M):
        block = next((code for lang, code, at in blocks if at > m.end() and lang == "python"), "")
        out[m.group(1)] = block.splitlines()[0] if block else ""
    return out


@pytest.mark.parametrize("hook", hookspecs.HOOKS)
def test_every_hook_is_documented_with_its_exact_signature(hook):
    documented = documented_hooks(_text())
    assert hook in documented, f"docs/plugin-guide.md has no section ### `{hook}`: document it from its hookspec"
    assert documented[hook] == expected_signature(hook)


def test_the_guide_documents_no_hook_that_does_not_exist():
    assert set(documented_hooks(_text())) <= set(hookspecs.HOOKS)


def test_quoted_example_code_is_the_examples_own():
    quoted = [(code.split("\n", 1)) for _, code, _ in _blocks(_text()) if re.match(r"# file: ", code)]
    assert len(quoted) >= 5
    for first, body in quoted:
        path = ROOT / first.removeprefix("# file: ").strip()
        assert body.strip() in path.read_text(encoding="utf-8"), f"the guide's quote of {path.relative_to(ROOT)} is not in that file"


def test_every_kit_test_is_listed():
    kit = {name for name in dir(PluginConformance) if name.startswith("test_")}
    listed = set(re.findall(r"^\| `(test_\w+)", _text(), re.M))
    assert listed == kit


def _imports(path: Path) -> list[tuple[str, tuple[str, ...]]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            out.append((node.module or "", tuple(a.name for a in node.names)))
        elif isinstance(node, ast.Import):
            out.extend((a.name, ()) for a in node.names)
    return out


def test_the_example_uses_only_documented_names():
    assert {"autopipe_sd", "autopipe_lcm"} <= SHIPPED, SHIPPED  # the glob finds the shipped packages
    files = sorted(EXAMPLE.rglob("*.py"))
    assert len(files) >= 4
    for path in files:
        for module, names in _imports(path):
            where = f"{path.relative_to(ROOT)} imports {module} {names}"
            assert module.split(".")[0] not in SHIPPED, where
            if module == "autopipe_core":
                assert set(names) <= set(autopipe_core.__all__), where
            elif module == "autopipe_core.testing":
                assert set(names) <= DOCUMENTED_TESTING, where
            else:
                assert not module.startswith("autopipe_core"), where
