"""The plugin conformance kit: the contract every autopipe plugin keeps, as tests its own suite runs.

See :class:`PluginConformance` and docs/plugin-guide.md ("Testing: the conformance kit").
"""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar, Mapping

import pytest

from ..auto import AUTO_CLASSES
from ..outputs import images_of
from ..plugins import ENTRY_POINT_GROUP, normalize
from ..registry import Registry, get_registry
from ..registry import build as build_registry
from ..specs import DTYPES, PLACEMENTS, LoadPlan
from ..tasks import Task
from .cases import (
    Case,
    Claims,
    claims_in,
    each_claimed_task,
    each_family,
    each_family_reading_configs,
    each_family_task,
    each_modified_row_task,
    each_planned_family,
    each_row_and_task,
    each_single_file_family,
    each_text2img_family,
    kind_of,
    per,
    row_label,
)
from .images import sample_image, sample_mask
from .isolation import cache_folder, isolate
from .machines import KIT_DEVICES, LARGE_GPU, placement_machines

#: The size the kit asks the activation allowance for: one no family draws at natively, so that it must follow it.
ASKED_SIZE = (320, 192)


@dataclass
class KitState:
    """What one conformance class keeps between its tests: the claims, and what is costly to make twice."""

    claims: Claims
    folder: Path  # where the kit writes files (single files)
    pipelines: dict[tuple[str, str], Any] = field(default_factory=dict)  # (AutoPipeline, checkpoint) -> pipeline
    single_files: dict[str, Path] = field(default_factory=dict)  # family -> the file tiny_single_file wrote
    real_bytes: dict[tuple, dict[str, int]] = field(default_factory=dict)  # (checkpoint, plan's dtypes) -> bytes
    installed: Registry | None = None  # every installed plugin, for what a single file's claims rank against



def source_task(claimed: list[Task], task: Task, does: Any) -> Task:
    """The task the from_pipe check switches from to `task`: another the same checkpoint does (`does(task)`), so that
    from_pipe really changes class; `task` itself only where the checkpoint does no other."""
    return next((t for t in claimed if t is not task and does(t)), task)

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
    returns an image for every task claimed, text2img in bfloat16, from_pipe
    between tasks on shared component objects and from a live pipeline's
    component configs, the config round trip, the loading code's plans and
    placements, single files, and the load lock. Each test runs only for what
    the plugin implements: a plugin with no family gets no per-family case.

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
    #: Family -> why no tiny single file of it can be written (a plugin implementing autopipe_detect only).
    no_single_file: ClassVar[Mapping[str, str]] = {}
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
            kwargs["image"] = sample_image(self.image_size)
        if task is Task.INPAINT:
            kwargs["mask_image"] = sample_mask(self.image_size)
        kwargs.update(self.call_kwargs.get(family, {}))
        if modifiers:
            kwargs.update(self.call_kwargs.get(row_label(family, modifiers), {}))
        return kwargs

    def tiny_single_file(self, family: str, path: Path) -> Path:
        """Write `family`'s tiny checkpoint as one ``.safetensors`` file at `path`; return the path.

        Asked only of a plugin implementing ``autopipe_detect``: for each of
        its families, or, for a plugin that owns none (a ControlNet), of each
        family its rows extend, the file of the model it detects for that
        family. ``self.tiny_folder(family)`` is the tiny checkpoint folder to
        convert, where that is the way.
        """
        raise NotImplementedError(
            f"{self.plugin} implements autopipe_detect: override tiny_single_file(self, family, path) in {type(self).__name__} "
            f"to write the tiny {family} checkpoint as one .safetensors file (the layout real {family} files have), "
            f"or declare no_single_file = {{{family!r}: 'why'}}"
        )

    # -- for authors' overrides ---------------------------------------------------

    def allowed(self) -> frozenset[str]:
        """The distributions the kit loads: the plugin under test and ``with_plugins``."""
        if not self.plugin:
            raise TypeError(f"{type(self).__name__} must set `plugin` to the distribution it tests, e.g. plugin = 'autopipe-sd'")
        return frozenset(normalize(p) for p in (self.plugin, *self.with_plugins))

    def tiny_folder(self, family: str, variant: str | None = None) -> Path:
        """The family's tiny checkpoint (a folder), built by its plugin and cached."""
        from ..tiny import tiny_checkpoint as cached_tiny

        return cached_tiny(family, variant)[0]

    # -- collection --------------------------------------------------------------

    def cases_for(self, config: pytest.Config, test: Any) -> list[Case] | None:
        """The cases of one of the kit's tests for this plugin; None for a test not run per case (or no plugin set)."""
        kind = kind_of(test)
        if kind is None or not self.plugin:
            return None
        return kind(self, claims_in(config, self.plugin, self.allowed()))

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        """Parametrise the kit's tests over what the plugin registers (pytest calls this for each test of the class)."""
        if "case" not in metafunc.fixturenames:
            return
        kind = kind_of(metafunc.function)
        if kind is None:
            raise TypeError(f"{metafunc.function.__name__} takes a case but names no kind of cases: decorate it with @per(...)")
        cases = kind(self, claims_in(metafunc.config, self.plugin, self.allowed()))
        if cases:
            metafunc.parametrize("case", cases, ids=[str(c) for c in cases])
            return
        # The autopipe pytest plugin leaves a test with no case out of the collection; it is off in this run.
        why = "no case for this plugin (with the autopipe pytest plugin on, such a test is not collected at all)"
        metafunc.parametrize("case", [pytest.param(None, marks=pytest.mark.skip(reason=why), id="no-case")])

    # -- fixtures ----------------------------------------------------------------

    @pytest.fixture(scope="class")
    def _kit_state(self, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> KitState:
        return KitState(claims_in(request.config, self.plugin, self.allowed()), tmp_path_factory.mktemp("kit"))

    @pytest.fixture(autouse=True)
    def _kit_environment(self, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory, _kit_state: KitState) -> None:
        """Only this plugin and the ones it names are loaded; no hub; tiny checkpoints cached for the session."""
        self._state = _kit_state
        isolate(monkeypatch, ",".join(sorted(self.allowed())), cache_folder(tmp_path_factory))

    # -- helpers -----------------------------------------------------------------

    def _claims(self) -> Claims:
        return self._state.claims

    def _checkpoint_for(self, family: str, task: Task) -> Path:
        """The family's tiny checkpoint that can do `task`: the ordinary one, else a variant made for it."""
        from ..errors import UnsupportedTaskError
        from ..resolve import resolve

        path = self.tiny_folder(family)
        try:
            resolve(path, task)
            return path
        except UnsupportedTaskError as refusal:
            spec = get_registry().families[family][0]
            variant = next((v.name for v in spec.variants if task in v.tasks and not v.matches(configs_of(path))), None)
            if variant is None:
                raise AssertionError(f"{family} claims {task.value} but neither its tiny checkpoint nor any variant can do it: {refusal}") from refusal
            return self.tiny_folder(family, variant)

    def _checkpoints(self, family: str) -> list[Path]:
        """The family's tiny checkpoint and each of its variants'."""
        spec = get_registry().families[family][0]
        return list(dict.fromkeys([self.tiny_folder(family), *(self._variant_checkpoint(family, v.name) for v in spec.variants)]))

    def _variant_checkpoint(self, family: str, variant: str) -> Path:
        from ..resolve import resolve

        ordinary = self.tiny_folder(family)
        claimed = self._claims().claimed(family)
        first = next((resolve(ordinary, t) for t in claimed if resolves(ordinary, t)), None)
        return ordinary if first is not None and first.variant == variant else self.tiny_folder(family, variant)

    def _pipeline_on(self, path: Path, task: Task) -> Any:
        auto = AUTO_CLASSES[task]
        key = (auto.__name__, str(path))
        if key not in self._state.pipelines:
            self._state.pipelines[key] = auto.from_pretrained(path)
        return self._state.pipelines[key]

    def _run(self, pipeline: Any, family: str, modifiers: frozenset[str], task: Task) -> Any:
        from PIL import Image

        if hasattr(pipeline, "set_progress_bar_config"):
            pipeline.set_progress_bar_config(disable=True)
        kwargs = self.inputs(family, modifiers, task)
        if task is not Task.TEXT2IMG and "strength" in inspect.signature(pipeline.__call__).parameters:
            kwargs.setdefault("strength", 0.75)  # SDXL's default of 0.3 leaves none of two steps to run
        # The prompt by keyword: some classes take image= first (QwenImageEditPipeline), so a positional one collides.
        parameters = inspect.signature(pipeline.__call__).parameters
        images = images_of(pipeline(prompt="a red fox in the snow", **kwargs) if "prompt" in parameters else pipeline("a red fox in the snow", **kwargs))
        assert len(images) == 1, f"{type(pipeline).__name__} returned {len(images)} images for one prompt"
        image = images[0]
        if isinstance(image, list):  # one image per layer for one prompt (QwenImageLayeredPipeline): the first is checked
            assert image, f"{type(pipeline).__name__} returned no layers for one prompt"
            image = image[0]
        assert isinstance(image, Image.Image) and min(image.size) > 0, f"{type(pipeline).__name__} returned {type(image).__name__}, not a PIL image"
        return image

    def _single_file(self, family: str) -> Path:
        if family not in self._state.single_files:
            path = self._state.folder / f"{family}.safetensors"
            written = self.tiny_single_file(family, path)
            assert written is not None and Path(written).is_file(), f"{type(self).__name__}.tiny_single_file({family!r}, path) wrote no file at {written or path}"
            self._state.single_files[family] = Path(written)
        return self._state.single_files[family]

    def _real_bytes(self, resolution: Any, path: Path, plan: LoadPlan) -> dict[str, int]:
        """Each model component's bytes as loaded on this CPU in the plan's dtypes: every tensor of its state_dict,
        parameters and persistent buffers (ChatGLM's rotary ``inv_freq``), which the weight files hold and the
        planner counts from their headers; tied or shared storage once."""
        import torch

        from .. import loading

        key = (str(path), plan.dtype, plan.variant, tuple(sorted(plan.component_dtypes.items())), tuple(sorted(plan.skip)))
        if key not in self._state.real_bytes:
            on_cpu = replace(plan, placement="device", device="cpu")
            pipeline = loading.from_pretrained(resolution, path, loading.load_kwargs(on_cpu, {}))
            out = {}
            for name, component in pipeline.components.items():
                if isinstance(component, torch.nn.Module):
                    tensors = component.state_dict(keep_vars=True).values()
                    out[name] = sum({t.data_ptr(): t.numel() * t.element_size() for t in tensors}.values())
            self._state.real_bytes[key] = out
        return self._state.real_bytes[key]

    # -- the tests ---------------------------------------------------------------

    def test_plugin_loads_healthy_and_strict(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("AUTOPIPE_STRICT", "1")  # any broken plugin among the allowed ones raises here
        registry = get_registry()
        name = normalize(self.plugin)
        info = next((p for p in registry.plugins if p.distribution == name), None)
        assert info is not None, f"no entry point of {self.plugin} in the group {ENTRY_POINT_GROUP}: is it installed?"
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
        read = (claims.families or claims.extended) if "autopipe_detect" in claims.hooks else ()
        for family in self.no_single_file:
            assert family in read, (
                f"`no_single_file` names {family!r}, which is not a family {self.plugin} reads single files of "
                f"({', '.join(read) or 'it implements no autopipe_detect'}): remove it"
            )

    def _declared(self) -> dict[tuple[str, Task], str]:
        return {(label, Task.parse(task)): why for (label, task), why in self.cannot.items()}

    def test_importing_it_imports_no_heavy_library(self) -> None:
        code = (
            "import sys; from autopipe_core.registry import build; "
            f"r = build(allowed=frozenset({sorted(self.allowed())!r})); "
            "assert all(p.ok for p in r.plugins), [p.error for p in r.plugins]; "
            "print([m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules])"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == "[]", f"building the registry with {self.plugin} imported {out.stdout.strip()}: keep class references lazy"

    @per(each_row_and_task)
    def test_task_claimed_or_declared(self, case: Case) -> None:
        assert case.task is not None
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
        from ..errors import UnsupportedTaskError
        from ..resolve import resolve

        with pytest.raises(UnsupportedTaskError) as refusal:
            resolve(self.tiny_folder(case.family), case.task)
        reason = claims.missing[case.label].get(case.task)
        assert reason is None or reason in str(refusal.value)

    @per(each_claimed_task)
    def test_pipeline_class_imports_as_a_diffusion_pipeline(self, case: Case) -> None:
        from diffusers import DiffusionPipeline

        from ..specs import class_name, import_class

        assert case.task is not None
        ref = self._claims().table[case.label][case.task]
        cls = import_class(ref)
        assert isinstance(cls, type) and issubclass(cls, DiffusionPipeline), f"{ref} is not a DiffusionPipeline subclass"
        assert cls.__name__ == class_name(ref)

    @per(each_family)
    def test_tiny_checkpoint_and_its_variants(self, case: Case) -> None:
        from ..errors import UnsupportedTaskError
        from ..resolve import resolve

        claims = self._claims()
        spec = get_registry().families[case.family][0]
        ordinary = self.tiny_folder(case.family)
        claimed = claims.claimed(case.label)
        assert claimed, f"{case.family} claims no task"
        first = next((resolve(ordinary, t) for t in claimed if resolves(ordinary, t)), None)
        assert first is not None and first.family == case.family, f"the tiny {case.family} checkpoint does not resolve to {case.family}"
        for variant in spec.variants:
            path = ordinary if first.variant == variant.name else self.tiny_folder(case.family, variant.name)
            for task in claimed:
                if task in variant.tasks:
                    resolution = resolve(path, task)
                    assert (resolution.family, resolution.variant) == (case.family, variant.name), f"the tiny {variant.name} checkpoint is not recognised as such"
                else:
                    with pytest.raises(UnsupportedTaskError, match=variant.name):
                        resolve(path, task)

    @per(each_family)
    def test_recognised_classes_are_refused_with_what_to_load(self, case: Case, tmp_path: Path) -> None:
        from ..errors import UnsupportedModelError, UnsupportedTaskError
        from ..resolve import resolve

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

    @per(each_family_task)
    def test_from_pretrained_returns_an_image(self, case: Case) -> None:
        from ..resolve import resolve

        assert case.task is not None
        path = self._checkpoint_for(case.family, case.task)
        pipeline = AUTO_CLASSES[case.task].from_pretrained(path)
        assert type(pipeline).__name__ == resolve(path, case.task).pipeline_class
        self._run(pipeline, case.family, frozenset(), case.task)

    @per(each_text2img_family)
    def test_text2img_runs_in_bfloat16(self, case: Case) -> None:
        import torch

        path = self._checkpoint_for(case.family, Task.TEXT2IMG)
        pipeline = AUTO_CLASSES[Task.TEXT2IMG].from_pretrained(path, torch_dtype=torch.bfloat16)
        dtypes = {n: c.dtype for n, c in pipeline.components.items() if isinstance(c, torch.nn.Module)}
        assert torch.bfloat16 in dtypes.values(), (
            f"AutoPipelineForText2Image.from_pretrained(tiny {case.family}, torch_dtype=torch.bfloat16) loaded no component in "
            f"bfloat16 ({dtypes}): pass the caller's torch_dtype on to the components (autopipe_from_pretrained)"
        )
        try:
            self._run(pipeline, case.family, frozenset(), Task.TEXT2IMG)
        except Exception as error:
            raise AssertionError(
                f"a 2-step text2img call of {type(pipeline).__name__} in bfloat16 on the CPU failed ({type(error).__name__}: {error}): "
                f"make {case.family}'s pipeline run in the dtype its components were loaded in (inputs and latents cast to the "
                "models' dtype, no float32 or float16 built in), as diffusers' own pipelines do"
            ) from error

    @per(each_family_task)
    def test_from_pipe_shares_the_components(self, case: Case) -> None:
        from ..resolve import resolve

        assert case.task is not None
        claims = self._claims()
        path = self._checkpoint_for(case.family, case.task)
        source = self._pipeline_on(path, source_task(claims.claimed(case.label), case.task, lambda t: resolves(path, t)))
        switched = AUTO_CLASSES[case.task].from_pipe(source)
        assert type(switched).__name__ == resolve(path, case.task).pipeline_class
        models = {n: c for n, c in source.components.items() if hasattr(c, "parameters")}
        assert models, f"{type(source).__name__} has no model components"
        for name, component in models.items():
            assert switched.components.get(name) is component, f"from_pipe({type(source).__name__}) -> {type(switched).__name__}: {name} is not the same object"
        self._run(switched, case.family, frozenset(), case.task)

    @per(each_family_reading_configs)
    def test_from_pipe_reads_the_declared_configs(self, case: Case) -> None:
        """A live pipeline shows from_pipe the component configs the family declares, as its folder shows resolution."""
        from ..resolve import identify

        spec = get_registry().families[case.family][0]
        claimed = self._claims().claimed(case.family)
        for path in self._checkpoints(case.family):
            tasks = [t for t in claimed if resolves(path, t)]
            assert tasks, f"the tiny {case.family} checkpoint {path.name} does no task {case.family} claims"
            live = self._pipeline_on(path, tasks[0])
            on_disk, in_memory = identify(str(path)).configs, identify(live).configs
            cls = type(live).__name__
            for component in spec.config_components:
                if component not in on_disk:
                    continue  # this checkpoint has no such component
                assert component in in_memory, (
                    f"from_pipe reads no {component} config from a live {cls} ({case.family} declares it in its variants, "
                    f"requirements or FamilySpec.configs): the {component} component has no .config a library serialises"
                )
                differ = sorted(k for k, v in on_disk[component].items() if not k.startswith("_") and plain(v) != plain(in_memory[component].get(k, MISSING)))
                assert not differ, (
                    f"a live {cls}'s {component} config differs from the {path.name}/{component}/config.json it was loaded from at "
                    + ", ".join(f"{k} ({on_disk[component][k]!r} on disk, {in_memory[component].get(k, MISSING)!r} live)" for k in differ[:5])
                    + f": from_pipe decides from the live values, so key {case.family}'s variants and requirements on entries the "
                    "component's library keeps on the loaded model as its config.json has them (and let no pipeline rewrite them)"
                )
            for task in claimed:
                from_folder, from_live = outcome(path, task), outcome(live, task)
                assert from_live == from_folder, (
                    f"{task.value} of a live {cls} resolves to {from_live}, of its folder {path.name} to {from_folder}: "
                    f"from_pipe must decide as from_pretrained does from the configs {case.family} declares"
                )
                if from_live[0] == "resolved":
                    switched = AUTO_CLASSES[task].from_pipe(live)
                    assert type(switched).__name__ == from_live[3], f"from_pipe({cls}) for {task.value} gave {type(switched).__name__}"

    @per(each_family)
    def test_config_round_trip(self, case: Case) -> None:
        claims = self._claims()
        claimed = claims.claimed(case.label)
        for path in dict.fromkeys(self._checkpoint_for(case.family, t) for t in claimed):
            tasks = [t for t in claimed if resolves(path, t)]
            start = self._pipeline_on(path, tasks[0])
            for other in tasks[1:]:
                back = AUTO_CLASSES[tasks[0]].from_pipe(AUTO_CLASSES[other].from_pipe(start))
                assert type(back) is type(start)
                # diffusers' convention: an entry the other class added that this one does not take is kept
                # aside as "_name" (handed back on the next switch); every entry of the start survives as it was.
                kept = {k: v for k, v in back.config.items() if k in start.config or not k.startswith("_")}
                assert kept == dict(start.config), f"{tasks[0].value} -> {other.value} -> {tasks[0].value} changed the config"

    @per(each_modified_row_task)
    def test_rows_with_modifiers_run(self, case: Case) -> None:
        from ..specs import class_name

        assert case.task is not None
        path = self._checkpoint_for(case.family, case.task)
        assert resolves(path, case.task), f"the tiny {case.family} checkpoint cannot do {case.task.value}, which {case.label} claims"
        base = self._pipeline_on(path, case.task)
        kwargs = self.modifier_kwargs(case.family, case.modifiers, base)
        if kwargs is None:
            kwargs = PluginConformance.modifier_kwargs(self, case.family, case.modifiers, base)
        assert kwargs is not None, (
            f"the kit cannot select {case.label} by itself: override modifier_kwargs in {type(self).__name__}, "
            f"or add {case.label!r} to by_hand with why"
        )
        switched = AUTO_CLASSES[case.task].from_pipe(base, **kwargs)
        assert type(switched).__name__ == class_name(self._claims().table[case.label][case.task])
        self._run(switched, case.family, case.modifiers, case.task)

    @per(each_family)
    def test_loading_code_gives_valid_plans(self, case: Case) -> None:
        from .. import loading
        from ..resolve import resolve

        task = self._claims().claimed(case.label)[0]
        resolution = resolve(self._checkpoint_for(case.family, task), task)
        for device in KIT_DEVICES:
            plan = loading.plan(resolution, device)  # raises PluginError for anything but a LoadPlan
            assert isinstance(plan, LoadPlan)
            assert plan.dtype in DTYPES and plan.placement in PLACEMENTS and plan.reason, plan
            assert plan.device in (device.type, "cpu"), f"a plan for a {device.type} machine puts the pipeline on {plan.device}"
            if not device.accelerated:
                assert plan.placement == "device", f"offloading on a CPU-only machine: {plan}"
            loading.load_kwargs(plan, {})  # the dtypes name torch dtypes

    @per(each_planned_family)
    def test_placements_on_made_up_machines(self, case: Case) -> None:
        """The planner's whole answer (load plan, footprint, rules, the family's override) on a CPU and made-up GPUs."""
        from ..planning import Placement, choose, component_dtype, plan
        from ..resolve import resolve

        claims = self._claims()
        task = claims.claimed(case.label)[0]
        path = self._checkpoint_for(case.family, task)
        resolution = resolve(path, task)
        for where, device in placement_machines(plan(resolution, LARGE_GPU).footprint).items():
            placed = plan(resolution, device)
            on = f"{case.family} on {where} ({device})"
            assert isinstance(placed, Placement), f"{on}: planned {type(placed).__name__}, not a Placement"
            chosen, fp = placed.plan, placed.footprint
            assert chosen.placement in PLACEMENTS and chosen.reason.strip(), f"{on}: the plan gives no reason for {chosen.placement}: say why in LoadPlan.reason ({chosen})"
            assert chosen.device in (device.type, "cpu"), f"{on}: the plan puts the pipeline on {chosen.device}: name the machine's device, {device.type}"
            if not device.accelerated:
                assert chosen.placement == "device", f"{on}: offloading on a CPU-only machine ({chosen}): keep placement='device' on a CPU"
            if placed.overridden_by is None:
                assert chosen.placement == placed.rule, f"{on}: the rules chose {placed.rule}, the plan says {chosen.placement}"
            else:
                assert placed.overridden_by == claims.plugin, f"{on}: overridden by {placed.overridden_by}, not by the family's plugin"
                rules = choose(fp, device)
                assert chosen.placement == rules.placement or rules.reason not in chosen.reason, (
                    f"{on}: autopipe_placement chose {chosen.placement} but its reason is the rules' reason for {rules.placement} "
                    f"({rules.reason!r}): say why {chosen.placement} instead"
                )
            unknown = {c.name: c.source for c in fp.unknown}
            assert not unknown, f"{on}: the bytes of {unknown} were not counted: ship safetensors weights in the tiny checkpoint, or count them in autopipe_footprint"
            wrong = {c.name: c.dtype for c in fp.components if c.dtype != component_dtype(chosen, c.name)}
            assert not wrong, (
                f"{on}: the footprint counts {wrong} in other dtypes than the plan loads them in ({chosen.dtype}, "
                f"{dict(chosen.component_dtypes)}): count each component of autopipe_footprint in the plan's dtype for it"
            )
            counted = {c.name: c.nbytes for c in fp.components}
            real = self._real_bytes(resolution, path, chosen)
            assert counted == real, (
                f"{on}: the footprint counts {counted} bytes, the pipeline loaded in the plan's dtypes holds {real} bytes of parameters: "
                f"{case.family}'s autopipe_footprint must count each component the pipeline holds (what the weight files show, and what "
                "they cannot: weights of another folder, float32 layers of a float16 model), no more and no less"
            )
            if device.accelerated and "autopipe_footprint" in claims.hooks:
                allowance = fp.activation
                assert allowance.nbytes > 0 and allowance.width > 0 and allowance.height > 0 and allowance.reason, (
                    f"{on}: {case.family}'s autopipe_footprint states no activation allowance ({allowance}): return the footprint "
                    "with_activation(Activation(bytes, width, height, reason)) for the image size the call will draw"
                )
        if "autopipe_footprint" in claims.hooks:
            width, height = ASKED_SIZE
            allowance = plan(resolution, LARGE_GPU, width=width, height=height).footprint.activation
            assert (allowance.width, allowance.height) == (width, height) and allowance.nbytes > 0, (
                f"asked for {width}x{height}, {case.family}'s autopipe_footprint gives an allowance for {allowance.width}x{allowance.height} "
                f"({allowance.nbytes} bytes): use the width and height the hook is given (None: the family's native size)"
            )

    @per(each_single_file_family)
    def test_a_single_file_is_detected_and_loads(self, case: Case) -> None:
        """The tiny checkpoint as one file: the plugin's detection wins among every installed plugin's, and it loads and runs."""
        from ..single_file import detect, read

        path = self._single_file(case.family)
        if self._state.installed is None:
            self._state.installed = build_registry(allowed=None)
        header = read(path)
        name = self._claims().plugin
        assert self._state.installed.shows(name, header.tensors), (
            f"the tiny {case.family} single file {type(self).__name__}.tiny_single_file wrote holds none of {self.plugin}'s "
            f"autopipe_detect_keys ({', '.join(sorted(self._state.installed.detect_keys[name]))}), so its autopipe_detect is never shown it: every file it claims "
            "must hold one of those names; add the one this layout has"
        )
        report = detect(header, self._state.installed)
        mine = [d for d in report.ranked if d.plugin == name]
        assert mine, (
            f"{self.plugin}'s autopipe_detect does not recognise the tiny {case.family} single file "
            f"{type(self).__name__}.tiny_single_file wrote ({report.summary()}): recognise it from the tensors that tell {case.family} apart"
        )
        ours = mine[0]
        assert ours.family == case.family, f"{self.plugin} detects the tiny {case.family} single file as {ours.family}/{ours.variant} ({ours.reason})"
        best = report.best
        assert best == ours, (
            f"{best.plugin} claims the tiny {case.family} single file as {best.family}/{best.variant} (confidence {best.confidence}: "
            f"{best.reason}), ranked above {self.plugin}'s claim (confidence {ours.confidence}: {ours.reason}): give {self.plugin}'s "
            f"detection the confidence the file's tensors warrant, and narrow {best.plugin}'s if it is the one claiming too much"
        )
        if best.is_pipeline:
            self._single_pipeline_runs(case.family, path)
        else:
            self._single_component_runs(case.family, path, best)

    def _single_pipeline_runs(self, family: str, path: Path) -> None:
        from ..resolve import resolve

        registry = get_registry()
        claimed = [t for t in Task if t in registry.table.get((family, frozenset()), {})]
        resolution = next((resolve(path, t) for t in claimed if resolves(path, t)), None)
        assert resolution is not None and resolution.family == family, f"the tiny {family} single file resolves to no task of {family}"
        pipeline = AUTO_CLASSES[resolution.task].from_single_file(str(path))
        assert type(pipeline).__name__ == resolution.pipeline_class, f"from_single_file loaded {type(pipeline).__name__}, resolution named {resolution.pipeline_class}"
        self._run(pipeline, family, frozenset(), resolution.task)

    def _single_component_runs(self, family: str, path: Path, detection: Any) -> None:
        """A component's file (a ControlNet): refused as a pipeline with how to use it, loaded offline, passed to a pipeline."""
        from ..errors import UnsupportedModelError
        from ..resolve import resolve
        from ..specs import class_name, import_class

        component = class_name(detection.component)
        with pytest.raises(UnsupportedModelError) as refusal:
            resolve(path, Task.TEXT2IMG)
        assert detection.use and detection.use in str(refusal.value), f"resolving a {component} file does not say how to use it: set Detection.use"
        assert detection.config, f"{self.plugin}'s detection of the tiny {family} {component} names no config folder: ship one and name it in Detection.config"
        model = import_class(detection.component).from_single_file(str(path), config=detection.config, local_files_only=True)
        registry = get_registry()
        spec = next((s for s, _ in registry.modifiers.values() if component in s.components), None)
        assert spec is not None, f"no modifier takes a {component}: list it in the ModifierSpec.components of the keyword it is passed as"
        modifiers = spec.apply(frozenset(), model)
        row = registry.table.get((family, modifiers), {})
        task = next((t for t in Task if t in row), None)
        assert task is not None, f"passing the {component} as {spec.kwarg}= selects {row_label(family, modifiers)}, which claims no task"
        base = self._pipeline_on(self._checkpoint_for(family, task), task)
        self._run(AUTO_CLASSES[task].from_pipe(base, **{spec.kwarg: model}), family, modifiers, task)

    def test_loads_take_the_load_lock(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Every load runs under autopipe_core.LOAD_LOCK: the plugin's public loaders are `serialized`, and its
        family's from_pretrained reaches diffusers only with the lock held."""
        from ..load_lock import LOAD_LOCK, MARK

        registry = get_registry()
        name = normalize(self.plugin)
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
        for family in families:
            task = self._claims().claimed(family)[0]
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


def resolves(model: Any, task: Task) -> bool:
    from ..errors import UnsupportedTaskError
    from ..resolve import resolve

    try:
        resolve(model, task)
        return True
    except UnsupportedTaskError:
        return False


def outcome(model: Any, task: Task) -> tuple[str, ...]:
    """What resolution makes of `model` for `task`: ("resolved", family, variant, class) or ("refused", error class)."""
    from ..errors import UnsupportedModelError
    from ..resolve import resolve

    try:
        r = resolve(model, task)
    except UnsupportedModelError as refusal:
        return ("refused", type(refusal).__name__)
    return ("resolved", r.family, str(r.variant), r.pipeline_class)


def configs_of(path: Path) -> Mapping[str, Mapping[str, Any]]:
    """The component configs resolution read for a checkpoint folder (what its variants are matched against)."""
    from ..resolve import identify

    return identify(str(path)).configs


#: A config entry a live component does not have.
MISSING = "(absent)"


def plain(value: Any) -> Any:
    """A config value as its config.json holds it (tuples as lists), to compare a live config with a file's."""
    return json.loads(json.dumps(value, default=str))
