"""What diffusers itself serves, for a plugin's tests to hold its rows against: its AutoPipeline tables, and the
pipeline classes that take a model class.

Every plugin that serves a diffusers family checks the same facts: the keys of
diffusers' ``AutoPipelineFor*`` tables for its lineage are each served with
diffusers' class, every task diffusers has no class for is refused with a
reason, and no other diffusers pipeline takes the family's model (so that
each refusal stays true as diffusers grows). The facts come from the
installed diffusers' sources, read with :mod:`ast`, nothing imported: the
tables from ``diffusers/pipelines/auto_pipeline.py``, the classes taking a
model from every file under ``diffusers/pipelines``. A failed check raises ``AssertionError`` saying what diffusers has
and what the plugin registered, so that pytest reports it as a failed test.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path
from typing import Iterable, Mapping

from ..registry import Registry, get_registry
from ..tasks import Task
from .cases import row_label

#: The module of diffusers the tables are read from (its source file), and each task's table in it.
TABLES_MODULE = "diffusers.pipelines.auto_pipeline"
TABLE_NAMES: Mapping[Task, str] = {
    Task.TEXT2IMG: "AUTO_TEXT2IMAGE_PIPELINES_MAPPING",
    Task.IMG2IMG: "AUTO_IMAGE2IMAGE_PIPELINES_MAPPING",
    Task.INPAINT: "AUTO_INPAINT_PIPELINES_MAPPING",
}


def auto_tables(source: Path | None = None) -> Mapping[Task, Mapping[str, str]]:
    """diffusers' AutoPipeline tables as {Task: {key: pipeline class name}}, in diffusers' order.

    Read with :mod:`ast` from `source`, by default diffusers'
    ``pipelines/auto_pipeline.py`` (:data:`TABLES_MODULE`), nothing imported
    (importing it imports every pipeline diffusers has): each table's
    ``OrderedDict([("key", Class), ...])`` and the ``TABLE["key"] = Class``
    lines after it (kolors', added where sentencepiece is installed). A key
    is diffusers' name for a lineage ("stable-diffusion-xl-pag"); a task
    whose table lacks the key is one diffusers' ``AutoPipelineFor*`` cannot
    give. Raises ValueError when a table is built in a way this reader does
    not know (a diffusers release changed the file: read it again).
    """
    path = source or pipelines_folder() / "auto_pipeline.py"
    return {task: dict(table) for task, table in _tables(path, path.stat().st_mtime_ns).items()}  # a copy: the cache stays as read


@functools.lru_cache(maxsize=8)
def _tables(path: Path, mtime_ns: int) -> Mapping[Task, Mapping[str, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    tables: dict[str, dict[str, str]] = {}
    for node in ast.walk(tree):  # the module's statements, in the order of the file at each depth
        if not isinstance(node, ast.Assign) or len(node.targets) != 1:
            continue
        target = node.targets[0]
        if isinstance(target, ast.Name) and target.id in TABLE_NAMES.values():
            call = node.value
            pairs = call.args[0] if isinstance(call, ast.Call) and len(call.args) == 1 else None
            if not isinstance(pairs, (ast.List, ast.Tuple)):
                raise ValueError(f"{path}:{node.lineno}: {target.id} is not built as OrderedDict([(key, Class), ...])")
            tables[target.id] = dict(_pair(path, target.id, p) for p in pairs.elts)
        elif isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name) and target.value.id in TABLE_NAMES.values():
            key, cls = target.slice, node.value
            if not (isinstance(key, ast.Constant) and isinstance(key.value, str) and isinstance(cls, ast.Name)):
                raise ValueError(f"{path}:{node.lineno}: {target.value.id}[...] = ... is not a key and a class name")
            if target.value.id not in tables:
                raise ValueError(f"{path}:{node.lineno}: {target.value.id} gets a key before it is built")
            tables[target.value.id][key.value] = cls.id
    absent = sorted(set(TABLE_NAMES.values()) - set(tables))
    if absent:
        raise ValueError(f"{path} builds no {', '.join(absent)}")
    return {task: tables[name] for task, name in TABLE_NAMES.items()}


def _pair(path: Path, table: str, node: ast.expr) -> tuple[str, str]:
    if (
        isinstance(node, ast.Tuple) and len(node.elts) == 2 and isinstance(node.elts[0], ast.Constant)
        and isinstance(node.elts[0].value, str) and isinstance(node.elts[1], ast.Name)
    ):
        return node.elts[0].value, node.elts[1].id
    raise ValueError(f"{path}:{node.lineno}: an entry of {table} is not a (key, Class) pair: {ast.unparse(node)}")


def pipelines_folder() -> Path:
    """Where diffusers' pipeline sources are: ``diffusers/pipelines`` of the installed diffusers (found, not imported)."""
    import importlib.util

    spec = importlib.util.find_spec("diffusers")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("diffusers is not installed: its pipeline sources cannot be read")
    return Path(next(iter(spec.submodule_search_locations))) / "pipelines"


def pipelines_taking(*model_classes: str, folder: Path | None = None) -> frozenset[str]:
    """The names of the classes under diffusers' pipelines whose ``__init__`` annotates a positional parameter with
    any of `model_classes` (the annotation's text contains the name: ``Optional[X]`` and ``X | None`` count).

    Read from the sources with :mod:`ast`, nothing imported: a pipeline module
    that needs an optional library still counts. `folder` defaults to
    :func:`pipelines_folder`. Raises ValueError when no class name is given.
    """
    if not model_classes or not all(isinstance(m, str) and m for m in model_classes):
        raise ValueError(f"pipelines_taking needs one or more model class names, got {model_classes!r}")
    return _taking(tuple(sorted(set(model_classes))), folder or pipelines_folder())


@functools.lru_cache(maxsize=64)
def _taking(model_classes: tuple[str, ...], folder: Path) -> frozenset[str]:
    found = set()
    for path in sorted(folder.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if not any(m in text for m in model_classes):  # most files: no need to parse
            continue
        for node in ast.walk(ast.parse(text)):
            if not isinstance(node, ast.ClassDef):
                continue
            init = next((f for f in node.body if isinstance(f, ast.FunctionDef) and f.name == "__init__"), None)
            if init is None:
                continue
            annotations = [ast.unparse(a.annotation) for a in init.args.args if a.annotation is not None]
            if any(m in annotation for annotation in annotations for m in model_classes):
                found.add(node.name)
    return frozenset(found)


def keys_naming(*words: str) -> dict[str, dict[Task, str]]:
    """diffusers' keys whose name or class name (any task's) contains one of `words`, compared without case:
    {key: {task: class name}} for the tasks diffusers has a class for."""
    if not words or not all(isinstance(w, str) and w for w in words):
        raise ValueError(f"keys_naming needs one or more words, got {words!r}")
    lowered = [w.lower() for w in words]
    tables = auto_tables()
    out: dict[str, dict[Task, str]] = {}
    for task, table in tables.items():
        for key, cls in table.items():
            if any(w in key.lower() or w in cls.lower() for w in lowered):
                out.setdefault(key, {})[task] = cls
    return out


def row_key(row: str | tuple[str, Iterable[str]]) -> tuple[str, frozenset[str]]:
    """A row as the registry keys it: "flux" -> ("flux", frozenset()); ("sana", {"pag"}) -> ("sana", frozenset({"pag"}))."""
    if isinstance(row, str):
        return (row, frozenset())
    family, modifiers = row
    if isinstance(modifiers, str):
        raise TypeError(f"the modifiers of row {row!r} must be a set of names, not the string {modifiers!r}")
    return (family, frozenset(modifiers))


def check_rows_serve_diffusers(
    keys: Mapping[str, str | tuple[str, Iterable[str]]],
    naming: str | Iterable[str],
    registry: Registry | None = None,
    beyond: Mapping[str, Iterable[Task]] | None = None,
) -> dict[str, dict[Task, str]]:
    """Check that the rows serve diffusers' class for each of its keys, and refuse with a reason what diffusers has not.

    `keys` maps each diffusers key of the lineage to the row that serves it
    (a family, or (family, modifiers)); `naming` is the word (or words) that
    picks the lineage's keys out of diffusers' tables (:func:`keys_naming`).
    Checked, against :func:`auto_tables` and `registry` (the current one by
    default):

    - the keys naming the lineage are exactly `keys` (a key diffusers added
      is a row to serve; an empty `keys` says diffusers has none);
    - for each key and each task diffusers has a class for, the reverse index
      takes that class to the key's row, and the row serves
      ``"diffusers:<that class>"``;
    - for each task diffusers has no class for, the row claims none and
      registers a non-empty reason (``registry.missing``); but for the tasks
      `beyond` lists for the key (``{"flux2-klein": [Task.INPAINT]}``), which
      the row serves with a class diffusers' tables leave out, it claims one.

    Returns {key: {task: class name}}, diffusers' classes, for the test to
    pin the classes it expects. Raises AssertionError on the first fact that
    does not hold.
    """
    words = (naming,) if isinstance(naming, str) else tuple(naming)
    registry = registry or get_registry()
    found = keys_naming(*words)
    if set(found) != set(keys):
        raise AssertionError(
            f"diffusers' AutoPipeline keys naming {' or '.join(map(repr, words))} are {sorted(found)}, the test expects "
            f"{sorted(keys)}: serve the keys diffusers added ({sorted(set(found) - set(keys))}) or drop the keys it no "
            f"longer has ({sorted(set(keys) - set(found))})"
        )
    beyond = {key: frozenset(tasks) for key, tasks in (beyond or {}).items()}
    if set(beyond) - set(keys):
        raise ValueError(f"beyond names keys {sorted(set(beyond) - set(keys))} that are not among the keys {sorted(keys)}")
    for key, row in keys.items():
        family, modifiers = row_key(row)
        served = registry.table.get((family, modifiers), {})
        missing = registry.missing.get((family, modifiers), {})
        label = row_label(family, modifiers)
        for task in Task:
            cls = found[key].get(task)
            if cls is not None:
                entry = registry.classes.get(cls)
                if entry is None or (entry.family, entry.modifiers) != (family, modifiers):
                    where = "nothing" if entry is None else row_label(entry.family, entry.modifiers)
                    raise AssertionError(f"diffusers' {key!r} {task.value} class {cls} resolves to {where}, not to the row {label}")
                ref = served.get(task, (None,))[0]
                if ref != f"diffusers:{cls}":
                    raise AssertionError(f"the row {label} serves {ref} for {task.value}, diffusers' {key!r} serves {cls}")
            elif task in beyond.get(key, ()):
                if task not in served:
                    raise AssertionError(f"the row {label} does not serve {task.value}, which the test says it serves beyond diffusers' {key!r}")
            elif task in served:
                raise AssertionError(f"the row {label} claims {task.value} ({served[task][0]}), which diffusers' {key!r} has no class for")
            elif not missing.get(task):
                raise AssertionError(f"the row {label} refuses {task.value} (diffusers' {key!r} has no class) with no reason: declare why")
    return found
