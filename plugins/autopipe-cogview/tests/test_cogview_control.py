"""CogView4 Control, the row no keyword selects: run end to end on its own tiny checkpoint, what a live pipeline of it
resolves to, and why its class is chosen by its name rather than by a keyword or a Variant."""

from __future__ import annotations

import pytest
import torch

import autopipe_cogview as cogview
from autopipe_core import (
    AutoPipelineForImage2Image,
    AutoPipelineForInpainting,
    AutoPipelineForText2Image,
    Task,
    UnsupportedModelError,
    UnsupportedTaskError,
    resolve,
)
from autopipe_core.testing.images import sample_image

SIZE = 64


@pytest.fixture(scope="module")
def control(tiny_checkpoint):
    return tiny_checkpoint(cogview.COGVIEW4, cogview.CONTROL)


@pytest.fixture(scope="module")
def control_pipe(control):
    pipe = AutoPipelineForText2Image.from_pretrained(control)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _draw(pipe, **kwargs):
    return pipe("a red fox", num_inference_steps=2, generator=torch.Generator("cpu").manual_seed(0), **kwargs).images[0]


def test_the_control_checkpoint_loads_its_class_and_draws_after_the_control_image(control, control_pipe):
    resolution = resolve(control, Task.TEXT2IMG)
    assert (resolution.family, resolution.modifiers, resolution.pipeline_class) == (cogview.COGVIEW4, frozenset({cogview.CONTROL}), "CogView4ControlPipeline")
    assert type(control_pipe).__name__ == "CogView4ControlPipeline"
    assert control_pipe.transformer.config.in_channels == cogview.CONTROL_CHANNELS
    image = _draw(control_pipe, control_image=sample_image(SIZE))
    assert image.size == (SIZE, SIZE)


def test_from_pipe_keeps_the_control_class_on_the_same_components(control_pipe):
    again = AutoPipelineForText2Image.from_pipe(control_pipe)
    assert type(again).__name__ == "CogView4ControlPipeline"
    assert all(again.components[n] is c for n, c in control_pipe.components.items() if hasattr(c, "parameters"))
    assert _draw(again, control_image=sample_image(SIZE)).size == (SIZE, SIZE)


@pytest.mark.parametrize("task, auto", [(Task.IMG2IMG, AutoPipelineForImage2Image), (Task.INPAINT, AutoPipelineForInpainting)])
def test_a_live_control_pipeline_and_its_folder_refuse_img2img_and_inpaint_alike(control, control_pipe, task, auto):
    reason = cogview.CONTROL_NO_IMG2IMG if task is Task.IMG2IMG else cogview.CONTROL_NO_INPAINT
    for model in (control, control_pipe):
        with pytest.raises(UnsupportedTaskError) as refusal:
            resolve(model, task)
        assert reason in str(refusal.value)
    with pytest.raises(UnsupportedTaskError, match="FluxControl"):
        auto.from_pipe(control_pipe)


def test_pag_and_controlnet_over_a_control_checkpoint_are_refused(control):
    """No pipeline of diffusers takes a Control transformer with PAG or a ControlNet: the core names the missing combination."""
    with pytest.raises(UnsupportedModelError, match=r"there is no cogview4 \+ control \+ pag pipeline"):
        resolve(control, Task.TEXT2IMG, enable_pag=True)
    with pytest.raises(UnsupportedModelError, match=r"there is no cogview4 \+ control \+ controlnet pipeline"):
        resolve(control, Task.TEXT2IMG, controlnet=object())


def test_the_plain_and_control_transformers_differ_by_their_input_channels(tiny_checkpoint, control_pipe):
    """Why Control is a row of its own class, not a keyword over the plain pipeline: CogView4ControlPipeline feeds the
    transformer the noisy latents and the control image's, concatenated (in_channels // 2 latent channels); the plain
    transformer takes 16 and fails on 32, and the Control one cannot draw from the plain pipeline's 16."""
    plain = AutoPipelineForText2Image.from_pretrained(tiny_checkpoint(cogview.COGVIEW4))
    plain.set_progress_bar_config(disable=True)
    assert (plain.transformer.config.in_channels, control_pipe.transformer.config.in_channels) == (cogview.LATENT_CHANNELS, cogview.CONTROL_CHANNELS)
    assert resolve(plain, Task.TEXT2IMG).pipeline_class == "CogView4Pipeline"
    from diffusers import CogView4ControlPipeline, CogView4Pipeline

    mismatched = CogView4ControlPipeline(**{**control_pipe.components, "transformer": plain.transformer})
    mismatched.set_progress_bar_config(disable=True)
    with pytest.raises(RuntimeError):
        _draw(mismatched, control_image=sample_image(SIZE))
    wrong_way = CogView4Pipeline(**{**plain.components, "transformer": control_pipe.transformer})
    wrong_way.set_progress_bar_config(disable=True)
    with pytest.raises(RuntimeError):
        _draw(wrong_way)
