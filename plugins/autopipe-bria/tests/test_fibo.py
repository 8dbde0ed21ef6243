"""FIBO and FIBO Edit: the edit row a BriaFiboEditPipeline checkpoint selects (which the kit cannot reach: no keyword
selects it), the base model's refusals, the JSON edit prompts and mask= keyword of diffusers' class, and the plan."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

import autopipe_bria as bria
from autopipe_bria.loading import FIBO_ALLOWANCE, fibo_plan
from autopipe_core import (
    AutoPipelineForImage2Image,
    AutoPipelineForInpainting,
    AutoPipelineForText2Image,
    DeviceFacts,
    GiB,
    Identity,
    Task,
    UnsupportedTaskError,
    resolve,
)
from autopipe_core.registry import get_registry

SMALL = dict(num_inference_steps=2, height=64, width=64)
#: FIBO Edit's prompts are JSON with an edit_instruction (BriaFiboEditPipeline.check_inputs refuses anything else).
EDIT_PROMPT = json.dumps({"edit_instruction": "make the square blue"})
#: FIBO's prompts are JSON captions; BriaFiboPipeline also takes plain text.
FIBO_PROMPT = json.dumps({"short_description": "a red square on a white wall"})


@pytest.fixture(scope="module")
def tiny_edit(tmp_path_factory):
    from autopipe_bria.tiny import fibo_edit

    return fibo_edit(tmp_path_factory.mktemp("fibo-edit") / "ckpt")


def _image() -> Image.Image:
    return Image.new("RGB", (64, 64), (200, 20, 20))


def test_fibo_rows_are_registered_with_the_edit_row_under_its_class():
    registry = get_registry()
    assert registry.table[(bria.FIBO, frozenset())] == {Task.TEXT2IMG: ("diffusers:BriaFiboPipeline", "autopipe-bria")}
    edit = registry.table[(bria.FIBO, frozenset({bria.EDIT}))]
    assert {task: ref for task, (ref, _) in edit.items()} == dict.fromkeys(Task, "diffusers:BriaFiboEditPipeline")


@pytest.mark.parametrize("task, words", [(Task.IMG2IMG, "load that one"), (Task.INPAINT, "repaints what its mask= covers")])
def test_fibo_refuses_to_edit_saying_to_load_fibo_edit(tiny_checkpoint, task, words):
    with pytest.raises(UnsupportedTaskError) as refusal:
        resolve(tiny_checkpoint(bria.FIBO), task)
    assert "FIBO Edit" in str(refusal.value) and "briaai/Fibo-Edit" in str(refusal.value) and words in str(refusal.value)


def test_fibo_draws_from_a_json_caption_and_from_plain_text(tiny_checkpoint):
    pipe = AutoPipelineForText2Image.from_pretrained(tiny_checkpoint(bria.FIBO))
    pipe.set_progress_bar_config(disable=True)
    assert type(pipe).__name__ == "BriaFiboPipeline"
    for prompt in (FIBO_PROMPT, "a red square"):
        assert pipe(prompt, **SMALL).images[0].size == (64, 64)


@pytest.mark.parametrize("task", list(Task))
def test_a_fibo_edit_checkpoint_resolves_to_the_edit_row_for_every_task(tiny_edit, task):
    resolution = resolve(tiny_edit, task)
    assert (resolution.family, resolution.modifiers, resolution.pipeline_class) == (bria.FIBO, frozenset({bria.EDIT}), "BriaFiboEditPipeline")


def test_fibo_edit_edits_repaints_under_mask_and_draws_from_scratch(tiny_edit):
    """img2img: image=; inpaint: image= and mask= (diffusers' keyword, not mask_image=); text2img: no image, height and width."""
    edit = AutoPipelineForImage2Image.from_pretrained(tiny_edit)
    edit.set_progress_bar_config(disable=True)
    assert type(edit).__name__ == "BriaFiboEditPipeline"
    assert edit(EDIT_PROMPT, image=_image(), **SMALL).images[0].size == (64, 64)

    inpaint = AutoPipelineForInpainting.from_pipe(edit)
    assert type(inpaint).__name__ == "BriaFiboEditPipeline" and inpaint.transformer is edit.transformer
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (16, 16, 48, 48))
    assert inpaint(EDIT_PROMPT, image=_image(), mask=mask, **SMALL).images[0].size == (64, 64)
    with pytest.raises(TypeError, match="mask_image"):
        inpaint(EDIT_PROMPT, image=_image(), mask_image=mask, **SMALL)

    scratch = AutoPipelineForText2Image.from_pipe(edit)
    assert type(scratch).__name__ == "BriaFiboEditPipeline" and scratch.vae is edit.vae
    assert scratch(EDIT_PROMPT, **SMALL).images[0].size == (64, 64)


def test_fibo_edit_takes_only_json_edit_prompts(tiny_edit):
    """Why docs/bria.md says so: diffusers' class refuses a plain prompt before any step."""
    pipe = AutoPipelineForImage2Image.from_pretrained(tiny_edit)
    with pytest.raises(ValueError, match="valid edit JSON"):
        pipe("make the square blue", image=_image(), **SMALL)


def test_from_pipe_of_fibo_to_img2img_is_refused_and_fibo_edit_loads_in_bfloat16(tiny_checkpoint, tiny_edit):
    base = AutoPipelineForText2Image.from_pretrained(tiny_checkpoint(bria.FIBO))
    with pytest.raises(UnsupportedTaskError, match="FIBO Edit"):
        AutoPipelineForImage2Image.from_pipe(base)
    half = AutoPipelineForImage2Image.from_pretrained(tiny_edit, dtype=torch.bfloat16)
    half.set_progress_bar_config(disable=True)
    assert {half.transformer.dtype, half.vae.dtype, half.text_encoder.dtype} == {torch.bfloat16}
    assert half(EDIT_PROMPT, image=_image(), **SMALL).images[0].size == (64, 64)


# Loading code


def test_fibo_plans_bfloat16_every_component_alike():
    identity = Identity("folder", "x", "BriaFiboPipeline", files=("model_index.json", "transformer/diffusion_pytorch_model.safetensors"))
    cpu = fibo_plan(identity, DeviceFacts("cpu"))
    assert (cpu.dtype, dict(cpu.component_dtypes)) == ("float32", {})
    gpu = fibo_plan(identity, DeviceFacts("cuda", 1, 70 * GiB, 80 * GiB, True))
    assert (gpu.dtype, gpu.variant, dict(gpu.component_dtypes), gpu.skip) == ("bfloat16", None, {}, frozenset())
    assert "latents in the transformer's dtype" in gpu.reason
    t4 = fibo_plan(identity, DeviceFacts("cuda", 1, 14 * GiB, 15 * GiB, False))
    assert t4.dtype == "float16" and "has no bfloat16" in t4.reason
    activation = FIBO_ALLOWANCE.activation(identity, gpu)
    assert (activation.width, activation.height, activation.nbytes) == (1024, 1024, 4 * GiB)


def test_a_fibo_2_checkpoint_is_refused_saying_how_to_load_it(tmp_path):
    """FIBO 2's class is recognised, not served: every task is refused before anything is imported, with diffusers' way."""
    from autopipe_core import UnsupportedModelError

    index = {
        "_class_name": "BriaFibo2Pipeline",
        "processor": ["transformers", "Qwen3VLProcessor"],
        "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
        "text_encoder": ["transformers", "Qwen3VLForConditionalGeneration"],
        "transformer": ["diffusers", "BriaFibo2Transformer2DModel"],
        "vae": ["diffusers", "AutoencoderKLFlux2"],
    }
    (tmp_path / "model_index.json").write_text(json.dumps(index))
    for task in Task:
        with pytest.raises(UnsupportedModelError, match=r"family bria-fibo.*BriaFibo2Pipeline\.from_pretrained"):
            resolve(tmp_path, task)
