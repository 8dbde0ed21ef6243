"""Test support for autopipe and its plugins: fixtures, and the plugin conformance kit.

Import its fixtures into a conftest.py (``from autopipe_core.testing import
tiny_checkpoint``); subclass :class:`PluginConformance` in a test module to
run the contract tests on a plugin (docs/plugin-guide.md). Only tests import
this module: it imports pytest, and its tests import torch and diffusers.
Importing it sets HF_HUB_OFFLINE=1 unless already set, because
huggingface_hub reads that once at import and tests must never reach the hub.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from pathlib import Path  # noqa: E402
from typing import Callable  # noqa: E402

import pytest  # noqa: E402

from .registry import build as build_registry  # noqa: E402
from .tiny import build_tiny  # noqa: E402


def isolate(monkeypatch: pytest.MonkeyPatch, plugins: str, cache: Path) -> None:
    """Load only `plugins` (AUTOPIPE_PLUGINS syntax), cache in `cache`, and never the hub."""
    monkeypatch.setenv("AUTOPIPE_PLUGINS", plugins)
    for name in ("AUTOPIPE_PREFER", "AUTOPIPE_STRICT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AUTOPIPE_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """tiny_checkpoint(family, variant=None) -> a folder built by the family's plugin, once per session.

    Built with every installed plugin in view, whatever AUTOPIPE_PLUGINS says
    when the fixture first runs (session fixtures run before a test's own).
    """
    built: dict[tuple[str, str | None], Path] = {}
    every_plugin = build_registry(allowed=None)

    def get(family: str, variant: str | None = None) -> Path:
        key = (family, variant)
        if key not in built:
            folder = tmp_path_factory.mktemp("tiny") / (family + (f"-{variant}" if variant else ""))
            built[key] = build_tiny(family, folder, variant, every_plugin)
        return built[key]

    return get


# ---------------------------------------------------------------------------
# The plugin conformance kit.
# ---------------------------------------------------------------------------

import inspect  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any, ClassVar, Mapping  # noqa: E402

from . import plugins as _plugins  # noqa: E402
from .specs import DeviceFacts, LoadPlan, PipelineRow  # noqa: E402
from .tasks import Task  # noqa: E402

_GiB = 1 << 30

#: Made-up machines every family's loading code is asked about: it must answer each with a valid plan.
KIT_DEVICES: tuple[DeviceFacts, ...] = (
    DeviceFacts("cpu"),
    DeviceFacts("cuda", 1, 70 * _GiB, 80 * _GiB, True),
    DeviceFacts("cuda", 1, 2 * _GiB, 8 * _GiB, False),
    DeviceFacts("mps", 1),
)


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
class _Claims:
    """What one plugin registers, read once at collection from a registry of it and the plugins it names."""

    families: tuple[str, ...]
    labels: Mapping[str, tuple[str, frozenset[str]]]  # label -> (family, modifiers), rows the plugin writes or owns
    table: Mapping[str, Mapping[Task, str]]  # label -> task -> "module:Class", as resolution will use it
    missing: Mapping[str, Mapping[Task, str]]


def _sample_image(size: int, mode: str = "RGB") -> Any:
    from PIL import Image, ImageDraw

    if mode == "L":  # white where to repaint: the middle half
        mask = Image.new("L", (size, size), 0)
        ImageDraw.Draw(mask).rectangle((size // 4, size // 4, 3 * size // 4, 3 * size // 4), fill=255)
        return mask
    image = Image.new("RGB", (size, size), (200, 120, 40))
    ImageDraw.Draw(image).ellipse((size // 8, size // 8, size // 2, size // 2), fill=(30, 90, 220))
    return image


_pipelines: dict[tuple[str, str], Any] = {}  # (class name, checkpoint) -> a loaded pipeline, shared by the kit's tests
_claims_of: dict[tuple[str, frozenset[str]], "_Claims"] = {}  # (plugin, distributions loaded) -> what the plugin registers


class PluginConformance:
    """The contract every autopipe plugin keeps, as tests. Subclass it in your own test suite::

        from autopipe_core.testing import PluginConformance

        class TestConformance(PluginConformance):
            plugin = "autopipe-lcm"
            cannot = {("latent-consistency", "inpaint"): "diffusers has no LCM inpainting pipeline"}

    pytest then runs, for every family the plugin registers and every row it
    writes (its own, or rows with modifiers over other plugins' families):
    registration and health, each task's class importable and a
    DiffusionPipeline, the tiny checkpoint (and each variant) built by the
    plugin's ``autopipe_build_tiny``, from_pretrained and a 2-step call that
    returns an image for every task claimed, from_pipe between tasks on shared
    component objects, the config round trip, and the loading code's plans.

    A task a row does not claim must be declared in ``cannot`` with why; the
    kit fails on an undeclared gap and on a declaration that is not a gap, so
    the declarations stay true as the plugin grows.
    """

    #: The distribution under test (its name on PyPI, e.g. "autopipe-sd").
    plugin: ClassVar[str] = ""
    #: Other distributions loaded beside it: the families a modifier plugin's rows extend.
    with_plugins: ClassVar[tuple[str, ...]] = ()
    #: (row label, task) -> why this row does not do this task. Row label: the family, or "family+modifier+...".
    cannot: ClassVar[Mapping[tuple[str, Any], str]] = {}
    #: Row label -> why the kit cannot run this row end to end (the plugin's own tests do). Rows with modifiers only.
    by_hand: ClassVar[Mapping[str, str]] = {}
    #: Family or row label -> more keyword arguments for the pipeline call (a row's win over its family's).
    call_kwargs: ClassVar[Mapping[str, Mapping[str, Any]]] = {}
    #: Width and height of the input images of img2img and inpaint.
    image_size: ClassVar[int] = 64
    #: Denoising steps of every call: enough to run every stage, few enough for a test.
    steps: ClassVar[int] = 2

    # -- what an author may override -----------------------------------------

    def modifier_kwargs(self, family: str, modifiers: frozenset[str], pipeline: Any) -> dict[str, Any] | None:
        """The from_pipe keywords that select the row (family, modifiers) from the family's plain `pipeline`.

        The default answers a modifier whose keyword is a switch (consumed,
        chosen by True, as ``enable_pag``). Override it for modifiers that
        take a component (``controlnet=ControlNetModel(...)``); return None to
        fall back to the default.
        """
        from .registry import get_registry

        registry = get_registry()
        kwargs: dict[str, Any] = {}
        for modifier in modifiers:
            spec = next((s for s, _ in registry.modifiers.values() if modifier in s.modifiers), None)
            if spec is None or not spec.consume or spec.choose(True) != modifier:
                return None
            kwargs[spec.kwarg] = True
        return kwargs

    def inputs(self, family: str, modifiers: frozenset[str], task: Task) -> dict[str, Any]:
        """The keyword arguments of the short call that must return an image."""
        import torch

        kwargs: dict[str, Any] = {"num_inference_steps": self.steps, "generator": torch.Generator("cpu").manual_seed(0), "output_type": "pil"}
        if task is not Task.TEXT2IMG:
            kwargs["image"] = _sample_image(self.image_size)
        if task is Task.INPAINT:
            kwargs["mask_image"] = _sample_image(self.image_size, "L")
        kwargs.update(self.call_kwargs.get(family, {}))
        if modifiers:
            kwargs.update(self.call_kwargs.get(row_label(family, modifiers), {}))
        return kwargs

    # -- collection --------------------------------------------------------------

    def _allowed(self) -> frozenset[str]:
        if not self.plugin:
            raise TypeError(f"{type(self).__name__} must set `plugin` to the distribution it tests, e.g. plugin = 'autopipe-sd'")
        return frozenset(_plugins.normalize(p) for p in (self.plugin, *self.with_plugins))

    def _claims(self) -> _Claims:
        key = (_plugins.normalize(self.plugin), self._allowed())
        if key not in _claims_of:
            _claims_of[key] = self._read_claims(key[1])
        return _claims_of[key]

    def _read_claims(self, allowed: frozenset[str]) -> _Claims:
        registry = build_registry(allowed)
        name = _plugins.normalize(self.plugin)
        labels: dict[str, tuple[str, frozenset[str]]] = {f: (f, frozenset()) for f in registry.families_of(name)}
        if any(p.distribution == name and p.ok for p in registry.plugins):
            rows = registry.call(name, "autopipe_pipelines") or []
            for row in rows:
                if isinstance(row, PipelineRow) and row.family in registry.families:
                    labels.setdefault(row_label(row.family, row.modifiers), (row.family, row.modifiers))
        table = {label: {t: ref for t, (ref, _) in registry.table.get(key, {}).items()} for label, key in labels.items()}
        missing = {label: dict(registry.missing.get(key, {})) for label, key in labels.items()}
        return _Claims(registry.families_of(name), labels, table, missing)

    def _declared(self) -> dict[tuple[str, Task], str]:
        return {(label, Task.parse(task)): why for (label, task), why in self.cannot.items()}

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        """Parametrise the kit's tests over what the plugin registers (pytest calls this for each test of the class)."""
        if "case" not in metafunc.fixturenames:
            return
        claims = self._claims()
        kind = getattr(metafunc.function, "_kit_cases", None)
        rows = [(label, fam, mods) for label, (fam, mods) in sorted(claims.labels.items())]
        plain = [c for c in rows if not c[2]]
        if kind == "row_task":
            cases = [Case(f, m, t) for _, f, m in rows for t in Task]
        elif kind == "claimed":
            cases = [Case(f, m, t) for label, f, m in rows for t in Task if t in claims.table[label]]
        elif kind == "family_task":
            cases = [Case(f, m, t) for label, f, m in plain if f in claims.families for t in Task if t in claims.table[label]]
        elif kind == "family":
            cases = [Case(f) for f in claims.families]
        elif kind == "modified":
            cases = [Case(f, m, t) for label, f, m in rows if m and label not in self.by_hand for t in Task if t in claims.table[label]]
        else:
            raise TypeError(f"{metafunc.function.__name__}: unknown kit case kind {kind!r}")
        # A plugin with nothing of a kind (a modifier plugin owns no family) gets one case, None, whose test
        # says so, rather than an empty parameter set that pytest would report as a skip.
        metafunc.parametrize("case", cases or [None], ids=[str(c) for c in cases] or ["none"])

    # -- fixtures ----------------------------------------------------------------

    @pytest.fixture(autouse=True)
    def _kit_environment(self, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
        """Only this plugin and the ones it names are loaded; no hub; tiny checkpoints cached for the session."""
        isolate(monkeypatch, ",".join(sorted(self._allowed())), tmp_path_factory.getbasetemp() / "autopipe-cache")

    # -- helpers -----------------------------------------------------------------

    def _checkpoint(self, family: str, variant: str | None = None) -> Path:
        from .tiny import tiny_checkpoint as cached_tiny

        return cached_tiny(family, variant)[0]

    def _checkpoint_for(self, family: str, task: Task) -> Path:
        """The family's tiny checkpoint that can do `task`: the ordinary one, else a variant made for it."""
        from .errors import UnsupportedTaskError
        from .registry import get_registry
        from .resolve import resolve

        path = self._checkpoint(family)
        try:
            resolve(path, task)
            return path
        except UnsupportedTaskError as refusal:
            spec = get_registry().families[family][0]
            variant = next((v.name for v in spec.variants if task in v.tasks and not v.matches(_configs(path))), None)
            if variant is None:
                raise AssertionError(f"{family} claims {task.value} but neither its tiny checkpoint nor any variant can do it: {refusal}") from refusal
            return self._checkpoint(family, variant)

    def _run(self, pipeline: Any, family: str, modifiers: frozenset[str], task: Task) -> Any:
        from PIL import Image

        if hasattr(pipeline, "set_progress_bar_config"):
            pipeline.set_progress_bar_config(disable=True)
        kwargs = self.inputs(family, modifiers, task)
        if task is not Task.TEXT2IMG and "strength" in inspect.signature(pipeline.__call__).parameters:
            kwargs.setdefault("strength", 0.75)  # SDXL's default of 0.3 leaves none of two steps to run
        images = pipeline("a red fox in the snow", **kwargs).images
        assert len(images) == 1, f"{type(pipeline).__name__} returned {len(images)} images for one prompt"
        assert isinstance(images[0], Image.Image) and min(images[0].size) > 0, f"{type(pipeline).__name__} returned {type(images[0]).__name__}, not a PIL image"
        return images[0]

    # -- the tests ---------------------------------------------------------------

    def test_plugin_loads_healthy_and_strict(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from .registry import get_registry

        monkeypatch.setenv("AUTOPIPE_STRICT", "1")  # any broken plugin among the allowed ones raises here
        registry = get_registry()
        name = _plugins.normalize(self.plugin)
        info = next((p for p in registry.plugins if p.distribution == name), None)
        assert info is not None, f"no entry point of {self.plugin} in the group {_plugins.ENTRY_POINT_GROUP}: is it installed?"
        assert info.ok, info.error
        assert info.hooks, f"{self.plugin} implements no hook"
        lost = [c for c in registry.conflicts if name in c.losers]
        assert not lost, f"{self.plugin} loses conflicts to the plugins loaded beside it: {lost}"

    def test_registers_a_family_or_rows(self) -> None:
        claims = self._claims()
        assert claims.labels, f"{self.plugin} registers no family and no pipeline row of an installed family"

    def test_declarations_name_real_rows(self) -> None:
        claims = self._claims()
        for label, task in self._declared():
            assert label in claims.labels, f"`cannot` names {label!r}, which {self.plugin} does not register (its rows: {sorted(claims.labels)})"
        for label in self.by_hand:
            assert label in claims.labels and claims.labels[label][1], f"`by_hand` names {label!r}, which is not a row with modifiers of {self.plugin}"

    def test_importing_it_imports_no_heavy_library(self) -> None:
        code = (
            "import sys; from autopipe_core.registry import build; "
            f"r = build(allowed=frozenset({sorted(self._allowed())!r})); "
            "assert all(p.ok for p in r.plugins), [p.error for p in r.plugins]; "
            "print([m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules])"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == "[]", f"building the registry with {self.plugin} imported {out.stdout.strip()}: keep class references lazy"

    def test_task_claimed_or_declared(self, case: Case | None) -> None:
        assert case is not None and case.task is not None
        claims = self._claims()
        declared = self._declared()
        claimed = case.task in claims.table[case.label]
        why = declared.get((case.label, case.task))
        if claimed:
            assert why is None, f"{case.label} declares it cannot do {case.task.value} ({why}) but claims {claims.table[case.label][case.task]}"
            return
        assert why, (
            f"{case.label} has no {case.task.value} pipeline and does not say so: add "
            f"cannot = {{({case.label!r}, {case.task.value!r}): 'why'}} to {type(self).__name__}"
        )
        if case.modifiers or case.family not in claims.families:
            return
        # The user gets a clear refusal, with the row's reason where it gave one, before any weight is read.
        from .errors import UnsupportedTaskError
        from .resolve import resolve

        with pytest.raises(UnsupportedTaskError) as refusal:
            resolve(self._checkpoint(case.family), case.task)
        reason = claims.missing[case.label].get(case.task)
        assert reason is None or reason in str(refusal.value)

    test_task_claimed_or_declared._kit_cases = "row_task"  # type: ignore[attr-defined]

    def test_pipeline_class_imports_as_a_diffusion_pipeline(self, case: Case | None) -> None:
        assert case is not None and case.task is not None
        from diffusers import DiffusionPipeline

        from .resolve import import_class
        from .specs import class_name

        ref = self._claims().table[case.label][case.task]
        cls = import_class(ref)
        assert isinstance(cls, type) and issubclass(cls, DiffusionPipeline), f"{ref} is not a DiffusionPipeline subclass"
        assert cls.__name__ == class_name(ref)

    test_pipeline_class_imports_as_a_diffusion_pipeline._kit_cases = "claimed"  # type: ignore[attr-defined]

    def test_tiny_checkpoint_and_its_variants(self, case: Case | None) -> None:
        claims = self._claims()
        if case is None:
            assert not claims.families, "the kit found families but no case for them"
            return
        from .errors import UnsupportedTaskError
        from .registry import get_registry
        from .resolve import resolve

        spec = get_registry().families[case.family][0]
        ordinary = self._checkpoint(case.family)
        claimed = [t for t in Task if t in claims.table[case.label]]
        assert claimed, f"{case.family} claims no task"
        first = next((resolve(ordinary, t) for t in claimed if _resolves(ordinary, t)), None)
        assert first is not None and first.family == case.family, f"the tiny {case.family} checkpoint does not resolve to {case.family}"
        for variant in spec.variants:
            path = ordinary if first.variant == variant.name else self._checkpoint(case.family, variant.name)
            for task in claimed:
                if task in variant.tasks:
                    resolution = resolve(path, task)
                    assert (resolution.family, resolution.variant) == (case.family, variant.name), f"the tiny {variant.name} checkpoint is not recognised as such"
                else:
                    with pytest.raises(UnsupportedTaskError, match=variant.name):
                        resolve(path, task)

    test_tiny_checkpoint_and_its_variants._kit_cases = "family"  # type: ignore[attr-defined]

    def test_recognised_classes_are_refused_with_what_to_load(self, case: Case | None, tmp_path: Path) -> None:
        if case is None:
            assert not self._claims().families
            return
        import json

        from .errors import UnsupportedModelError, UnsupportedTaskError
        from .registry import get_registry
        from .resolve import resolve

        spec = get_registry().families[case.family][0]
        for name, reason in spec.recognised.items():
            folder = tmp_path / name
            folder.mkdir()
            (folder / "model_index.json").write_text(json.dumps({"_class_name": name}))
            for task in Task:
                with pytest.raises(UnsupportedModelError) as refusal:
                    resolve(folder, task)
                assert not isinstance(refusal.value, UnsupportedTaskError), f"{name} is refused as a task of a loadable checkpoint"
                assert reason in str(refusal.value), f"the refusal of {name} does not give the family's reason"

    test_recognised_classes_are_refused_with_what_to_load._kit_cases = "family"  # type: ignore[attr-defined]

    def test_from_pretrained_returns_an_image(self, case: Case | None) -> None:
        if case is None:
            assert not self._claims().families
            return
        from .auto import AutoPipelineForImage2Image, AutoPipelineForInpainting, AutoPipelineForText2Image
        from .resolve import resolve

        assert case.task is not None
        path = self._checkpoint_for(case.family, case.task)
        auto = {Task.TEXT2IMG: AutoPipelineForText2Image, Task.IMG2IMG: AutoPipelineForImage2Image, Task.INPAINT: AutoPipelineForInpainting}[case.task]
        pipeline = auto.from_pretrained(path)
        assert type(pipeline).__name__ == resolve(path, case.task).pipeline_class
        self._run(pipeline, case.family, frozenset(), case.task)

    test_from_pretrained_returns_an_image._kit_cases = "family_task"  # type: ignore[attr-defined]

    def test_from_pipe_shares_the_components(self, case: Case | None) -> None:
        if case is None:
            assert not self._claims().families
            return
        from .auto import AutoPipelineForImage2Image, AutoPipelineForInpainting, AutoPipelineForText2Image
        from .resolve import resolve

        assert case.task is not None
        claims = self._claims()
        path = self._checkpoint_for(case.family, case.task)
        # From another task the same checkpoint does, to this one.
        source_task = next((t for t in Task if t is not case.task and t in claims.table[case.label] and _resolves(path, t)), case.task)
        source = self._pipeline_on(path, source_task)
        auto = {Task.TEXT2IMG: AutoPipelineForText2Image, Task.IMG2IMG: AutoPipelineForImage2Image, Task.INPAINT: AutoPipelineForInpainting}[case.task]
        switched = auto.from_pipe(source)
        assert type(switched).__name__ == resolve(path, case.task).pipeline_class
        models = {n: c for n, c in source.components.items() if hasattr(c, "parameters")}
        assert models, f"{type(source).__name__} has no model components"
        for name, component in models.items():
            assert switched.components.get(name) is component, f"from_pipe({type(source).__name__}) -> {type(switched).__name__}: {name} is not the same object"
        self._run(switched, case.family, frozenset(), case.task)

    test_from_pipe_shares_the_components._kit_cases = "family_task"  # type: ignore[attr-defined]

    def _pipeline_on(self, path: Path, task: Task) -> Any:
        from .auto import AutoPipelineForImage2Image, AutoPipelineForInpainting, AutoPipelineForText2Image

        auto = {Task.TEXT2IMG: AutoPipelineForText2Image, Task.IMG2IMG: AutoPipelineForImage2Image, Task.INPAINT: AutoPipelineForInpainting}[task]
        key = (auto.__name__, str(path))
        if key not in _pipelines:
            _pipelines[key] = auto.from_pretrained(path)
        return _pipelines[key]

    def test_config_round_trip(self, case: Case | None) -> None:
        if case is None:
            assert not self._claims().families
            return
        from .auto import AutoPipelineForImage2Image, AutoPipelineForInpainting, AutoPipelineForText2Image

        auto = {Task.TEXT2IMG: AutoPipelineForText2Image, Task.IMG2IMG: AutoPipelineForImage2Image, Task.INPAINT: AutoPipelineForInpainting}
        claims = self._claims()
        claimed = [t for t in Task if t in claims.table[case.label]]
        for path in dict.fromkeys(self._checkpoint_for(case.family, t) for t in claimed):
            tasks = [t for t in claimed if _resolves(path, t)]
            start = self._pipeline_on(path, tasks[0])
            for other in tasks[1:]:
                back = auto[tasks[0]].from_pipe(auto[other].from_pipe(start))
                assert type(back) is type(start)
                # diffusers' convention: an entry the other class added that this one does not take is kept
                # aside as "_name" (handed back on the next switch); every entry of the start survives as it was.
                kept = {k: v for k, v in back.config.items() if k in start.config or not k.startswith("_")}
                assert kept == dict(start.config), f"{tasks[0].value} -> {other.value} -> {tasks[0].value} changed the config"

    test_config_round_trip._kit_cases = "family"  # type: ignore[attr-defined]

    def test_rows_with_modifiers_run(self, case: Case | None) -> None:
        claims = self._claims()
        if case is None:
            assert not [label for label, (_, mods) in claims.labels.items() if mods and label not in self.by_hand and claims.table[label]]
            return
        from .auto import AutoPipelineForImage2Image, AutoPipelineForInpainting, AutoPipelineForText2Image
        from .specs import class_name

        assert case.task is not None
        auto = {Task.TEXT2IMG: AutoPipelineForText2Image, Task.IMG2IMG: AutoPipelineForImage2Image, Task.INPAINT: AutoPipelineForInpainting}[case.task]
        path = self._checkpoint_for(case.family, case.task)
        base = self._pipeline_on(path, case.task) if _resolves(path, case.task) else None
        assert base is not None
        kwargs = self.modifier_kwargs(case.family, case.modifiers, base)
        if kwargs is None:
            kwargs = PluginConformance.modifier_kwargs(self, case.family, case.modifiers, base)
        assert kwargs is not None, (
            f"the kit cannot select {case.label} by itself: override modifier_kwargs in {type(self).__name__}, "
            f"or add {case.label!r} to by_hand with why"
        )
        switched = auto.from_pipe(base, **kwargs)
        assert type(switched).__name__ == class_name(claims.table[case.label][case.task])
        self._run(switched, case.family, case.modifiers, case.task)

    test_rows_with_modifiers_run._kit_cases = "modified"  # type: ignore[attr-defined]

    def test_loading_code_gives_valid_plans(self, case: Case | None) -> None:
        if case is None:
            assert not self._claims().families
            return
        from . import loading
        from .resolve import resolve
        from .specs import DTYPES, PLACEMENTS

        claims = self._claims()
        task = next(t for t in Task if t in claims.table[case.label])
        resolution = resolve(self._checkpoint_for(case.family, task), task)
        for device in KIT_DEVICES:
            plan = loading.plan(resolution, device)  # raises PluginError for anything but a LoadPlan
            assert isinstance(plan, LoadPlan)
            assert plan.dtype in DTYPES and plan.placement in PLACEMENTS and plan.reason, plan
            assert plan.device in (device.type, "cpu"), f"a plan for a {device.type} machine puts the pipeline on {plan.device}"
            if not device.accelerated:
                assert plan.placement == "device", f"offloading on a CPU-only machine: {plan}"
            loading.load_kwargs(plan, {})  # the dtypes name torch dtypes

    test_loading_code_gives_valid_plans._kit_cases = "family"  # type: ignore[attr-defined]

    def test_loads_take_the_load_lock(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Every load runs under autopipe_core.LOAD_LOCK: the plugin's public loaders are `serialized`, and its
        family's from_pretrained reaches diffusers only with the lock held."""
        from .load_lock import LOAD_LOCK, MARK
        from .registry import get_registry

        registry = get_registry()
        name = _plugins.normalize(self.plugin)
        module = registry.manager.get_plugin(name) if registry.manager is not None else None
        assert module is not None, f"{self.plugin} is not loaded"
        loaders = public_loaders(module)
        unlocked = [n for n, f in loaders.items() if not getattr(f, MARK, False)]
        assert not unlocked, (
            f"{self.plugin}'s public loaders {unlocked} load without autopipe's process-wide lock: "
            "decorate them with autopipe_core.serialized"
        )
        families = self._claims().families
        assert loaders or families, f"{self.plugin} has neither a family nor a public loader: it loads nothing"
        from diffusers import DiffusionPipeline, ModelMixin

        seen: list[tuple[str, bool]] = []
        for owner in (DiffusionPipeline, ModelMixin):
            original = owner.__dict__["from_pretrained"].__func__

            def watched(cls: type, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
                seen.append((cls.__name__, LOAD_LOCK.held()))
                return _original(cls, *args, **kwargs)

            monkeypatch.setattr(owner, "from_pretrained", classmethod(watched))
        from .auto import AUTO_CLASSES

        for family in families:
            task = next(t for t in Task if t in self._claims().table[family])
            AUTO_CLASSES[task].from_pretrained(self._checkpoint_for(family, task))
        assert all(held for _, held in seen), f"diffusers loaded {[n for n, h in seen if not h]} outside autopipe_core.LOAD_LOCK"
        assert seen or not families, "no load reached diffusers' from_pretrained"


def public_loaders(module: Any) -> dict[str, Any]:
    """A plugin module's public functions that load weights, by name: ``from_*`` and ``load*``, hook implementations aside."""
    names = getattr(module, "__all__", None) or [n for n in vars(module) if not n.startswith("_")]
    out = {}
    for name in names:
        value = getattr(module, name, None)
        if inspect.isfunction(value) and name.startswith(("from_", "load")) and not hasattr(value, "autopipe_impl"):
            out[name] = value
    return out


def _resolves(path: Path, task: Task) -> bool:
    from .errors import UnsupportedTaskError
    from .resolve import resolve

    try:
        resolve(path, task)
        return True
    except UnsupportedTaskError:
        return False


def _configs(path: Path) -> Mapping[str, Mapping[str, Any]]:
    """The component configs resolution read for a checkpoint folder (what its variants are matched against)."""
    from .resolve import identify

    return identify(str(path)).configs

