"""autopipe-nucleusmoe's registration against diffusers' own tables and sources, refusals, the plans, and the tiny pipeline
run without its processor (which transformers 5 cannot build without torchvision)."""

from __future__ import annotations

import json

import pytest

import autopipe_nucleusmoe as nucleus
from autopipe_core import DeviceFacts, GiB, Identity, Task, UnsupportedModelError, resolve
from autopipe_core import testing as kit
from autopipe_nucleusmoe import tiny
from autopipe_nucleusmoe.loading import ALLOWANCE, plan

BF16_GPU = DeviceFacts("cuda", 1, 70 * GiB, 80 * GiB, True)
FILES = ("model_index.json", "transformer/diffusion_pytorch_model.safetensors", "text_encoder/model.safetensors",
         "vae/diffusion_pytorch_model.safetensors")
#: A model_index.json of the family's components (the names diffusers' save_pretrained writes for these classes).
INDEX = {
    "_class_name": "NucleusMoEImagePipeline",
    "processor": ["transformers", "Qwen3VLProcessor"],
    "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
    "text_encoder": ["transformers", "Qwen3VLForConditionalGeneration"],
    "transformer": ["diffusers", "NucleusMoEImageTransformer2DModel"],
    "vae": ["diffusers", "AutoencoderKLQwenImage"],
}


def test_the_family_and_its_rows_are_registered_alone():
    kit.check_registered_alone("autopipe-nucleusmoe", {nucleus.NUCLEUSMOE})


def test_every_row_of_diffusers_tables_for_nucleusmoe_is_served_with_diffusers_class():
    served = kit.check_rows_serve_diffusers({"nucleusmoe-image": nucleus.NUCLEUSMOE}, naming="nucleus")
    assert served == {"nucleusmoe-image": {Task.TEXT2IMG: nucleus.NUCLEUSMOE_CLASS}}


def test_diffusers_has_no_other_pipeline_for_its_transformer_and_no_single_file_layout():
    """No other pipeline class takes NucleusMoEImageTransformer2DModel, and from_single_file knows no NucleusMoE file.

    Read from diffusers' sources with ast (nothing imported but the key table). When this fails, serve what diffusers added.
    """
    assert kit.pipelines_taking("NucleusMoEImageTransformer2DModel") == {nucleus.NUCLEUSMOE_CLASS}
    kit.check_no_diffusers_single_file("nucleus")


def test_an_index_of_the_familys_components_resolves_from_its_json_alone(tmp_path):
    (tmp_path / "model_index.json").write_text(json.dumps(INDEX))
    resolution = resolve(tmp_path, Task.TEXT2IMG)
    assert (resolution.family, resolution.pipeline_class) == (nucleus.NUCLEUSMOE, nucleus.NUCLEUSMOE_CLASS)


@pytest.mark.parametrize("task, words", [
    (Task.IMG2IMG, "QwenImageImg2ImgPipeline, autopipe-qwenimage"),
    (Task.INPAINT, "QwenImageInpaintPipeline, autopipe-qwenimage"),
])
def test_img2img_and_inpaint_are_refused_saying_what_to_use(tmp_path, task, words):
    (tmp_path / "model_index.json").write_text(json.dumps(INDEX))
    kit.check_refused(tmp_path, task, words, "use AutoPipelineForText2Image")


def test_pag_and_controlnet_are_refused_with_why(tmp_path):
    (tmp_path / "model_index.json").write_text(json.dumps(INDEX))
    kit.check_no_pag_or_controlnet(tmp_path, "NucleusMoE-Image")


# Loading code


def _identity(files=FILES) -> Identity:
    return Identity("folder", "x", nucleus.NUCLEUSMOE_CLASS, files=files)


def test_the_plans_float32_on_a_cpu_bfloat16_where_the_gpu_has_it_float32_where_not():
    t4 = kit.check_bfloat16_plan(plan, _identity()).without_bf16
    assert "not float16" in t4.reason and "cuda has no bfloat16" in t4.reason


def test_the_allowance_is_stated_at_the_pipelines_default_1024():
    activation = ALLOWANCE.activation(_identity(), plan(_identity(), BF16_GPU))
    assert (activation.width, activation.height, activation.nbytes) == (1024, 1024, 5 * GiB)


def test_no_library_keeps_a_module_of_the_family_in_float32():
    """Why the plan counts every component in its dtype: neither class has _keep_in_fp32_modules."""
    from diffusers import NucleusMoEImageTransformer2DModel
    from transformers import Qwen3VLForConditionalGeneration

    assert not NucleusMoEImageTransformer2DModel._keep_in_fp32_modules
    assert not Qwen3VLForConditionalGeneration._keep_in_fp32_modules


# The tiny pipeline


def test_the_tiny_pipeline_runs_from_prompt_embeddings_without_its_processor():
    """The architecture end to end here, where the processor cannot be built: the MoE block routes, the VAE decodes."""
    pipe = tiny.pipeline(processor=False)
    blocks = [type(b.img_mlp).__name__ for b in pipe.transformer.transformer_blocks]
    assert blocks == ["FeedForward"] * 3 + ["NucleusMoELayer", "FeedForward"]
    embeds, mask = tiny.prompt_embeds(pipe, "a red fox")
    assert embeds.shape == (1, mask.shape[1], tiny.TEXT_WIDTH)
    pipe.set_progress_bar_config(disable=True)
    image = pipe(
        prompt_embeds=embeds, prompt_embeds_mask=mask, negative_prompt_embeds=embeds, negative_prompt_embeds_mask=mask,
        num_inference_steps=2, height=64, width=64,
    ).images[0]
    assert image.size == (64, 64)


def test_the_builder_says_why_it_cannot_build_where_the_processor_is_missing(tmp_path):
    missing = tiny.processor_missing()
    if missing is None:  # torchvision is installed: the checkpoint builds and loads with diffusers' own class
        from diffusers import NucleusMoEImagePipeline

        tiny.build(nucleus.NUCLEUSMOE, tmp_path / "tiny")
        assert type(NucleusMoEImagePipeline.from_pretrained(tmp_path / "tiny").processor).__name__ == "Qwen3VLProcessor"
        return
    assert "torchvision" in missing
    with pytest.raises(UnsupportedModelError, match="cannot build the tiny nucleusmoe-image checkpoint: transformers cannot build a Qwen3VLProcessor") as info:
        tiny.build(nucleus.NUCLEUSMOE, tmp_path / "tiny")
    assert str(info.value).endswith("Install the torchvision release that matches your torch (from the same index as torch) to build it")
    assert not (tmp_path / "tiny").exists()


def test_the_tiny_builder_refuses_a_variant_and_a_family_it_does_not_build(tmp_path):
    with pytest.raises(ValueError, match="nucleusmoe-image"):
        tiny.build(nucleus.NUCLEUSMOE, tmp_path / "x", variant="fp8")
    with pytest.raises(ValueError, match="builds nucleusmoe-image"):
        tiny.pipeline("flux", processor=False)
