"""autopipe-zimage's own behaviour: diffusers' tables served (and the one deliberate difference), checkpoints told apart
from their JSON, refusals that say what to load, the loading plans and allowance, and the tiny builder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import autopipe_zimage.plugin
from autopipe_core import (
    AutoPipelineForImage2Image, AutoPipelineForInpainting, AutoPipelineForText2Image, DeviceFacts, GiB, Identity, LoadPlan, Task,
    UnsupportedModelError, UnsupportedTaskError, resolve,
)
from autopipe_core.registry import get_registry
from autopipe_core.testing import auto_tables, check_bfloat16_plan, check_registered_alone, write_json_files
from autopipe_zimage import FAMILIES, FAMILY, OMNI, loading, tiny
from autopipe_zimage.plugin import CONTROLNET, NO_CONTROLNET_IMG2IMG, NO_PAG, OMNI_NO_IMG2IMG

GPU_BF16 = DeviceFacts("cuda", 1, 80 * GiB, 80 * GiB, True)
GPU_NO_BF16 = DeviceFacts("cuda", 1, 32 * GiB, 32 * GiB, False)
CPU = DeviceFacts()
SMALL = {"height": 64, "width": 64, "num_inference_steps": 2}

#: Tongyi-MAI/Z-Image-Turbo's model_index.json components and the transformer config's keys that matter (JSON only).
COMPONENTS = {
    "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"], "text_encoder": ["transformers", "Qwen3Model"],
    "tokenizer": ["transformers", "Qwen2Tokenizer"], "transformer": ["diffusers", "ZImageTransformer2DModel"],
    "vae": ["diffusers", "AutoencoderKL"],
}
TRANSFORMER = {"_class_name": "ZImageTransformer2DModel", "dim": 3840, "n_layers": 30, "cap_feat_dim": 2560, "in_channels": 16}
OMNI_COMPONENTS = {**COMPONENTS, "siglip": ["transformers", "Siglip2VisionModel"], "siglip_processor": ["transformers", "Siglip2ImageProcessorFast"]}
#: Omni-Base's weights are unpublished: 1152 is SigLIP2 so400m's width, an assumption; any number meets the requirement.
OMNI_TRANSFORMER = {**TRANSFORMER, "siglip_feat_dim": 1152}
CONTROLNET_COMPONENTS = {**COMPONENTS, "controlnet": ["diffusers", "ZImageControlNetModel"]}


def _layout(root: Path, cls: str, components: dict, transformer: dict) -> Path:
    index = {"_class_name": cls, "_diffusers_version": "0.42.1", **components}
    return write_json_files(root, {"model_index.json": index, "transformer/config.json": transformer})


# Registration and diffusers' tables


def test_two_families_load_alone_with_no_conflict():
    check_registered_alone("autopipe-zimage", FAMILIES, [FAMILY, (FAMILY, {CONTROLNET}), OMNI])


def test_every_z_image_key_of_diffusers_tables_is_served_as_diffusers_serves_it_but_one():
    """Each z-image key of diffusers 0.42.1's three tables, read from its source: a folder naming the key's class resolves
    to diffusers' class for that task, except z-image-controlnet-inpaint's text2img (see the next test)."""
    served, deliberate = [], []
    for task, table in auto_tables().items():
        for key, cls in table.items():
            if not key.startswith("z-image"):
                continue
            ours = get_registry().table[(lambda e: (e.family, e.modifiers))(get_registry().classes[cls])].get(task)
            if (key, task) == ("z-image-controlnet-inpaint", Task.TEXT2IMG):
                deliberate.append(ours[0])
                continue
            assert ours is not None and ours[0] == f"diffusers:{cls}", (key, task, ours)
            served.append((key, task.value))
    assert len(served) == 5  # z-image x 3, z-image-controlnet and z-image-omni (text2img)
    assert deliberate == ["diffusers:ZImageControlNetPipeline"]


def test_the_controlnet_inpaint_class_is_an_inpainting_pipeline_so_it_serves_inpaint(tiny_checkpoint):
    """diffusers files ZImageControlNetInpaintPipeline as text2img; without image and mask_image its call fails, so it is
    served for inpaint, and a checkpoint saved as it gets ZImageControlNetPipeline for text2img."""
    import diffusers

    base = AutoPipelineForText2Image.from_pretrained(tiny_checkpoint(FAMILY))
    controlnet = tiny.controlnet(base.transformer.config, 33, "control_noise_refiner")
    pipe = diffusers.ZImageControlNetInpaintPipeline(**base.components, controlnet=controlnet)
    pipe.set_progress_bar_config(disable=True)
    control = tiny_image()
    with pytest.raises(ValueError, match="Input is in incorrect format"):  # its image=None reaches the image processor
        pipe(prompt="a fox", control_image=control, **SMALL)
    assert AutoPipelineForText2Image.from_pipe(pipe).__class__.__name__ == "ZImageControlNetPipeline"
    inpaint = AutoPipelineForInpainting.from_pipe(base, controlnet=controlnet)
    assert type(inpaint) is diffusers.ZImageControlNetInpaintPipeline and inpaint.controlnet is controlnet


def test_every_z_image_pipeline_class_diffusers_has_is_served():
    import diffusers

    # Modular pipelines (ZImageModularPipeline) are not DiffusionPipelines: no AutoPipeline loads them.
    classes = {
        n for n in dir(diffusers)
        if n.startswith("ZImage") and n.endswith("Pipeline") and issubclass(getattr(diffusers, n), diffusers.DiffusionPipeline)
    }
    ours = {ref.partition(":")[2] for row in autopipe_zimage.plugin.autopipe_pipelines() for ref in row.classes.values()}
    assert classes == ours == {
        "ZImagePipeline", "ZImageImg2ImgPipeline", "ZImageInpaintPipeline", "ZImageControlNetPipeline",
        "ZImageControlNetInpaintPipeline", "ZImageOmniPipeline",
    }


def test_each_class_takes_the_components_of_its_row():
    import diffusers

    for row in autopipe_zimage.plugin.autopipe_pipelines():
        for ref in row.classes.values():
            cls = getattr(diffusers, ref.partition(":")[2])
            expected, _ = cls._get_signature_keys(cls)
            assert {"transformer", "vae", "text_encoder", "tokenizer", "scheduler"} <= set(expected), ref
            assert ("controlnet" in expected) == ("controlnet" in row.modifiers), ref
            assert ("siglip" in expected) == (row.family == OMNI), ref


# Checkpoints told apart from their JSON


@pytest.mark.parametrize(
    ("cls", "components", "transformer", "expected"),
    [
        ("ZImagePipeline", COMPONENTS, TRANSFORMER, ("ZImagePipeline", "ZImageImg2ImgPipeline", "ZImageInpaintPipeline")),
        ("ZImageInpaintPipeline", COMPONENTS, TRANSFORMER, ("ZImagePipeline", "ZImageImg2ImgPipeline", "ZImageInpaintPipeline")),
        ("ZImageControlNetPipeline", CONTROLNET_COMPONENTS, TRANSFORMER, ("ZImageControlNetPipeline", None, "ZImageControlNetInpaintPipeline")),
        ("ZImageControlNetInpaintPipeline", CONTROLNET_COMPONENTS, TRANSFORMER, ("ZImageControlNetPipeline", None, "ZImageControlNetInpaintPipeline")),
        ("ZImageOmniPipeline", OMNI_COMPONENTS, OMNI_TRANSFORMER, ("ZImageOmniPipeline", None, None)),
    ],
)
def test_real_layouts_resolve_or_are_refused(tmp_path, cls, components, transformer, expected):
    folder = _layout(tmp_path / cls, cls, components, transformer)
    for task, want in zip(Task, expected):
        if want is None:
            with pytest.raises(UnsupportedTaskError):
                resolve(folder, task)
        else:
            assert resolve(folder, task).pipeline_class == want


def test_omni_img2img_says_to_call_the_text_to_image_pipeline_with_images(tmp_path):
    folder = _layout(tmp_path / "omni", "ZImageOmniPipeline", OMNI_COMPONENTS, OMNI_TRANSFORMER)
    with pytest.raises(UnsupportedTaskError) as refusal:
        resolve(folder, Task.IMG2IMG)
    assert OMNI_NO_IMG2IMG in str(refusal.value) and "image=[...]" in str(refusal.value)


def test_an_omni_class_over_a_transformer_without_siglip_is_refused_with_the_fix(tmp_path):
    folder = _layout(tmp_path / "mislabelled", "ZImageOmniPipeline", OMNI_COMPONENTS, TRANSFORMER)
    with pytest.raises(UnsupportedModelError) as refusal:
        resolve(folder, Task.TEXT2IMG)
    assert "siglip_feat_dim is None" in str(refusal.value) and "ZImagePipeline" in str(refusal.value)


def test_a_transformer_without_siglip_fails_under_the_omni_pipeline_with_an_image(tiny_checkpoint):
    """Why the requirement above: ZImageOmniPipeline hands the condition image's SigLIP features to a transformer that has
    no embedder for them, and diffusers fails inside the transformer."""
    import diffusers

    omni = AutoPipelineForText2Image.from_pretrained(tiny_checkpoint(OMNI), torch_dtype=torch.bfloat16)
    plain = tiny.transformer().to(torch.bfloat16)
    pipe = diffusers.ZImageOmniPipeline(**{**omni.components, "transformer": plain})
    pipe.set_progress_bar_config(disable=True)
    with pytest.raises(TypeError):
        pipe(prompt="a fox", image=[tiny_image()], num_inference_steps=2)


def test_enable_pag_is_refused_with_why(tmp_path):
    folder = _layout(tmp_path / "turbo", "ZImagePipeline", COMPONENTS, TRANSFORMER)
    with pytest.raises(UnsupportedTaskError, match=NO_PAG):
        resolve(folder, Task.TEXT2IMG, enable_pag=True)


def test_controlnet_has_no_img2img_and_says_what_to_do(tiny_checkpoint):
    base = AutoPipelineForImage2Image.from_pretrained(tiny_checkpoint(FAMILY))
    with pytest.raises(UnsupportedTaskError) as refusal:
        AutoPipelineForImage2Image.from_pipe(base, controlnet=tiny.controlnet(base.transformer.config))
    assert NO_CONTROLNET_IMG2IMG in str(refusal.value)


def test_inpainting_with_a_union_2x_controlnet_from_pretrained_runs(tiny_checkpoint):
    folder = tiny_checkpoint(FAMILY)
    config = json.loads((folder / "transformer" / "config.json").read_text())
    controlnet = tiny.controlnet(config, 33, "control_layers")
    pipe = AutoPipelineForInpainting.from_pretrained(folder, controlnet=controlnet)
    assert type(pipe).__name__ == "ZImageControlNetInpaintPipeline" and pipe.controlnet is controlnet
    pipe.set_progress_bar_config(disable=True)
    image = pipe(prompt="a fox", image=tiny_image(), mask_image=tiny_mask(), control_image=tiny_image(), **SMALL).images[0]
    assert image.size == (64, 64)


def tiny_image():
    from PIL import Image

    return Image.new("RGB", (64, 64), (200, 120, 40))


def tiny_mask():
    from PIL import Image

    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (16, 16, 48, 48))
    return mask


# Loading plans and the allowance


def _identity(files=("model_index.json", "transformer/diffusion_pytorch_model-00001-of-00003.safetensors"), cls="ZImagePipeline"):
    return Identity("folder", "x", cls, files=files)


def test_bfloat16_where_the_gpu_has_it_from_bf16_files_where_they_exist_float32_elsewhere_never_float16():
    files = ("model_index.json", "transformer/diffusion_pytorch_model.bf16.safetensors", "transformer/diffusion_pytorch_model.safetensors")
    plans = check_bfloat16_plan(loading.plan, _identity(), _identity(files))
    assert loading.CPU_RAM in plans.cpu.reason  # the RAM it takes
    old = plans.without_bf16.reason
    assert "overflows in float16" in old and "Tongyi-MAI/Z-Image#14" in old and "cuda has no bfloat16" in old


def test_an_omni_plan_in_float32_says_images_need_bfloat16():
    omni = _identity(cls="ZImageOmniPipeline")
    assert loading.OMNI_FLOAT32 in loading.plan(omni, CPU).reason
    assert loading.OMNI_FLOAT32 in loading.plan(omni, GPU_NO_BF16).reason
    assert loading.OMNI_FLOAT32 not in loading.plan(omni, GPU_BF16).reason
    assert loading.OMNI_FLOAT32 not in loading.plan(_identity(), CPU).reason


def test_omni_image_conditioning_needs_a_bfloat16_vae_as_the_plan_says(tiny_checkpoint):
    """ZImageOmniPipeline encodes condition images with image.bfloat16(): in float32 that fails, in bfloat16 it runs."""
    folder = tiny_checkpoint(OMNI)
    for dtype, works in ((torch.float32, False), (torch.bfloat16, True)):
        pipe = AutoPipelineForText2Image.from_pretrained(folder, torch_dtype=dtype)
        pipe.set_progress_bar_config(disable=True)
        if works:
            assert pipe(prompt="a fox", image=[tiny_image()], num_inference_steps=2).images[0].size == (64, 64)
        else:
            with pytest.raises(RuntimeError, match="BFloat16"):
                pipe(prompt="a fox", image=[tiny_image()], num_inference_steps=2)


def test_the_allowance_is_stated_at_1024_and_scales_with_pixels_and_dtype():
    bf16 = LoadPlan("bfloat16", None, "device", "cuda", "test")
    at_native = loading.ALLOWANCE.activation(_identity(), bf16)
    assert (at_native.width, at_native.height, at_native.nbytes) == (1024, 1024, 2 * GiB)
    assert loading.ALLOWANCE.activation(_identity(), bf16, 2048, 2048).nbytes == 4 * 3 * GiB // 2 + GiB // 2
    float32 = LoadPlan("float32", None, "device", "cuda", "test")
    assert loading.ALLOWANCE.activation(_identity(), float32).nbytes == 3 * GiB + GiB // 2


# The tiny builder


def test_the_tiny_builder_refuses_variants_and_families_it_does_not_build(tmp_path):
    with pytest.raises(ValueError, match="no tiny variant 'turbo'"):
        tiny.build(FAMILY, tmp_path / "a", "turbo")
    with pytest.raises(ValueError, match="builds no tiny 'flux'"):
        tiny.build("flux", tmp_path / "b")


def test_the_tiny_tokenizer_wraps_prompts_as_qwen_does_and_keeps_markers_whole():
    tok = tiny.tokenizer()
    text = tok.apply_chat_template([{"role": "user", "content": "ab"}], tokenize=False, add_generation_prompt=True, enable_thinking=True)
    assert text == "<|im_start|>user\nab<|im_end|>\n<|im_start|>assistant\n"
    off = tok.apply_chat_template([{"role": "user", "content": "ab"}], tokenize=False, add_generation_prompt=True, enable_thinking=False)
    assert off.endswith("<think>\n\n</think>\n\n")
    ids = tok("<|vision_start|><|vision_end|>ab").input_ids
    assert ids[:2] == [tok.convert_tokens_to_ids(t) for t in ("<|vision_start|>", "<|vision_end|>")] and len(ids) == 4


def test_the_tiny_checkpoints_have_the_real_component_classes(tiny_checkpoint):
    for family, extra in ((FAMILY, {}), (OMNI, {"siglip": ["transformers", "Siglip2VisionModel"]})):
        index = json.loads((tiny_checkpoint(family) / "model_index.json").read_text())
        for name, ref in {**COMPONENTS, **extra}.items():
            assert index[name] == ref, (family, name)


def test_the_first_union_controlnet_cannot_inpaint_and_diffusers_says_which_can(tiny_checkpoint):
    """16 control channels, where ZImageControlNetInpaintPipeline gives 33: diffusers refuses it when the pipeline is made."""
    base = AutoPipelineForText2Image.from_pretrained(tiny_checkpoint(FAMILY))
    with pytest.raises(ValueError, match="Controlnet-Union-2.0"):
        AutoPipelineForInpainting.from_pipe(base, controlnet=tiny.controlnet(base.transformer.config, 16, None))
