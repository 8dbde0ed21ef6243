"""SD3 single files: the shipped config folders and the published parameter counts, detection from full-size headers
(checked against diffusers' own model-type inference and converter), and loading the tiny file offline with and
without its text encoders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sd3_layouts import build_tiny_file, fullsize_layout

from autopipe_core import AutoPipelineForText2Image, UnsupportedModelError, resolve
from autopipe_core.headers import write_header
from autopipe_core.single_file import read
from autopipe_sd3 import architectures
from autopipe_sd3.single_file import FOLDERS, detect

TEXT = ("text_encoder", "text_encoder_2", "text_encoder_3")
#: Each full-size variant and the model type diffusers' infer_diffusers_model_type gives its files.
DIFFUSERS_TYPE = {"sd3-medium": "sd3", "sd35-medium": "sd35_medium", "sd35-large": "sd35_large"}


def _json_files(folder: Path) -> dict[str, object]:
    return {str(p.relative_to(folder)): json.loads(p.read_text()) for p in sorted(folder.rglob("*.json"))}


# The config folders: written from the published numbers, and those numbers are the published models


@pytest.mark.parametrize("variant", architectures.VARIANTS)
def test_each_shipped_config_folder_is_what_the_published_numbers_write(variant, tmp_path):
    written = architectures.write_config_folder(tmp_path / variant, variant)
    assert _json_files(FOLDERS.folder(variant)) == _json_files(written)


def test_the_tiny_config_folder_is_the_tiny_checkpoints(tmp_path):
    from autopipe_sd3 import tiny

    written = tiny.write_config_folder(tmp_path / "sd3-tiny")
    assert _json_files(FOLDERS.folder("sd3-tiny")) == _json_files(written)
    assert (FOLDERS.folder("sd3-tiny") / "tokenizer_3" / "tokenizer.json").is_file()


def _from_shipped(variant: str, component: str):
    """The component built on the meta device from the config.json this plugin ships (not from the numbers)."""
    import torch
    from diffusers import AutoencoderKL, SD3Transformer2DModel
    from transformers import AutoConfig, CLIPTextModelWithProjection, T5EncoderModel

    folder = FOLDERS.folder(variant) / component
    with torch.device("meta"):
        if component == "transformer":
            return SD3Transformer2DModel.from_config(SD3Transformer2DModel.load_config(folder))
        if component == "vae":
            return AutoencoderKL.from_config(AutoencoderKL.load_config(folder))
        cls = T5EncoderModel if component == "text_encoder_3" else CLIPTextModelWithProjection
        return cls(AutoConfig.from_pretrained(folder))


def _count(model) -> int:
    """Elements of everything a save of `model` holds: parameters, persistent buffers (SD3's position table), a tied weight once."""
    import math

    return sum(math.prod(shape) for shape in architectures.state_shapes(model).values())


@pytest.mark.parametrize("variant", architectures.VARIANTS)
def test_the_shipped_configs_build_the_published_models(variant):
    """Transformer (with its position table) + VAE + both CLIP encoders: KerasHub's published total for the preset."""
    total = _count(_from_shipped(variant, "transformer")) + sum(_count(_from_shipped(variant, c)) for c in ("vae", "text_encoder", "text_encoder_2"))
    assert total == architectures.PUBLISHED[variant]


def test_the_shipped_text_encoders_are_the_published_ones():
    for component in TEXT:
        assert _count(_from_shipped("sd35-large", component)) == architectures.PUBLISHED[component], component


# Detection from the header: full-size layouts


def _file(tmp_path: Path, variant: str, components: tuple[str, ...], name: str | None = None, **extra) -> Path:
    tensors = fullsize_layout(variant, components)
    tensors.update(extra)
    return write_header(tmp_path / (name or f"{variant}.safetensors"), tensors)


@pytest.fixture(scope="module")
def layouts():
    """variant -> its full-size single file's tensors (transformer and VAE), built once."""
    return {v: fullsize_layout(v, ("transformer", "vae")) for v in architectures.VARIANTS}


@pytest.mark.parametrize("variant", architectures.VARIANTS)
def test_each_variant_is_told_apart_as_diffusers_tells_it(variant, layouts, tmp_path):
    import torch
    from diffusers.loaders.single_file_utils import infer_diffusers_model_type

    path = write_header(tmp_path / "model.safetensors", layouts[variant])
    found = detect(read(path))
    assert [(d.family, d.variant) for d in found] == [("stable-diffusion-3", variant)]
    assert found[0].pipeline_class == "diffusers:StableDiffusion3Pipeline" and found[0].confidence == 0.95
    assert "no text_encoder, text_encoder_2: pass text_encoder= and text_encoder_2=" in found[0].reason
    checkpoint = {name: torch.empty(shape, device="meta") for name, (_, shape) in layouts[variant].items()}
    assert infer_diffusers_model_type(checkpoint) == DIFFUSERS_TYPE[variant]


@pytest.mark.parametrize("variant", architectures.VARIANTS)
def test_diffusers_converter_gives_back_every_tensor_of_the_model(variant, layouts):
    """The original names this suite writes are the ones diffusers reads: its converter, given them, returns the
    transformer's whole state (shapes included) and nothing else."""
    import torch
    from diffusers.loaders.single_file_utils import convert_sd3_transformer_checkpoint_to_diffusers

    checkpoint = {k: torch.empty(s, device="meta") for k, (_, s) in layouts[variant].items() if k.startswith("model.diffusion_model.")}
    converted = convert_sd3_transformer_checkpoint_to_diffusers(checkpoint)
    model = architectures.meta_models(variant)["transformer"]
    assert {k: tuple(v.shape) for k, v in converted.items()} == architectures.state_shapes(model)


def test_which_text_encoders_the_file_holds_is_said_and_counted(tmp_path):
    clips = _file(tmp_path, "sd3-medium", ("transformer", "vae", "text_encoder", "text_encoder_2"), "sd3_medium_incl_clips.safetensors")
    (found,) = detect(read(clips))
    assert "CLIP-L and CLIP-G, no T5: it loads without text_encoder_3" in found.reason
    assert set(found.prefixes) == {"transformer", "vae", "text_encoder", "text_encoder_2"}
    everything = _file(tmp_path, "sd3-medium", ("transformer", "vae", *TEXT), "sd3_medium_incl_clips_t5xxl.safetensors")
    (found,) = detect(read(everything))
    assert "CLIP-L, CLIP-G and T5-XXL" in found.reason and found.prefixes["text_encoder_3"] == "text_encoders.t5xxl."


def test_a_full_size_file_is_planned_from_its_header(tmp_path):
    from autopipe_core import DeviceFacts
    from autopipe_core.planning import plan

    path = _file(tmp_path, "sd35-large", ("transformer", "vae", *TEXT))
    placed = plan(resolve(path, "text2img"), DeviceFacts("cuda", 1, 24 << 30, 24 << 30, True))
    sizes = {c.name: c.parameters for c in placed.footprint.components}
    assert sizes["transformer"] == 8_056_627_520 + 192 * 192 * 2432  # parameters and the position table
    assert placed.plan.skip == {"text_encoder_3"} and placed.plan.placement == "device"


def test_other_transformers_are_not_claimed(layouts, tmp_path):
    large = dict(layouts["sd35-large"])
    shallower = {k: v for k, v in large.items() if ".joint_blocks.37." not in k}
    assert detect(read(write_header(tmp_path / "37.safetensors", shallower))) == []  # no shipped config has 37 blocks
    wider = dict(large)
    key = "model.diffusion_model.x_embedder.proj.weight"
    wider[key] = (wider[key][0], (2432, 33, 2, 2))
    assert detect(read(write_header(tmp_path / "33.safetensors", wider))) == []  # inpainting-only: no config ships for one
    sdxl = {"model.diffusion_model.input_blocks.0.0.weight": ("F16", (320, 4, 3, 3))}
    assert detect(read(write_header(tmp_path / "sdxl.safetensors", sdxl))) == []


# The tiny file: loaded offline, with and without its text encoders


@pytest.fixture(scope="module")
def tiny_files(tmp_path_factory):
    from autopipe_core.tiny import tiny_checkpoint

    folder = tiny_checkpoint("stable-diffusion-3")[0]
    root = tmp_path_factory.mktemp("sd3-files")
    return folder, {
        "all": build_tiny_file(root / "all.safetensors", folder),
        "no-t5": build_tiny_file(root / "no-t5.safetensors", folder, TEXT[:2], metadata={"modelspec.prediction_type": "v"}),
        "no-text": build_tiny_file(root / "no-text.safetensors", folder, ()),
    }


def test_the_tiny_file_loads_the_very_weights_of_the_folder(tiny_files):
    import torch
    from diffusers import StableDiffusion3Pipeline

    folder, files = tiny_files
    pipe = AutoPipelineForText2Image.from_single_file(str(files["all"]))
    ref = StableDiffusion3Pipeline.from_pretrained(folder)
    for name in ("transformer", "vae", *TEXT):
        mine, theirs = getattr(pipe, name).state_dict(), getattr(ref, name).state_dict()
        assert mine.keys() == theirs.keys() and all(torch.equal(mine[k], theirs[k]) for k in theirs), name


def test_a_file_without_t5_loads_without_it_and_runs(tiny_files):
    _, files = tiny_files
    (found,) = detect(read(files["no-t5"]))
    assert "modelspec.prediction_type = 'v', which a flow-matching model does not use (ignored)" in found.reason
    assert dict(found.scheduler) == {}
    pipe = AutoPipelineForText2Image.from_single_file(str(files["no-t5"]))
    assert pipe.text_encoder_3 is None and pipe.tokenizer_3 is None and pipe.text_encoder_2 is not None
    assert pipe("a red fox", num_inference_steps=2, output_type="np").images.shape == (1, 64, 64, 3)


def test_a_file_with_t5_and_no_t5_vocabulary_says_what_to_pass(tiny_files, tmp_path):
    import shutil

    _, files = tiny_files
    config = tmp_path / "no-vocabulary"
    shutil.copytree(FOLDERS.folder("sd3-tiny"), config)
    (config / "tokenizer_3" / "tokenizer.json").unlink()  # as the full-size folders ship it: special tokens only
    with pytest.raises(UnsupportedModelError, match="ships no T5 tokenizer.*Pass tokenizer_3=.*or text_encoder_3=None"):
        AutoPipelineForText2Image.from_single_file(str(files["all"]), config=str(config))
    pipe = AutoPipelineForText2Image.from_single_file(str(files["all"]), config=str(config), text_encoder_3=None)
    assert pipe.text_encoder_3 is None and pipe.tokenizer_3 is None


def test_a_file_without_clip_encoders_says_to_pass_them(tiny_files):
    _, files = tiny_files
    (found,) = detect(read(files["no-text"]))
    assert "the file has no text_encoder, text_encoder_2: pass text_encoder= and text_encoder_2=" in found.reason
    with pytest.raises(UnsupportedModelError, match="text_encoder"):
        AutoPipelineForText2Image.from_single_file(str(files["no-text"]))
