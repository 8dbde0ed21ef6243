"""The registration data: malformed registrations are refused when they are made."""

import pytest

from autopipe_core import FamilySpec, ModifierSpec, PipelineRow, Task, Variant
from autopipe_core.specs import Identity, LoadPlan


def test_pipeline_row_normalises_tasks_and_modifiers():
    row = PipelineRow("fam", {"text-to-image": "pkg.mod:Cls"}, modifiers=["pag"])
    assert dict(row.classes) == {Task.TEXT2IMG: "pkg.mod:Cls"}
    assert row.modifiers == frozenset({"pag"})
    with pytest.raises(TypeError):
        row.classes[Task.IMG2IMG] = "x:Y"  # read-only


@pytest.mark.parametrize("ref", ["StableDiffusionPipeline", "diffusers.StableDiffusionPipeline", "diffusers:", ":Cls", "a b:C", 3])
def test_class_references_must_be_module_colon_class(ref):
    with pytest.raises(ValueError, match="module:ClassName"):
        PipelineRow("fam", {Task.TEXT2IMG: ref})


@pytest.mark.parametrize("name", ["Stable Diffusion", "", "UPPER"])
def test_family_names_are_plain(name):
    with pytest.raises(ValueError, match="family name"):
        FamilySpec(name)


def test_modifiers_must_be_a_set_not_a_string():
    with pytest.raises(ValueError, match="set of names"):
        PipelineRow("fam", {Task.TEXT2IMG: "m:C"}, modifiers="pag")


def test_modifier_apply_adds_replaces_and_removes():
    spec = ModifierSpec("controlnet", frozenset({"controlnet", "controlnet-union"}), lambda v: None if v is None else ("controlnet-union" if v == "union" else "controlnet"))
    assert spec.apply(frozenset({"pag"}), "plain") == {"pag", "controlnet"}
    assert spec.apply(frozenset({"controlnet"}), "union") == {"controlnet-union"}
    assert spec.apply(frozenset({"controlnet-union", "pag"}), None) == {"pag"}
    rogue = ModifierSpec("x", frozenset({"a"}), lambda v: "b")
    with pytest.raises(ValueError, match="did not declare"):
        rogue.apply(frozenset(), 1)


def test_variant_matches_one_config_value():
    v = Variant("inpainting-only", "unet", "in_channels", 9, {"inpaint"}, "why")
    assert v.tasks == {Task.INPAINT}
    assert v.matches({"unet": {"in_channels": 9}})
    assert not v.matches({"unet": {"in_channels": 4}}) and not v.matches({})
    assert FamilySpec("fam", variants=(v, v)).config_components == ("unet",)


def test_load_plan_refuses_unknown_choices():
    with pytest.raises(ValueError, match="placement"):
        LoadPlan("float16", None, "everywhere", "cuda", "")
    with pytest.raises(ValueError, match="dtype"):
        LoadPlan("float8", None, "device", "cuda", "")


def test_identity_sees_weight_variants_by_file_name():
    files = ("unet/diffusion_pytorch_model.fp16.safetensors", "vae/diffusion_pytorch_model.safetensors")
    assert Identity("folder", "x", "C", files=files).has_weight_variant("fp16")
    assert not Identity("folder", "x", "C", files=files[1:]).has_weight_variant("fp16")
    assert not Identity("hub", "x", "C", files=None).has_weight_variant("fp16")
