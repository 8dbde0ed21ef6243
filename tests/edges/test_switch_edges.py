"""from_pipe's engine (switch.py) at its edges: what an unused argument is told, state read back, placement carried."""

from __future__ import annotations

import warnings

import pytest

from autopipe_core import AutoPipelineForImage2Image, AutoPipelineForText2Image
from autopipe_core.specs import LoadPlan
from autopipe_core.switch import KEPT, PLAN, IgnoredArgumentWarning, PlacementWarning, carry_placement, live_state, signature, switch


@pytest.fixture(scope="module")
def sd(tiny_checkpoint):
    from diffusers import StableDiffusionPipeline

    return StableDiffusionPipeline.from_pretrained(tiny_checkpoint("stable-diffusion"))


def test_each_unused_argument_is_told_where_it_belongs(sd):
    from diffusers import StableDiffusionImg2ImgPipeline

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        switch(sd, StableDiffusionImg2ImgPipeline, {"strength": 0.5, "torch_dtype": "float16", "zebra": 1})
    said = [str(w.message) for w in caught if issubclass(w.category, IgnoredArgumentWarning)]
    assert said == [
        "from_pipe() did not use strength=0.5: it is an argument of StableDiffusionImg2ImgPipeline.__call__: pass it when you call the pipeline, pipe(..., strength=...).",
        "from_pipe() did not use torch_dtype='float16': it is a loading option: from_pipe reuses components already loaded, so use from_pretrained for it (or pipe.to() for the dtype or device).",
        "from_pipe() did not use zebra=1: StableDiffusionImg2ImgPipeline has no component, config entry or call argument of that name.",
    ]


def test_signature_sorts_components_optional_ones_and_other_arguments():
    from diffusers import StableDiffusionPipeline

    components, optional, other = signature(StableDiffusionPipeline)
    assert {"unet", "vae", "text_encoder", "tokenizer", "scheduler", "safety_checker", "feature_extractor"} <= components
    assert {"safety_checker", "feature_extractor", "image_encoder"} <= optional and "unet" not in optional
    assert other == {"requires_safety_checker"}


def test_live_state_reads_readers_attributes_and_what_was_kept_aside(sd):
    from diffusers import StableDiffusionPAGPipeline

    pag = switch(sd, StableDiffusionPAGPipeline, {"pag_applied_layers": ["mid"]})
    assert live_state(pag)["pag_applied_layers"] == ["mid"]  # an attribute of its own name
    assert live_state(pag, {"pag_applied_layers": lambda p: type(p).__name__})["pag_applied_layers"] == "StableDiffusionPAGPipeline"  # a reader wins
    back = switch(pag, type(sd), {})
    assert getattr(back, KEPT) == {"pag_applied_layers": ["mid"]} and live_state(back) == {"pag_applied_layers": ["mid"]}
    again = switch(back, StableDiffusionPAGPipeline, {})
    assert again.pag_applied_layers == ["mid"] and not getattr(again, KEPT, None)
    assert "requires_safety_checker" not in live_state(sd)  # in the config: not state


def test_the_plan_and_a_device_map_are_carried_and_nothing_is_invented(sd):
    from diffusers import StableDiffusionImg2ImgPipeline

    plain = switch(sd, StableDiffusionImg2ImgPipeline, {})
    assert getattr(plain, PLAN, None) is None and getattr(plain, "hf_device_map", None) is None and not getattr(plain, "_all_hooks", None)
    plan = LoadPlan("float32", None, "device", "cpu", "r")
    setattr(sd, PLAN, plan)
    try:
        assert getattr(switch(sd, StableDiffusionImg2ImgPipeline, {}), PLAN) is plan
    finally:
        delattr(sd, PLAN)


def test_model_offload_a_class_cannot_take_is_a_warning(tiny_checkpoint):
    t2i = AutoPipelineForText2Image.from_pretrained(tiny_checkpoint("stable-diffusion"), placement="model_cpu_offload", device="cpu")

    class NoSequence:  # a pipeline class without model_cpu_offload_seq
        model_cpu_offload_seq = None

        def enable_model_cpu_offload(self, device=None):
            raise AssertionError("must not be called")

    with pytest.warns(PlacementWarning) as caught:
        carry_placement(t2i, NoSequence())
    assert str(caught[0].message) == (
        f"{type(t2i).__name__} had model CPU offload, which NoSequence cannot take (no model_cpu_offload_seq): its modules stay where the last call left them"
    )
    i2i = AutoPipelineForImage2Image.from_pipe(t2i)
    assert len(i2i._all_hooks) == len(t2i._all_hooks) and i2i._offload_device == t2i._offload_device


def test_sequential_offload_is_carried_by_its_recorded_device_or_by_the_plan(tiny_checkpoint):
    t2i = AutoPipelineForText2Image.from_pretrained(tiny_checkpoint("stable-diffusion"), placement="sequential_cpu_offload", device="cpu")

    class Target:
        pass

    new = Target()
    carry_placement(t2i, new)
    assert new._offload_device == t2i._offload_device and new._offload_gpu_id == t2i._offload_gpu_id


def test_a_class_needing_components_the_source_lacks_names_them_all(sd):
    from diffusers import StableDiffusionControlNetPipeline

    from autopipe_core import UnsupportedModelError

    without_unet = {k: v for k, v in sd.components.items() if k != "unet"}  # the components as the caller read them
    with pytest.raises(UnsupportedModelError) as info:
        switch(sd, StableDiffusionControlNetPipeline, {}, components=without_unet)
    assert str(info.value) == (
        "StableDiffusionControlNetPipeline needs controlnet, unet, which StableDiffusionPipeline does not have. "
        "Pass them: from_pipe(pipe, controlnet=..., unet=...)."
    )


def test_the_name_or_path_is_carried_and_a_pipeline_built_by_hand_has_none(sd):
    from diffusers import StableDiffusionImg2ImgPipeline, StableDiffusionPipeline

    switched = switch(sd, StableDiffusionImg2ImgPipeline, {})
    assert switched.config["_name_or_path"] == sd.config["_name_or_path"] and switched.name_or_path == sd.name_or_path
    by_hand = StableDiffusionPipeline(**sd.components)
    assert switch(by_hand, StableDiffusionImg2ImgPipeline, {}).config.get("_name_or_path") == by_hand.config.get("_name_or_path")


def test_a_value_passed_again_wins_over_the_one_kept_aside_and_replaces_it(sd):
    from diffusers import LatentConsistencyModelImg2ImgPipeline, LatentConsistencyModelPipeline

    start = switch(sd, LatentConsistencyModelPipeline, {"requires_safety_checker": False})
    img2img = switch(start, LatentConsistencyModelImg2ImgPipeline, {})
    assert img2img.config["_requires_safety_checker"] is False  # the LCM img2img class does not record it: kept aside
    back = switch(img2img, LatentConsistencyModelPipeline, {"requires_safety_checker": True})
    assert back.config.requires_safety_checker is True  # what the caller passes wins over what was kept aside
    again = switch(back, LatentConsistencyModelImg2ImgPipeline, {})
    assert again.config["_requires_safety_checker"] is True  # and the value kept aside now is that one, not the stale False


def test_model_offload_goes_to_a_class_whose_inner_pipelines_take_it_and_a_bare_object_gets_a_warning(tiny_checkpoint, sd):
    t2i = AutoPipelineForText2Image.from_pretrained(tiny_checkpoint("stable-diffusion"), placement="model_cpu_offload", device="cpu")

    class Combined:  # no model_cpu_offload_seq of its own, but holding a pipeline that has one (Kandinsky's combined pipelines)
        model_cpu_offload_seq = None

        def __init__(self, inner):
            self.decoder_pipe, self.offloaded_to = inner, []

        def enable_model_cpu_offload(self, device=None):
            self.offloaded_to.append(device)

    combined = Combined(sd)
    carry_placement(t2i, combined)
    assert combined.offloaded_to == [t2i._offload_device] and t2i._offload_device is not None

    class Bare:  # nothing of a pipeline's placement at all
        pass

    with pytest.warns(PlacementWarning, match="^StableDiffusionPipeline had model CPU offload, which Bare cannot take"):
        carry_placement(t2i, Bare())
    nothing = Bare()
    carry_placement(Bare(), nothing)  # a source with no placement gives none
    assert vars(nothing) == {}


def test_sequential_offload_is_carried_from_diffusers_alone_or_from_the_plan_alone(tiny_checkpoint):
    from diffusers import StableDiffusionPipeline

    own = StableDiffusionPipeline.from_pretrained(tiny_checkpoint("stable-diffusion"))
    own.enable_sequential_cpu_offload(device="cpu")  # diffusers' own call: no plan recorded
    assert getattr(own, PLAN, None) is None and own._offload_device is not None

    class Target:
        pass

    new = Target()
    carry_placement(own, new)
    assert new._offload_device == own._offload_device and new._offload_gpu_id == own._offload_gpu_id

    class Planned:  # the plan says sequential offload; no device was recorded
        pass

    planned = Planned()
    setattr(planned, PLAN, LoadPlan("float32", None, "sequential_cpu_offload", "cpu", "r"))
    planned._offload_gpu_id = 0
    new = Target()
    carry_placement(planned, new)
    assert vars(new) == {PLAN: getattr(planned, PLAN), "_offload_gpu_id": 0}
    setattr(planned, PLAN, LoadPlan("float32", None, "model_cpu_offload", "cpu", "r"))
    new = Target()
    carry_placement(planned, new)
    assert vars(new) == {PLAN: getattr(planned, PLAN)}  # another placement: nothing of sequential offload
