"""What the kit checks a plugin on: what the plugin registers (its claims), and the cases each kit test runs over.

Each kit test that runs per case names its kind with :func:`per`: a function
from the kit and the claims to the cases. A plugin with nothing of a kind
gets no case at all (the autopipe pytest plugin leaves such a test out when
it collects), never a case that asserts nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, TypeVar

import pytest

from ..plugins import normalize
from ..registry import build as build_registry
from ..specs import PipelineRow
from ..tasks import Task

#: The hooks whose answers decide a placement: a plugin implementing any of them gets the placement checks.
PLANNING_HOOKS = frozenset({"autopipe_load_plan", "autopipe_footprint", "autopipe_placement"})


def row_label(family: str, modifiers: frozenset[str] = frozenset()) -> str:
    """How the kit (and the registry's conflict report) names a row: "stable-diffusion+pag"."""
    return "+".join([family, *sorted(modifiers)])


@dataclass(frozen=True)
class Case:
    """One thing the kit checks: a row (family and modifiers), and one of its tasks where the test is per task."""

    family: str
    modifiers: frozenset[str] = frozenset()
    task: Task | None = None

    @property
    def label(self) -> str:
        return row_label(self.family, self.modifiers)

    def __str__(self) -> str:
        return f"{self.label}-{self.task.value}" if self.task else self.label


@dataclass(frozen=True)
class Claims:
    """What one plugin registers, read once per run from a registry of it and the plugins it names."""

    plugin: str  # the distribution, normalised
    families: tuple[str, ...]
    labels: Mapping[str, tuple[str, frozenset[str]]]  # label -> (family, modifiers), rows the plugin writes or owns
    table: Mapping[str, Mapping[Task, str]]  # label -> task -> "module:Class", as resolution will use it
    missing: Mapping[str, Mapping[Task, str]]
    hooks: frozenset[str] = frozenset()  # the hooks the plugin implements
    config_components: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # family -> FamilySpec.config_components

    def rows(self) -> list[tuple[str, str, frozenset[str]]]:
        return [(label, family, mods) for label, (family, mods) in sorted(self.labels.items())]

    def claimed(self, label: str) -> list[Task]:
        return [t for t in Task if t in self.table[label]]

    @property
    def extended(self) -> tuple[str, ...]:
        """The families the plugin's rows are written for: its own, or other plugins' (a modifier plugin's)."""
        return tuple(sorted({family for family, _ in self.labels.values()}))


def read_claims(plugin: str, allowed: frozenset[str]) -> Claims:
    registry = build_registry(allowed)
    name = normalize(plugin)
    families = registry.families_of(name)
    labels: dict[str, tuple[str, frozenset[str]]] = {f: (f, frozenset()) for f in families}
    info = next((p for p in registry.plugins if p.distribution == name and p.ok), None)
    if info is not None:
        for row in registry.call(name, "autopipe_pipelines") or []:
            if isinstance(row, PipelineRow) and row.family in registry.families:
                labels.setdefault(row_label(row.family, row.modifiers), (row.family, row.modifiers))
    table = {label: {t: ref for t, (ref, _) in registry.table.get(key, {}).items()} for label, key in labels.items()}
    missing = {label: dict(registry.missing.get(key, {})) for label, key in labels.items()}
    configs = {f: registry.families[f][0].config_components for f in families}
    return Claims(name, families, labels, table, missing, frozenset(info.hooks if info else ()), configs)


_CLAIMS = pytest.StashKey[dict]()


def claims_in(config: pytest.Config, plugin: str, allowed: frozenset[str]) -> Claims:
    """The plugin's claims, read once per pytest run (kept in the run's stash, not in this module)."""
    cache = config.stash.setdefault(_CLAIMS, {})
    key = (normalize(plugin), allowed)
    if key not in cache:
        cache[key] = read_claims(plugin, allowed)
    return cache[key]


# -- the kinds of cases -----------------------------------------------------------------------------------------

Kind = Callable[[Any, Claims], "list[Case]"]
F = TypeVar("F", bound=Callable[..., Any])


def per(kind: Kind) -> Callable[[F], F]:
    """Mark a kit test as run once per case of `kind` (``@per(each_family)``)."""

    def mark(test: F) -> F:
        test.kit_cases = kind  # type: ignore[attr-defined]
        return test

    return mark


def kind_of(test: Any) -> Kind | None:
    return getattr(test, "kit_cases", None)


def each_row_and_task(kit: Any, claims: Claims) -> list[Case]:
    """Every task of every row, claimed or not (each must be claimed or declared)."""
    return [Case(f, m, t) for _, f, m in claims.rows() for t in Task]


def each_claimed_task(kit: Any, claims: Claims) -> list[Case]:
    return [Case(f, m, t) for label, f, m in claims.rows() for t in claims.claimed(label)]


def each_family(kit: Any, claims: Claims) -> list[Case]:
    return [Case(f) for f in claims.families]


def each_family_task(kit: Any, claims: Claims) -> list[Case]:
    """Each task the plugin's own families claim in their plain rows."""
    return [Case(f, m, t) for label, f, m in claims.rows() if not m and f in claims.families for t in claims.claimed(label)]


def each_modified_row_task(kit: Any, claims: Claims) -> list[Case]:
    """Each claimed task of each row with modifiers the kit can select (not ``by_hand``)."""
    return [Case(f, m, t) for label, f, m in claims.rows() if m and label not in kit.by_hand for t in claims.claimed(label)]


def each_single_file_family(kit: Any, claims: Claims) -> list[Case]:
    """Plugins that read single files (``autopipe_detect``): each of their families, or, for a plugin that owns
    none (a component such as a ControlNet), each family its rows extend; less those declared in ``no_single_file``."""
    if "autopipe_detect" not in claims.hooks:
        return []
    return [Case(f) for f in (claims.families or claims.extended) if f not in kit.no_single_file]


def each_planned_family(kit: Any, claims: Claims) -> list[Case]:
    """The plugin's families, where it answers any of the planning hooks."""
    return [Case(f) for f in claims.families] if claims.hooks & PLANNING_HOOKS else []


def each_text2img_family(kit: Any, claims: Claims) -> list[Case]:
    return [Case(f, frozenset(), Task.TEXT2IMG) for f in claims.families if Task.TEXT2IMG in claims.table[f]]


def each_family_reading_configs(kit: Any, claims: Claims) -> list[Case]:
    """The plugin's families that declare component configs (variants, requirements, ``FamilySpec.configs``)."""
    return [Case(f) for f in claims.families if claims.config_components.get(f)]
