"""autopipe-qwenimage's own behaviour: diffusers' tables served, checkpoints told apart from their JSON, refusals, loading plans."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from autopipe_core import GiB, Identity, LoadPlan, Task, UnsupportedModelError, UnsupportedTaskError, resolve
from autopipe_core.registry import get_registry
from autopipe_core.testing import auto_tables, check_bfloat16_plan, write_json_files
from autopipe_qwenimage import EDIT, EDIT_PLUS, FAMILIES, FAMILY, LAYERED, QWENIMAGE21, tiny
from autopipe_qwenimage.plugin import CONTROLNET, EDIT_NO_TEXT2IMG, VISION_FAMILIES
from autopipe_qwenimage import loading


# model_index.json and transformer/config.json as these repositories ship them (the keys that matter; JSON only).
BASE_TRANSFORMER = {
    "_class_name": "QwenImageTransformer2DModel", "attention_head_dim": 128, "axes_dims_rope": [16, 56, 56], "guidance_embeds": False,
    "in_channels": 64, "joint_attention_dim": 3584, "num_attention_heads": 24, "num_layers": 60, "out_channels": 16, "patch_size": 2,
}
COMPONENTS = {
    "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"], "text_encoder": ["transformers", "Qwen2_5_VLForConditionalGeneration"],
    "tokenizer": ["transformers", "Qwen2Tokenizer"], "transformer": ["diffusers", "QwenImageTransformer2DModel"],
    "vae": ["diffusers", "AutoencoderKLQwenImage"],
}
REPOS = {
    "Qwen/Qwen-Image": ("QwenImagePipeline", COMPONENTS, BASE_TRANSFORMER),
    "Qwen/Qwen-Image-Edit": ("QwenImageEditPipeline", {**COMPONENTS, "processor": ["transformers", "Qwen2VLProcessor"]}, BASE_TRANSFORMER),
    "Qwen/Qwen-Image-Edit-2509": ("QwenImageEditPlusPipeline", {**COMPONENTS, "processor": ["transformers", "Qwen2VLProcessor"]}, BASE_TRANSFORMER),
    "Qwen/Qwen-Image-Edit-2511": (
        "QwenImageEditPlusPipeline", {**COMPONENTS, "processor": ["transformers", "Qwen2VLProcessor"]}, {**BASE_TRANSFORMER, "zero_cond_t": True},
    ),
    "Qwen/Qwen-Image-Layered": (
        "QwenImageLayeredPipeline", {**COMPONENTS, "processor": ["transformers", "Qwen2VLProcessor"]},
        {**BASE_TRANSFORMER, "use_additional_t_cond": True, "use_layer3d_rope": True},
    ),
}
#: What each of them is for each task: the class, or None for a refusal.
EXPECTED = {
    "Qwen/Qwen-Image": ("QwenImagePipeline", "QwenImageImg2ImgPipeline", "QwenImageInpaintPipeline"),
    "Qwen/Qwen-Image-Edit": (None, "QwenImageEditPipeline", "QwenImageEditInpaintPipeline"),
    "Qwen/Qwen-Image-Edit-2509": (None, "QwenImageEditPlusPipeline", None),
    "Qwen/Qwen-Image-Edit-2511": (None, "QwenImageEditPlusPipeline", None),
    "Qwen/Qwen-Image-Layered": (None, "QwenImageLayeredPipeline", None),
}


def _layout(root: Path, cls: str, components: dict, transformer: dict) -> Path:
    index = {"_class_name": cls, "_diffusers_version": "0.35.0", **components}
    return write_json_files(root, {"model_index.json": index, "transformer/config.json": transformer})


# Registration and diffusers' tables


def test_five_families_and_their_rows_are_registered():
    registry = get_registry()
    assert {f for f, (_, owner) in registry.families.items() if owner == "autopipe-qwenimage"} == set(FAMILIES)
    rows = {(family, mods) for family, mods in registry.table if family in FAMILIES}
    assert rows == {(f, frozenset()) for f in FAMILIES} | {(FAMILY, frozenset({CONTROLNET}))}


def test_every_row_of_diffusers_tables_for_these_keys_is_served_with_diffusers_class():
    """Each Qwen key of AUTO_TEXT2IMAGE/IMAGE2IMAGE/INPAINT_PIPELINES_MAPPING: its class resolves to the row that gives it for that task."""
    registry = get_registry()
    served = []
    for task, table in auto_tables().items():
        for key, cls in table.items():
            if not key.startswith("qwenimage"):
                continue
            entry = registry.classes[cls]
            ref, _ = registry.table[(entry.family, entry.modifiers)][task]
            assert ref == f"diffusers:{cls}", (key, task)
            served.append((key, task.value))
    assert len(served) == 9  # 3 text2img, 4 img2img, 2 inpaint in diffusers 0.42.1


def test_each_class_takes_the_components_of_its_family():
    """The rows name classes whose constructors take a Qwen transformer, and a VL processor exactly in the vision families."""
    for row in importlib.import_module("autopipe_qwenimage.plugin").autopipe_pipelines():
        for ref in row.classes.values():
            cls = getattr(importlib.import_module("diffusers"), ref.partition(":")[2])
            expected, _ = cls._get_signature_keys(cls)
            assert {"transformer", "vae", "text_encoder", "scheduler"} <= set(expected), ref
            assert ("processor" in expected) == (row.family in VISION_FAMILIES), ref
            assert ("controlnet" in expected) == (CONTROLNET in row.modifiers), ref


# Checkpoints told apart from their JSON


@pytest.mark.parametrize("repo", sorted(REPOS))
def test_real_layouts_resolve_as_diffusers_does_or_are_refused_with_what_to_load(tmp_path, repo):
    folder = _layout(tmp_path / repo.replace("/", "--"), *REPOS[repo])
    for task, expected in zip(Task, EXPECTED[repo]):
        if expected is not None:
            assert resolve(folder, task).pipeline_class == expected
        else:
            with pytest.raises(UnsupportedTaskError):
                resolve(folder, task)


def test_an_edit_checkpoint_asked_for_text2img_is_sent_to_the_base_model(tmp_path):
    folder = _layout(tmp_path / "edit", *REPOS["Qwen/Qwen-Image-Edit"])
    with pytest.raises(UnsupportedTaskError) as refusal:
        resolve(folder, Task.TEXT2IMG)
    assert EDIT_NO_TEXT2IMG in str(refusal.value) and "AutoPipelineForText2Image.from_pretrained('Qwen/Qwen-Image')" in str(refusal.value)


def test_a_layered_transformer_under_the_base_class_is_refused_before_its_first_step_fails(tmp_path):
    """QwenImagePipeline would fail at its first step ("additional_t_cond must be provided"); resolution says what it is."""
    cls, components, transformer = REPOS["Qwen/Qwen-Image-Layered"]
    folder = _layout(tmp_path / "mislabelled", "QwenImagePipeline", COMPONENTS, transformer)
    with pytest.raises(UnsupportedModelError) as refusal:
        resolve(folder, Task.TEXT2IMG)
    assert "QwenImageLayeredPipeline" in str(refusal.value) and "use_additional_t_cond" in str(refusal.value)


def test_a_base_transformer_under_the_layered_class_is_refused(tmp_path):
    folder = _layout(tmp_path / "mislabelled", "QwenImageLayeredPipeline", REPOS["Qwen/Qwen-Image-Layered"][1], BASE_TRANSFORMER)
    with pytest.raises(UnsupportedModelError, match="Correct _class_name"):
        resolve(folder, Task.IMG2IMG)


def test_controlnet_has_no_img2img_and_says_what_to_do(tiny_checkpoint):
    from autopipe_core import AutoPipelineForImage2Image

    base = AutoPipelineForImage2Image.from_pretrained(tiny_checkpoint(FAMILY))
    with pytest.raises(UnsupportedTaskError, match="no ControlNet img2img pipeline for Qwen-Image"):
        AutoPipelineForImage2Image.from_pipe(base, controlnet=tiny.controlnet(base.transformer.config))


# Loading plans and the allowance


def _identity(files=("model_index.json", "transformer/diffusion_pytorch_model-00001-of-00009.safetensors")):
    return Identity("folder", "x", "QwenImagePipeline", files=files)


def test_bfloat16_where_the_gpu_has_it_from_bf16_files_where_they_exist_float32_elsewhere_never_float16():
    files = ("model_index.json", "transformer/diffusion_pytorch_model.bf16.safetensors", "transformer/diffusion_pytorch_model.safetensors")
    plans = check_bfloat16_plan(loading.plan, _identity(), _identity(files))
    assert "overflows in float16" in plans.without_bf16.reason and "no bfloat16" in plans.without_bf16.reason


def test_the_allowance_is_stated_at_1024_and_scales_with_pixels_and_dtype():
    plan = LoadPlan("bfloat16", None, "device", "cuda", "test")
    at_native = loading.ALLOWANCE.activation(_identity(), plan)
    assert (at_native.width, at_native.height, at_native.nbytes) == (1024, 1024, 5 * GiB)
    assert loading.ALLOWANCE.activation(_identity(), plan, 2048, 2048).nbytes == 4 * 4 * GiB + GiB
    float32 = LoadPlan("float32", None, "device", "cuda", "test")
    assert loading.ALLOWANCE.activation(_identity(), float32).nbytes == 2 * 4 * GiB + GiB
    assert loading.ALLOWANCE_21.activation(_identity(), plan).nbytes > at_native.nbytes


# The tiny builder


def test_the_tiny_builder_refuses_variants_and_families_it_does_not_build(tmp_path):
    with pytest.raises(ValueError, match="no tiny variant 'inpainting-only'"):
        tiny.build(FAMILY, tmp_path / "a", "inpainting-only")
    with pytest.raises(ValueError, match="builds no tiny 'flux'"):
        tiny.build("flux", tmp_path / "b")


def test_the_vision_families_build_or_say_why_they_cannot(tmp_path):
    """Where transformers cannot build a Qwen2-VL processor (no torchvision), the builder says so; elsewhere it builds."""
    missing = tiny.vision_processor_missing()
    for family in (EDIT, EDIT_PLUS, LAYERED, QWENIMAGE21):
        if missing is None:
            assert (tiny.build(family, tmp_path / family) / "processor").is_dir()
        else:
            with pytest.raises(UnsupportedModelError, match="Install the torchvision release that matches your torch"):
                tiny.build(family, tmp_path / family)


def test_the_tiny_tokenizer_keeps_the_vision_markers_whole():
    tok = tiny.tokenizer()
    ids = tok("<|vision_start|><|image_pad|><|vision_end|>ab").input_ids
    assert ids[:3] == [tok.convert_tokens_to_ids(t) for t in ("<|vision_start|>", "<|image_pad|>", "<|vision_end|>")]
    assert len(ids) == 5 and len(tok) == 264
