"""The rows no keyword selects (Control, Fill, Kontext), run end to end on their own tiny checkpoints, and what a live
pipeline of each resolves to; schnell under FLUX.1-dev's classes; diffusers' Chroma inpainting and its config entry."""

from __future__ import annotations

import pytest

from autopipe_core import AutoPipelineForImage2Image, AutoPipelineForInpainting, AutoPipelineForText2Image, Task, UnsupportedTaskError, resolve
from autopipe_core.testing.images import sample_image, sample_mask
from autopipe_flux import CHROMA, CONTROL, FILL, FLUX, KONTEXT
from autopipe_flux.tiny import SCHNELL

AUTO = {Task.TEXT2IMG: AutoPipelineForText2Image, Task.IMG2IMG: AutoPipelineForImage2Image, Task.INPAINT: AutoPipelineForInpainting}
SIZE = 64
ROWS = {
    CONTROL: {Task.TEXT2IMG: "FluxControlPipeline", Task.IMG2IMG: "FluxControlImg2ImgPipeline", Task.INPAINT: "FluxControlInpaintPipeline"},
    FILL: {Task.INPAINT: "FluxFillPipeline"},
    KONTEXT: {Task.TEXT2IMG: "FluxKontextPipeline", Task.IMG2IMG: "FluxKontextPipeline", Task.INPAINT: "FluxKontextInpaintPipeline"},
}


def _call(pipeline, kind: str | None, task: Task):
    """Two steps at 64x64; the prompt by keyword (FluxKontextPipeline's first parameter is the image, not the prompt)."""
    import torch

    kwargs = dict(prompt="a red fox", num_inference_steps=2, height=SIZE, width=SIZE, generator=torch.Generator("cpu").manual_seed(0))
    if task is not Task.TEXT2IMG:
        kwargs.update(image=sample_image(SIZE), strength=0.75)
    if task is Task.INPAINT:
        kwargs["mask_image"] = sample_mask(SIZE)
    if kind == CONTROL:
        kwargs["control_image"] = sample_image(SIZE)
    if kind == KONTEXT:
        kwargs.update(max_area=SIZE * SIZE, _auto_resize=False)  # else Kontext resizes to its preferred ~1024x1024 sizes
        if task is Task.IMG2IMG:
            kwargs.pop("strength")  # FluxKontextPipeline edits the whole image: it has no strength
    pipeline.set_progress_bar_config(disable=True)
    image = pipeline(**kwargs).images[0]
    assert image.size == (SIZE, SIZE)
    return image


@pytest.fixture(scope="module")
def first(tiny_checkpoint):
    """kind -> the pipeline its first task loads from its tiny checkpoint, once per module."""
    cache = {}

    def get(kind):
        if kind not in cache:
            task = next(iter(ROWS[kind]))
            cache[kind] = AUTO[task].from_pretrained(tiny_checkpoint(FLUX, kind))
        return cache[kind]

    return get


@pytest.mark.parametrize(("kind", "task"), [(k, t) for k, row in ROWS.items() for t in row])
def test_each_row_loads_its_class_and_runs(tiny_checkpoint, first, kind, task):
    folder = tiny_checkpoint(FLUX, kind)
    assert resolve(folder, task).pipeline_class == ROWS[kind][task]
    source = first(kind)
    pipeline = AUTO[task].from_pipe(source)
    assert type(pipeline).__name__ == ROWS[kind][task]
    assert all(pipeline.components[n] is c for n, c in source.components.items() if hasattr(c, "parameters"))
    _call(pipeline, kind, task)


@pytest.mark.parametrize("kind", list(ROWS))
def test_a_live_pipeline_resolves_as_its_folder_does(tiny_checkpoint, first, kind):
    """The kind is in the weights, which the folder and the live pipeline share: no on_disk row is needed."""
    folder, live = tiny_checkpoint(FLUX, kind), first(kind)
    for task in Task:
        if task in ROWS[kind]:
            assert resolve(live, task).pipeline_class == resolve(folder, task).pipeline_class == ROWS[kind][task]
            continue
        for model in (folder, live):
            with pytest.raises(UnsupportedTaskError, match="FLUX.1 Fill's transformer takes 384 input channels"):
                resolve(model, task)


def test_from_pretrained_of_the_fill_checkpoint_runs_inpaint(tiny_checkpoint):
    pipeline = AutoPipelineForInpainting.from_pretrained(tiny_checkpoint(FLUX, FILL))
    assert type(pipeline).__name__ == "FluxFillPipeline" and pipeline.transformer.config.in_channels == 384
    _call(pipeline, FILL, Task.INPAINT)


def test_schnell_is_flux_dev_s_classes_without_the_guidance_embedding(tiny_checkpoint):
    folder = tiny_checkpoint(FLUX, SCHNELL)
    assert [resolve(folder, t).pipeline_class for t in Task] == ["FluxPipeline", "FluxImg2ImgPipeline", "FluxInpaintPipeline"]
    pipeline = AutoPipelineForText2Image.from_pretrained(folder)
    assert pipeline.transformer.config.guidance_embeds is False and pipeline.scheduler.config.use_dynamic_shifting is False
    assert not hasattr(pipeline.transformer.time_text_embed, "guidance_embedder")
    _call(pipeline, None, Task.TEXT2IMG)


def test_chroma_inpainting_needs_the_config_entry_chroma1_hd_carries(tiny_checkpoint):
    """diffusers 0.42.1's ChromaInpaintPipeline reads transformer.config.guidance_embeds, which ChromaTransformer2DModel does
    not define: a Chroma transformer whose config lacks the entry fails at the first call. Chroma1-HD's config carries it
    (false, left from FLUX's), and so does the tiny checkpoint. When this test fails, diffusers reads it no more."""
    from diffusers import ChromaTransformer2DModel

    pipeline = AutoPipelineForInpainting.from_pretrained(tiny_checkpoint(CHROMA))
    assert type(pipeline).__name__ == "ChromaInpaintPipeline" and pipeline.transformer.config.guidance_embeds is False
    _call(pipeline, None, Task.INPAINT)
    config = {k: v for k, v in pipeline.transformer.config.items() if not k.startswith("_") and k != "guidance_embeds"}
    bare = ChromaTransformer2DModel.from_config(config).to(pipeline.transformer.dtype)
    pipeline = AutoPipelineForInpainting.from_pipe(pipeline, transformer=bare)
    with pytest.raises(AttributeError, match="guidance_embeds"):
        _call(pipeline, None, Task.INPAINT)
