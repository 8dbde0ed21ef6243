"""The core's imports run one way: each module imports only from its own layer or below, never upward, not even
inside a function; no two modules import each other, even through others; no module uses another's private names.
The layers are docs/architecture.md's table, read from it, so the page and the code cannot drift apart."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "autopipe_core"


def _layers() -> dict[str, int]:
    """module (dotted, under autopipe_core) -> layer number, from the table "| layer | modules |" of docs/architecture.md."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    table = text[text.index("| layer | name | modules |"):]
    out = {}
    for line in table.splitlines()[2:]:
        if not line.startswith("|"):
            break
        number, _, modules = [c.strip() for c in line.strip("|").split("|")]
        for module in re.findall(r"`([\w./]+)`", modules):
            out[module.removesuffix(".py").replace("/", ".")] = int(number)
    return out


def _modules() -> dict[str, Path]:
    out = {}
    for path in CORE.rglob("*.py"):
        rel = path.relative_to(CORE).with_suffix("")
        parts = [p for p in rel.parts if p != "__init__"]
        out[".".join(parts) or "__init__"] = path
    MODULES.update(out)
    return out


MODULES = set()


def _imports(name: str, path: Path) -> list[tuple[str, tuple[str, ...], int]]:
    """(module imported, names taken, line) for every import of an autopipe_core module in `path`, at any depth."""
    package = name.split(".")[:-1] if path.name != "__init__.py" else name.split(".")
    if name == "__init__":
        package = []
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1] if node.level > 1 else package
                target = ".".join([*base, *(node.module.split(".") if node.module else [])])
            elif node.module and node.module.startswith("autopipe_core"):
                target = node.module.removeprefix("autopipe_core").lstrip(".")
            else:
                continue
            names = tuple(a.name for a in node.names)
            if node.level and not node.module:
                for n in names:  # "from . import x": the module x, or a name of the package itself
                    module = ".".join([*base, n])
                    out.append((module, (), node.lineno) if module in MODULES else (".".join(base) or "__init__", (n,), node.lineno))
            else:
                out.append((target or "__init__", names, node.lineno))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("autopipe_core."):
                    out.append((alias.name.removeprefix("autopipe_core."), (), node.lineno))
    return out


def _layer_of(module: str, layers: dict[str, int]) -> int | None:
    while module:
        if module in layers:
            return layers[module]
        module = module.rpartition(".")[0]
    return None


def test_every_core_module_has_a_layer_on_the_page():
    layers = _layers()
    missing = sorted(m for m in _modules() if _layer_of(m, layers) is None)
    assert missing == [], f"add {missing} to the layer table of docs/architecture.md"


def test_imports_run_one_way():
    layers = _layers()
    upward = []
    for name, path in _modules().items():
        mine = _layer_of(name, layers)
        for target, _, line in _imports(name, path):
            theirs = _layer_of(target, layers)
            if theirs is not None and mine is not None and theirs > mine:
                upward.append(f"{path.relative_to(ROOT)}:{line} (layer {mine}) imports {target} (layer {theirs})")
    assert upward == []


def test_no_module_uses_another_modules_private_names():
    used = []
    for name, path in _modules().items():
        for target, names, line in _imports(name, path):
            used += [f"{path.relative_to(ROOT)}:{line} takes {n} from {target}" for n in names if n.startswith("_") and not n.startswith("__")]
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {a.asname or a.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("autopipe_core")) for a in node.names}
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in imported:
                if node.attr.startswith("_") and not node.attr.startswith("__"):
                    used.append(f"{path.relative_to(ROOT)}:{node.lineno} uses {node.value.id}.{node.attr}")
    assert used == []


def _circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module in `edges` (Tarjan's algorithm), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_no_two_modules_import_each_other_even_through_others():
    """Within a layer too: a circle (planning -> toolkit.plans -> planning, once) means two modules hold one idea
    between them, or one holds what a lower module should."""
    modules = _modules()
    edges: dict[str, set[str]] = {}
    for name, path in modules.items():
        for target, _, _ in _imports(name, path):
            while target and target not in modules:
                target = target.rpartition(".")[0]
            # Left out: a package's own __init__ and the top one, whose lazy names reach every module by design.
            if target and target != name and not name.startswith(target + ".") and target != "__init__":
                edges.setdefault(name, set()).add(target)
    assert _circles(edges) == []


def test_the_circle_finder_finds_a_circle_through_a_third_module():
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _circles({"a": {"b"}, "b": set()}) == []
