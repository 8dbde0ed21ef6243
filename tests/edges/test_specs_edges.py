"""Every refusal of the registration and planning data (specs.py), word for word, and each accessor at its edges."""

from __future__ import annotations

import re

import pytest

from autopipe_core import Detection, FamilySpec, ModifierSpec, PipelineRow, Task, Variant
from autopipe_core.specs import (
    DTYPES, MAX_IMAGE_SIDE, MAX_PLAN_BYTES, PLACEMENTS, PRESENT, Activation, ComponentBytes, Footprint, Identity, LoadPlan,
    Requirement, class_name, config_value, import_class,
)

PIPE = "diffusers:StableDiffusionPipeline"


def _refused(text: str, make) -> None:
    with pytest.raises(ValueError) as info:
        make()
    assert str(info.value) == text


def test_class_name_and_import_class():
    assert class_name("diffusers:StableDiffusionPipeline") == "StableDiffusionPipeline"
    assert class_name("a.b.c:D") == "D"
    assert import_class("fractions:Fraction").__name__ == "Fraction"
    with pytest.raises(ModuleNotFoundError):
        import_class("no_such_module_here:X")
    with pytest.raises(AttributeError):
        import_class("fractions:NoSuchClass")


@pytest.mark.parametrize("ref", ["a:B", "a.b_c.d:_E1", "_m:C"])
def test_references_of_the_form_module_colon_class_are_taken(ref):
    assert dict(PipelineRow("fam", {"text2img": ref}).classes) == {Task.TEXT2IMG: ref}


@pytest.mark.parametrize("ref", ["a:B:C", "1a:B", "a.:B", "a:1B", "a..b:C", " a:B", "a:B "])
def test_other_references_are_refused_naming_the_family(ref):
    _refused(f"pipelines of 'fam': class reference {ref!r} is not of the form 'module:ClassName'", lambda: PipelineRow("fam", {"text2img": ref}))


@pytest.mark.parametrize("name", ["a", "0", "a.b_c-d", "sd-1.5"])
def test_plain_names_are_taken(name):
    assert FamilySpec(name).name == name


@pytest.mark.parametrize("name", ["-a", ".a", "_a", "A", "a b", "", 3, None])
def test_other_names_are_refused(name):
    _refused(f"family name {name!r} must be lower case letters, digits, '.', '_' or '-'", lambda: FamilySpec(name))
    _refused(f"modifier {name!r} must be lower case letters, digits, '.', '_' or '-'", lambda: PipelineRow("fam", {}, modifiers={name}))


def test_a_pipeline_row_normalises_and_freezes_what_it_holds():
    row = PipelineRow("fam", {"t2i": "a:B"}, modifiers=("pag", "pag"), missing={"inpaint": "why"}, on_disk=["x"])
    assert row.modifiers == frozenset({"pag"}) and dict(row.missing) == {Task.INPAINT: "why"} and row.on_disk == frozenset({"x"})
    assert PipelineRow("fam", None).classes == {} and PipelineRow("fam", {}).on_disk is None
    with pytest.raises(TypeError):
        row.missing[Task.TEXT2IMG] = "no"
    _refused("pipelines of 'fam': modifiers must be a set of names, not 'pag'", lambda: PipelineRow("fam", {}, modifiers="pag"))
    _refused("pipelines of 'fam': modifiers must be a set of names, not 3", lambda: PipelineRow("fam", {}, modifiers=3))
    _refused("pipelines of 'fam': on_disk must be a set of modifier names, not 'pag'", lambda: PipelineRow("fam", {}, on_disk="pag"))
    _refused("modifier 'Bad' must be lower case letters, digits, '.', '_' or '-'", lambda: PipelineRow("fam", {}, on_disk={"Bad"}))


def test_a_variant_holds_its_tasks_as_tasks_whatever_the_spelling():
    v = Variant("inpainting-only", "unet", "in_channels", 9, ["inpainting", "image-to-image"], "why")
    assert v.tasks == frozenset({Task.INPAINT, Task.IMG2IMG}) and type(v.tasks) is frozenset and all(type(t) is Task for t in v.tasks)


def test_config_value_and_present():
    configs = {"unet": {"a": 1, "n": None}, "vae": "not a mapping"}
    assert config_value(configs, "unet", "a") == 1 and config_value(configs, "unet", "b") is None
    assert config_value(configs, "vae", "a") is None and config_value(configs, "text", "a") is None
    assert repr(PRESENT) == "PRESENT"
    present = Variant("any", "unet", "a", PRESENT, {"t2i"}, "r")
    assert present.matches(configs) and not Variant("n", "unet", "n", PRESENT, {"t2i"}, "r").matches(configs)
    assert Variant("none", "unet", "n", None, {"t2i"}, "r").matches(configs)
    assert not Variant("other", "text", "a", None, {"t2i"}, "r").matches(configs)  # no config read: no match


def test_a_requirement_refuses_only_on_evidence():
    r = Requirement("unet", "encoder_hid_dim", None, "it projects {value}-wide embeddings")
    assert r.values == frozenset({None})
    assert r.met({}) and r.met({"unet": {}}) and r.met({"unet": {"encoder_hid_dim": None}})
    assert not r.met({"unet": {"encoder_hid_dim": 4096}})
    assert r.reason({"unet": {"encoder_hid_dim": 4096}}) == "it projects 4096-wide embeddings"
    assert r.reason({"unet": {"encoder_hid_dim": "x" * 100}}) == f"it projects {'x' * 80}-wide embeddings"
    assert Requirement("unet", "k", "text", "o").values == frozenset({"text"})
    assert Requirement("unet", "k", b"b", "o").values == frozenset({b"b"})
    many = Requirement("unet", "k", [1, 2], "o")
    assert many.values == frozenset({1, 2}) and many.met({"unet": {"k": 2}}) and not many.met({"unet": {"k": 3}})
    present = Requirement("unet", "k", PRESENT, "o")
    assert present.met({"unet": {"k": 0}}) and not present.met({"unet": {}})


def test_a_family_spec_checks_and_freezes_its_parts():
    v = Variant("v", "unet", "k", 1, {"t2i"}, "r")
    r = Requirement("text_encoder", "k", None, "o")
    spec = FamilySpec("fam", variants=[v], configs=["vae", "unet"], requires=[r], init_readers={"x": len}, recognised={"C": "why"})
    assert spec.variants == (v,) and spec.configs == ("vae", "unet") and spec.requires == (r,)
    assert spec.config_components == ("unet", "text_encoder", "vae")
    assert spec.unmet({}) is None and spec.unmet({"text_encoder": {"k": 1}}) is r
    with pytest.raises(TypeError):
        spec.recognised["D"] = "no"
    with pytest.raises(TypeError):
        spec.init_readers["y"] = len
    assert FamilySpec("k", also_named=["C"], requires=[r]).also_named == frozenset({"C"})
    _refused("family 'fam': also_named must be a set of class names, not a string", lambda: FamilySpec("fam", also_named="C", requires=[r]))
    _refused("family 'fam': also_named needs requires, the facts that tell its checkpoints from the class's own family's", lambda: FamilySpec("fam", also_named={"C"}))
    _refused("family 'fam': variants must be Variant, not dict", lambda: FamilySpec("fam", variants=[{}]))
    _refused("family 'fam': configs must be a tuple of component names, not a string", lambda: FamilySpec("fam", configs="vae"))
    _refused("family 'fam': requires must be Requirement, not str", lambda: FamilySpec("fam", requires=["x"]))
    _refused("family 'fam': the reader of 'x' must be callable", lambda: FamilySpec("fam", init_readers={"x": 3}))


def test_a_modifier_spec_checks_its_callables_and_applies():
    spec = ModifierSpec("k", ["a", "b"], lambda v: v, components=["C"], fits=lambda v, i: None)
    assert spec.modifiers == frozenset({"a", "b"}) and spec.components == frozenset({"C"})
    assert spec.apply(frozenset({"a", "x"}), "b") == {"b", "x"}
    assert spec.apply(frozenset({"a", "x"}), None) == {"x"}
    _refused("modifier 'k': choose must be callable", lambda: ModifierSpec("k", frozenset(), 3))
    _refused("modifier 'k': fits must be callable", lambda: ModifierSpec("k", frozenset(), len, fits=3))
    _refused("modifier 'k' chose 'c', which it did not declare", lambda: spec.apply(frozenset(), "c"))


def test_a_detection_freezes_a_copy_of_its_mappings_and_names_a_bad_family():
    prefixes, scheduler = {"unet": "m."}, {"prediction_type": "v_prediction"}
    d = Detection("fam", "v", 1, "why", pipeline_class=PIPE, prefixes=prefixes, scheduler=scheduler)
    prefixes["vae"], scheduler["x"] = "v.", 1
    assert dict(d.prefixes) == {"unet": "m."} and dict(d.scheduler) == {"prediction_type": "v_prediction"}
    with pytest.raises(TypeError):
        d.prefixes["vae"] = "v."
    with pytest.raises(TypeError):
        d.scheduler["x"] = 1
    _refused("family name 'Fam' must be lower case letters, digits, '.', '_' or '-'", lambda: Detection("Fam", "v", 1, "r", pipeline_class=PIPE))


def test_a_detection_checks_every_field():
    d = Detection("fam", "v", 1, "why", pipeline_class=PIPE, prefixes={"unet": "m."}, scheduler={"a": 1})
    assert d.is_pipeline and dict(d.prefixes) == {"unet": "m."} and dict(d.scheduler) == {"a": 1}
    assert not Detection("fam", "v", 0, "why", component="diffusers:ControlNetModel").is_pipeline
    where = "detection fam/v: "
    _refused(where + "prefixes map component names to key prefixes (strings)", lambda: Detection("fam", "v", 1, "r", pipeline_class=PIPE, prefixes={"unet": 3}))
    _refused(where + "prefixes map component names to key prefixes (strings)", lambda: Detection("fam", "v", 1, "r", pipeline_class=PIPE, prefixes={3: "m."}))
    _refused("detection fam/: variant must be a non-empty string", lambda: Detection("fam", "", 1, "r", pipeline_class=PIPE))
    _refused("detection fam/3: variant must be a non-empty string", lambda: Detection("fam", 3, 1, "r", pipeline_class=PIPE))
    for bad in (True, 1.01, -0.01, "1", None):
        _refused(where + f"confidence must be a number from 0 to 1, not {bad!r}", lambda: Detection("fam", "v", bad, "r", pipeline_class=PIPE))
    one = where + "name exactly one of pipeline_class (a pipeline checkpoint) or component (one model)"
    _refused(one, lambda: Detection("fam", "v", 1, "r"))
    _refused(one, lambda: Detection("fam", "v", 1, "r", pipeline_class=PIPE, component=PIPE))
    _refused(where + "class reference 'X' is not of the form 'module:ClassName'", lambda: Detection("fam", "v", 1, "r", component="X"))
    _refused(where + "class reference 'X' is not of the form 'module:ClassName'", lambda: Detection("fam", "v", 1, "r", pipeline_class="X"))


def test_a_load_plan_checks_every_field():
    plan = LoadPlan("float16", "fp16", "device", "cuda", "r", component_dtypes={"vae": "float32"}, skip=["text_encoder"], extra={"use_safetensors": True})
    assert plan.skip == frozenset({"text_encoder"}) and dict(plan.extra) == {"use_safetensors": True} and dict(plan.component_dtypes) == {"vae": "float32"}
    assert LoadPlan("float32", None, "device", "cpu", "r", skip=(s for s in ["a"])).skip == {"a"}  # a generator, read once
    for placement in PLACEMENTS:
        assert LoadPlan("float32", None, placement, "cpu", "r").placement == placement
    _refused(f"load plan dtype 'float8' is not one of {DTYPES}", lambda: LoadPlan("float8", None, "device", "cpu", "r"))
    _refused(f"load plan dtype 'int8' is not one of {DTYPES}", lambda: LoadPlan("float16", None, "device", "cpu", "r", component_dtypes={"vae": "int8"}))
    _refused(f"load plan placement 'everywhere' is not one of {PLACEMENTS}", lambda: LoadPlan("float16", None, "everywhere", "cpu", "r"))
    for skip, shown in (("vae", "vae"), (3, "3"), (["a b"], "['a b']"), ([3], "[3]"), (["x y" * 40], str(["x y" * 40])[:80])):
        _refused(f"load plan skip must be a set of component names, not {shown}", lambda: LoadPlan("float16", None, "device", "cpu", "r", skip=skip))
    _refused("load plan extra must be a mapping of from_pretrained keywords, not list", lambda: LoadPlan("float16", None, "device", "cpu", "r", extra=[]))
    _refused("load plan extra: 'a b' is not a keyword name", lambda: LoadPlan("float16", None, "device", "cpu", "r", extra={"a b": 1}))
    _refused("load plan extra: '3' is not a keyword name", lambda: LoadPlan("float16", None, "device", "cpu", "r", extra={3: 1}))
    for key in ("dtype", "torch_dtype", "variant", "device_map", "max_memory"):
        _refused(
            f"load plan extra: {key!r} is the plan's own to say (its dtype, variant, component_dtypes or placement fields)",
            lambda: LoadPlan("float16", None, "device", "cpu", "r", extra={key: 1}),
        )
    _refused("load plan: a, b both skipped and given in extra", lambda: LoadPlan("float16", None, "device", "cpu", "r", skip={"b", "a", "c"}, extra={"a": None, "b": None}))


def test_figures_are_counts_within_their_limits():
    assert ComponentBytes("unet", MAX_PLAN_BYTES, 0, "float16", "s").nbytes == MAX_PLAN_BYTES
    assert ComponentBytes("unet", None, None, "float16", "s").nbytes is None
    _refused(f"component 'unet': nbytes must be an integer from 0 to {MAX_PLAN_BYTES}, not {MAX_PLAN_BYTES + 1}", lambda: ComponentBytes("unet", MAX_PLAN_BYTES + 1, 0, "f", "s"))
    _refused(f"component 'unet': parameters must be an integer from 0 to {MAX_PLAN_BYTES}, not -1", lambda: ComponentBytes("unet", 0, -1, "f", "s"))
    _refused(f"component 'unet': nbytes must be an integer from 0 to {MAX_PLAN_BYTES}, not True", lambda: ComponentBytes("unet", True, 0, "f", "s"))
    _refused(f"component 'unet': nbytes must be an integer from 0 to {MAX_PLAN_BYTES}, not 1.5", lambda: ComponentBytes("unet", 1.5, 0, "f", "s"))
    assert Activation(0, MAX_IMAGE_SIDE, MAX_IMAGE_SIDE, "r").width == MAX_IMAGE_SIDE
    _refused(f"activation nbytes must be an integer from 0 to {MAX_PLAN_BYTES}, not None", lambda: Activation(None, 1, 1, "r"))
    _refused(f"activation width must be an integer from 0 to {MAX_IMAGE_SIDE}, not {MAX_IMAGE_SIDE + 1}", lambda: Activation(0, MAX_IMAGE_SIDE + 1, 1, "r"))
    _refused(f"activation height must be an integer from 0 to {MAX_IMAGE_SIDE}, not -1", lambda: Activation(0, 1, -1, "r"))
    _refused(f"activation width must be an integer from 0 to {MAX_IMAGE_SIDE}, not {'9' * 40}", lambda: Activation(0, int("9" * 60), 1, "r"))


def test_a_footprint_adds_up_what_is_known():
    a, b, c = ComponentBytes("a", 5, 1, "f", "s"), ComponentBytes("b", 9, 1, "f", "s"), ComponentBytes("c", None, None, "f", "s")
    fp = Footprint([a, c, b])
    assert fp.components == (a, c, b) and fp.weights == 14 and fp.unknown == (c,) and fp.largest is b
    assert fp.component("c") is c and fp.component("d") is None
    assert fp.activation.nbytes == 0 and re.search("no activation", fp.activation.reason)
    assert Footprint([c]).largest is None and Footprint([]).weights == 0
    _refused("a Footprint holds ComponentBytes, not str", lambda: Footprint(["a"]))
    _refused("a Footprint's activation is an Activation, not int", lambda: Footprint([], 3))


@pytest.mark.parametrize(
    "name, fp16",
    [("model.fp16.safetensors", True), ("a/b/model.fp16-00001-of-00002.safetensors", True), ("model.fp16", False),
     ("fp16.model.safetensors", False), ("model-fp16.safetensors", False), ("a.fp16/model.safetensors", False),
     ("unet.fp16.old/model.safetensors", False), ("unet.fp16-x/model.safetensors", False)],
)
def test_a_weight_variant_is_read_from_the_file_name_alone(name, fp16):
    assert Identity("folder", "/m", "C", files=(name,)).has_weight_variant("fp16") is fp16


def test_a_family_spec_freezes_a_copy_of_its_tiny_call_whose_keys_are_keyword_names():
    tiny_call = {"num_frames": 1}
    spec = FamilySpec("fam", tiny_call=tiny_call)
    tiny_call["height"] = 8
    assert dict(spec.tiny_call) == {"num_frames": 1}
    with pytest.raises(TypeError):
        spec.tiny_call["height"] = 8
    for bad in ({"num frames": 1}, {3: 1}, {"": 1}):
        _refused("family 'fam': tiny_call's keys must be keyword names", lambda: FamilySpec("fam", tiny_call=bad))


def test_a_family_spec_takes_loads_itself_as_library_class_pairs_lists_or_tuples():
    spec = FamilySpec("fam", loads_itself=[["wuerstchen", "WuerstchenDiffNeXt"], ("wuerstchen", "WuerstchenPrior")])
    assert spec.loads_itself == frozenset({("wuerstchen", "WuerstchenDiffNeXt"), ("wuerstchen", "WuerstchenPrior")})
    for bad in ("ab", ("a", "b", "c"), ("a", 1), ("a",)):
        _refused(f"family 'fam': loads_itself holds (library, class name) pairs, not {bad!r}", lambda: FamilySpec("fam", loads_itself={bad}))


def test_a_load_plan_freezes_a_copy_of_its_component_dtypes_and_shows_forty_characters_of_a_bad_keyword():
    dtypes = {"vae": "float32"}
    plan = LoadPlan("float16", None, "device", "cuda", "r", component_dtypes=dtypes)
    dtypes["unet"] = "float32"
    assert dict(plan.component_dtypes) == {"vae": "float32"}
    with pytest.raises(TypeError):
        plan.component_dtypes["unet"] = "float32"
    key = "a b" + "c" * 60
    _refused(f"load plan extra: {key[:40]!r} is not a keyword name", lambda: LoadPlan("float16", None, "device", "cpu", "r", extra={key: 1}))


def test_a_modifier_spec_and_a_row_name_what_is_misnamed():
    _refused("modifier 'Bad' must be lower case letters, digits, '.', '_' or '-'", lambda: ModifierSpec("k", {"Bad"}, len))
    _refused("family name 'Fam' must be lower case letters, digits, '.', '_' or '-'", lambda: PipelineRow("Fam", {}))


def test_a_footprint_with_a_component_adds_it_or_replaces_the_one_of_its_name_in_place():
    a, b, c = ComponentBytes("a", 5, 1, "float16", "s"), ComponentBytes("b", 9, 1, "float16", "s"), ComponentBytes("c", 2, 1, "float16", "s")
    activation = Activation(64, 8, 8, "r")
    fp = Footprint([a, b], activation)
    bigger = ComponentBytes("a", 7, 1, "float32", "passed in")
    replaced = fp.with_component(bigger)
    assert replaced.components == (bigger, b) and replaced.weights == 16 and replaced.activation is activation
    added = fp.with_component(c)
    assert added.components == (a, b, c) and added.activation is activation and fp.components == (a, b)
