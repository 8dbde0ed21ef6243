"""FLUX.1 and Chroma single files: detection from full-size headers (true names and shapes, no data), what loading asks
for, how they are planned, and why no tiny single file can load.

The headers are written from the configs autopipe-flux ships, built on the meta device and renamed to Black Forest
Labs' layout by autopipe_flux.layout, which the first test checks against diffusers' own converter.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from autopipe_core import AutoPipelineForInpainting, AutoPipelineForText2Image, DeviceFacts, GiB, Task, UnsupportedModelError, UnsupportedTaskError, resolve
from autopipe_core.headers import write_header
from autopipe_core.registry import build as build_registry
from autopipe_core.single_file import detect, read
from autopipe_flux import FILL_CHANNELS
from autopipe_flux.layout import TRANSFORMER, bfl_names, single_file_layout
from autopipe_flux.plugin import NO_FILL_TEXT2IMG
from autopipe_flux.single_file import config_folder

#: The shipped plugins that read single files: a FLUX file must be claimed by autopipe-flux alone among them.
SINGLE_FILE_READERS = ("autopipe-flux", "autopipe-sd", "autopipe-sdxl", "autopipe-controlnet")
CLASSES = {"flux-dev": "FluxPipeline", "flux-schnell": "FluxPipeline", "flux-fill": "FluxFillPipeline", "flux-control": "FluxControlPipeline", "chroma": "ChromaPipeline"}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """variant -> its transformer-only file in BFL's layout; "<variant>+all" the all-in-one file (dev, chroma)."""
    from autopipe_sd.ldm import vae_key  # the VAE's original names, as autopipe-sd's tests check them against diffusers

    root = tmp_path_factory.mktemp("flux-files")
    out = {}
    for variant in CLASSES:
        out[variant] = write_header(root / f"{variant}.safetensors", {k: ("BF16", s) for k, s in single_file_layout(config_folder(variant)).items()})
    for variant in ("flux-dev", "chroma"):
        layout = single_file_layout(config_folder(variant), all_in_one=True, vae_key=vae_key)
        out[variant + "+all"] = write_header(root / f"{variant}-all.safetensors", {k: ("BF16", s) for k, s in layout.items()})
    return out


@pytest.mark.parametrize(("variant", "converter"), [
    ("flux-dev", "convert_flux_transformer_checkpoint_to_diffusers"),
    ("flux-fill", "convert_flux_transformer_checkpoint_to_diffusers"),
    ("chroma", "convert_chroma_transformer_checkpoint_to_diffusers"),
])
def test_diffusers_converter_gives_back_every_tensor_from_the_bfl_names(variant, converter):
    import diffusers
    import torch
    from diffusers.loaders import single_file_utils

    from autopipe_flux.layout import meta_shapes

    cls = getattr(diffusers, "ChromaTransformer2DModel" if variant == "chroma" else "FluxTransformer2DModel")
    with torch.device("meta"):
        state = cls.from_config(cls.load_config(config_folder(variant) / "transformer")).state_dict()
    back = getattr(single_file_utils, converter)(bfl_names(state, TRANSFORMER))
    assert {k: tuple(v.shape) for k, v in back.items()} == meta_shapes(config_folder(variant), "transformer")


@pytest.mark.parametrize("variant", sorted(CLASSES))
def test_each_full_size_file_is_detected_by_this_plugin_alone(files, variant):
    report = detect(read(files[variant]), build_registry(allowed=frozenset(SINGLE_FILE_READERS)))
    assert [d.plugin for d in report.ranked] == ["autopipe-flux"], report.summary()
    best = report.best
    assert (best.variant, best.pipeline_class, best.confidence) == (variant, f"diffusers:{CLASSES[variant]}", 0.95)
    assert Path(best.config) == config_folder(variant)
    tokenizer = "tokenizer=" if variant == "chroma" else "tokenizer_2="
    assert "the transformer alone, in BFL's layout" in best.reason and tokenizer in best.reason and "vae=" in best.reason


def test_dev_and_schnell_are_told_by_the_guidance_embedding(files):
    dev, schnell = (detect(read(files[v])).best for v in ("flux-dev", "flux-schnell"))
    assert "guidance_in.in_layer.weight present" in dev.reason and "guidance_in.in_layer.weight absent" in schnell.reason
    assert "guidance-distilled" in dev.reason and "timestep-distilled" in schnell.reason


@pytest.mark.parametrize("task", list(Task))
def test_a_fill_file_does_inpaint_only_with_the_reason(files, task):
    if task is Task.INPAINT:
        assert resolve(files["flux-fill"], task).pipeline_class == "FluxFillPipeline"
        return
    with pytest.raises(UnsupportedTaskError) as refusal:
        resolve(files["flux-fill"], task)
    assert str(FILL_CHANNELS) in str(refusal.value) and "AutoPipelineForInpainting" in str(refusal.value)
    if task is Task.TEXT2IMG:
        assert NO_FILL_TEXT2IMG in str(refusal.value)


@pytest.mark.parametrize(("variant", "tasks"), [
    ("flux-dev", ("FluxPipeline", "FluxImg2ImgPipeline", "FluxInpaintPipeline")),
    ("flux-control", ("FluxControlPipeline", "FluxControlImg2ImgPipeline", "FluxControlInpaintPipeline")),
    ("chroma", ("ChromaPipeline", "ChromaImg2ImgPipeline", "ChromaInpaintPipeline")),
])
def test_files_resolve_for_every_task_as_their_folders_would(files, variant, tasks):
    assert tuple(resolve(files[variant], t).pipeline_class for t in Task) == tasks


def test_an_all_in_one_file_holds_the_text_encoders_and_the_vae_and_is_planned_from_its_header(files):
    from autopipe_core.planning import plan

    best = detect(read(files["flux-dev+all"])).best
    assert "ComfyUI's all-in-one layout (model.diffusion_model.*) with text_encoder, text_encoder_2, vae" in best.reason
    placed = plan(resolve(files["flux-dev+all"], "text2img"), DeviceFacts("cuda", 1, 80 * GiB, 80 * GiB, True))
    parameters = {c.name: c.parameters for c in placed.footprint.components}
    t5_in_file = 4_762_310_656 + 32_128 * 4096  # such files hold T5's embedding twice (shared, encoder.embed_tokens)
    assert parameters == {"transformer": 11_901_408_320, "text_encoder": 123_060_480, "text_encoder_2": t5_in_file, "vae": 83_819_683}
    assert placed.plan.placement == "device" and placed.plan.dtype == "bfloat16"
    chroma = plan(resolve(files["chroma+all"], "text2img"), DeviceFacts("cuda", 1, 80 * GiB, 80 * GiB, True))
    assert {c.name: c.parameters for c in chroma.footprint.components} == {"transformer": 8_899_983_424, "text_encoder": t5_in_file, "vae": 83_819_683}


def test_a_transformer_only_file_leaves_the_rest_unknown_to_the_planner(files):
    from autopipe_core.planning import plan

    placed = plan(resolve(files["flux-schnell"], "text2img"), DeviceFacts("cuda", 1, 24 * GiB, 24 * GiB, True))
    assert {c.name for c in placed.footprint.unknown} == {"text_encoder", "text_encoder_2", "vae"}
    assert placed.plan.placement == "device" and "not known" in placed.plan.reason


def test_loading_a_transformer_only_file_asks_for_everything_it_lacks_at_once(files):
    with pytest.raises(UnsupportedModelError) as refusal:
        AutoPipelineForText2Image.from_single_file(str(files["flux-dev"]))
    said = str(refusal.value)
    for name in ("text_encoder=", "text_encoder_2=", "vae=", "tokenizer_2="):
        assert name in said
    assert "tokenizer=" not in said.replace("tokenizer_2=", "")  # CLIP's is built from the merges the core ships
    with pytest.raises(UnsupportedModelError, match=r"holds no tokenizer_2\b"):
        AutoPipelineForInpainting.from_single_file(str(files["flux-dev+all"]))
    with pytest.raises(UnsupportedModelError, match=r"holds no text_encoder, vae, tokenizer,"):
        AutoPipelineForText2Image.from_single_file(str(files["chroma"]))


def test_another_geometry_is_claimed_with_a_low_confidence_and_says_to_pass_config(tmp_path):
    import re

    # Freepik's Flux.1-lite-8B keeps 8 of dev's 19 double blocks.
    layout = {k: s for k, s in single_file_layout(config_folder("flux-dev")).items() if not re.match(r"double_blocks\.([89]|1\d)\.", k)}
    path = write_header(tmp_path / "lite.safetensors", {k: ("BF16", s) for k, s in layout.items()})
    best = detect(read(path)).best
    assert (best.variant, best.confidence) == ("flux-dev", 0.5)
    assert "it has 8 double and 38 single blocks, not 19 and 38" in best.reason and "pass config=" in best.reason


def test_files_of_other_families_are_not_claimed(tmp_path):
    from autopipe_flux.single_file import detect as flux_detect

    sdxl_like = write_header(tmp_path / "x.safetensors", {"model.diffusion_model.input_blocks.0.0.weight": ("F16", (320, 4, 3, 3)), "img_in.weight": ("F16", (3072, 64))})
    assert flux_detect(read(sdxl_like)) == []
    narrow = {k: s for k, s in single_file_layout(config_folder("flux-dev")).items()}
    narrow["img_in.weight"] = (3072, 32)  # 8 latent channels: no FLUX.1 kind
    assert flux_detect(read(write_header(tmp_path / "n.safetensors", {k: ("BF16", s) for k, s in narrow.items()}))) == []


@pytest.mark.parametrize("family", ["flux", "chroma"])
def test_diffusers_converter_still_cannot_load_a_transformer_narrower_than_3072(family):
    """Why the conformance kit's tiny single file is declared impossible (no_single_file): when this fails, diffusers
    converts narrower transformers, and the kit's tiny_single_file can be written instead."""
    import torch
    from diffusers.loaders import single_file_utils

    from autopipe_flux import tiny

    with torch.device("meta"):
        model = tiny.chroma_transformer() if family == "chroma" else tiny.flux_transformer()
    converter = "convert_chroma_transformer_checkpoint_to_diffusers" if family == "chroma" else "convert_flux_transformer_checkpoint_to_diffusers"
    with pytest.raises(RuntimeError, match="split_with_sizes expects split_sizes to sum exactly to"):
        getattr(single_file_utils, converter)(bfl_names(model.state_dict()))


@pytest.mark.slow
def test_an_all_in_one_file_3072_wide_loads_through_diffusers_and_runs_every_task(tiny_checkpoint, tmp_path):
    """End to end through diffusers' own converters, which need FLUX's width: a transformer 3072 wide with one block of
    each kind (540 M parameters, a 1 GB file; about two minutes and 6 GB of RAM on two CPU cores), beside the tiny
    checkpoint's text encoders and VAE, in ComfyUI's all-in-one layout. Its geometry is not FLUX.1-dev's, so the caller
    passes config= (the tiny folder with this transformer's config); FluxInpaintPipeline, which diffusers gives no
    from_single_file, loads through FluxPipeline and from_pipe."""
    import shutil

    import torch
    from diffusers import AutoencoderKL, FluxTransformer2DModel
    from safetensors.torch import save_file
    from transformers import CLIPTextModel, T5EncoderModel

    from autopipe_core.testing.images import sample_image, sample_mask
    from autopipe_flux.layout import CLIP_L, T5XXL, transformers_names
    from autopipe_sd.ldm import vae_key

    tiny = tiny_checkpoint("flux")
    config = shutil.copytree(tiny, tmp_path / "config")
    with torch.device("meta"):
        wide = FluxTransformer2DModel(
            num_layers=1, num_single_layers=1, attention_head_dim=128, num_attention_heads=24, joint_attention_dim=32,
            pooled_projection_dim=32, guidance_embeds=True, axes_dims_rope=(16, 56, 56),
        )
    wide.save_config(config / "transformer")
    wide = wide.to_empty(device="cpu").to(torch.bfloat16)
    with torch.no_grad():
        for parameter in wide.parameters():
            parameter.normal_(0, 0.02)
    state = bfl_names(wide.state_dict(), TRANSFORMER)
    del wide
    state.update(transformers_names(CLIPTextModel.from_pretrained(tiny / "text_encoder").state_dict(), CLIP_L))
    state.update(transformers_names(T5EncoderModel.from_pretrained(tiny / "text_encoder_2").state_dict(), T5XXL))
    vae = AutoencoderKL.from_pretrained(tiny / "vae")
    for name, value in vae.state_dict().items():
        ldm = "vae." + vae_key(name, len(vae.config.block_out_channels)).split(".", 1)[1]
        state[ldm] = value.reshape(*value.shape, 1, 1) if ".mid.attn_1." in ldm and ldm.endswith(".weight") and value.ndim == 2 else value
    seen: set[int] = set()
    written = {}
    for name, value in state.items():  # T5's two embedding names hold one tensor: the file stores two copies
        written[name] = value.clone() if value.data_ptr() in seen else value.contiguous()
        seen.add(value.data_ptr())
    path = tmp_path / "wide-all-in-one.safetensors"
    save_file(written, str(path))
    del state, written

    best = detect(read(path)).best
    assert (best.plugin, best.variant, best.confidence) == ("autopipe-flux", "flux-dev", 0.5) and "pass config=" in best.reason
    text2img = AutoPipelineForText2Image.from_single_file(str(path), config=str(config), torch_dtype=torch.bfloat16)
    assert type(text2img).__name__ == "FluxPipeline" and text2img.transformer.config.num_attention_heads == 24
    assert not [n for n, p in text2img.text_encoder_2.named_parameters() if p.is_meta]
    call = dict(prompt="a fox", num_inference_steps=2, height=64, width=64, max_sequence_length=32)
    assert text2img(**call).images[0].size == (64, 64)
    inpaint = AutoPipelineForInpainting.from_single_file(str(path), config=str(config), torch_dtype=torch.bfloat16)
    assert type(inpaint).__name__ == "FluxInpaintPipeline"
    image = inpaint(**call, image=sample_image(64), mask_image=sample_mask(64), strength=0.75).images[0]
    assert image.size == (64, 64)
