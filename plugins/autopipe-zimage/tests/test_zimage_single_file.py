"""Z-Image single files: header-only detection checked against diffusers' own, the original layout, offline loading of
transformer files (with the base from where it can be had) and of the Union ControlNets, and the shipped configs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from autopipe_core import AutoPipelineForInpainting, AutoPipelineForText2Image, UnsupportedModelError
from autopipe_core import toolkit
from autopipe_core.headers import write_header
from autopipe_core.single_file import read
from autopipe_core.testing import json_files
from autopipe_zimage import FAMILY, architectures, load_controlnet, tiny
from autopipe_zimage.layout import COMFY_PREFIX, original_shapes, original_state_dict
from autopipe_zimage.single_file import (
    AMBIGUOUS, BEFORE_PROJ, config_folder, controlnet_folder, detect, transformer_file,
)


@pytest.fixture(scope="module")
def turbo_shapes():
    """Z-Image-Turbo's transformer tensors in the original layout, with their true shapes (built on the meta device)."""
    return original_shapes(architectures.state_shapes(architectures.meta_models()["transformer"]))


@pytest.fixture(scope="module")
def controlnet_shapes():
    return {kind: architectures.state_shapes(architectures.meta_controlnet(kind)) for kind in architectures.CONTROLNETS}


def header_file(path: Path, shapes: dict, dtype: str = "BF16") -> Path:
    return write_header(path, {name: (dtype, shape) for name, shape in shapes.items()})


def diffusers_model_type(names, zero_before_proj: bool = True) -> str:
    """What diffusers' own infer_diffusers_model_type says of a checkpoint with these tensor names (values: 1-element zeros,
    but the 2.0/2.1 refiner tensor, zeros or not as asked)."""
    from diffusers.loaders.single_file_utils import infer_diffusers_model_type

    checkpoint = {name: torch.zeros(1) for name in names}
    if BEFORE_PROJ in checkpoint and not zero_before_proj:
        checkpoint[BEFORE_PROJ] = torch.ones(1)
    return infer_diffusers_model_type(checkpoint)


# The transformer


@pytest.mark.parametrize("prefix", ["", COMFY_PREFIX])
def test_the_full_size_transformer_file_is_z_image_turbo_as_diffusers_says(tmp_path, turbo_shapes, prefix):
    shapes = {prefix + k: v for k, v in turbo_shapes.items()}
    found = detect(read(header_file(tmp_path / "z_image_turbo_bf16.safetensors", shapes)))
    assert [(d.family, d.variant, d.confidence, d.pipeline_class) for d in found] == [(FAMILY, "z-image-turbo", 0.95, "diffusers:ZImagePipeline")]
    assert dict(found[0].prefixes) == {"transformer": prefix} and Path(found[0].config) == config_folder("z-image-turbo")
    assert "text_encoder, tokenizer, vae" in found[0].reason and "Tongyi-MAI/Z-Image'" in found[0].reason
    assert diffusers_model_type(shapes) == "z-image-turbo"


def test_the_original_layout_is_the_inverse_of_diffusers_converter(tiny_checkpoint):
    from diffusers.loaders.single_file_utils import convert_z_image_transformer_checkpoint_to_diffusers
    from safetensors.torch import load_file

    state = load_file(tiny_checkpoint(FAMILY) / "transformer" / "diffusion_pytorch_model.safetensors")
    for prefix in ("", COMFY_PREFIX):
        back = convert_z_image_transformer_checkpoint_to_diffusers(original_state_dict(state, prefix))
        assert back.keys() == state.keys() and all(torch.equal(back[k], state[k]) for k in state)
    assert original_shapes({k: tuple(v.shape) for k, v in state.items()}) == {k: tuple(v.shape) for k, v in original_state_dict(state).items()}


def test_omni_and_diffusers_named_transformer_files_are_not_claimed(tmp_path, tiny_checkpoint):
    from safetensors.torch import load_file

    omni = load_file(tiny_checkpoint("z-image-omni") / "transformer" / "diffusion_pytorch_model.safetensors")
    shapes = {k: tuple(v.shape) for k, v in original_state_dict(omni).items()}
    assert any(k.startswith("siglip_embedder.") for k in shapes)
    assert detect(read(header_file(tmp_path / "omni.safetensors", shapes))) == []
    plain = {k: tuple(v.shape) for k, v in omni.items() if not k.startswith("siglip")}  # diffusers' names, not the original's
    assert detect(read(header_file(tmp_path / "diffusers_named.safetensors", plain))) == []
    assert detect(read(header_file(tmp_path / "lumina.safetensors", {"cap_embedder.0.weight": (2304,), "layers.0.adaLN_modulation.1.weight": (9216, 256)}))) == []


def test_a_comfyui_checkpoint_loads_with_the_same_weights(tiny_checkpoint, tmp_path):
    folder = tiny_checkpoint(FAMILY)
    pipe = AutoPipelineForText2Image.from_single_file(str(transformer_file(folder, tmp_path / "tiny_comfy.safetensors", prefix=COMFY_PREFIX)))
    reference = AutoPipelineForText2Image.from_pretrained(folder)
    assert type(pipe).__name__ == "ZImagePipeline"
    ours, theirs = pipe.transformer.state_dict(), reference.transformer.state_dict()
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)


def test_with_every_other_component_passed_the_shipped_folder_is_the_base(tiny_checkpoint, tmp_path):
    """text_encoder=, tokenizer= and vae= passed: nothing else is needed but the shipped model_index and scheduler."""
    folder = tiny_checkpoint(FAMILY)
    reference = AutoPipelineForText2Image.from_pretrained(folder)
    path = transformer_file(folder, tmp_path / "tiny.safetensors")
    passed = {name: getattr(reference, name) for name in ("text_encoder", "tokenizer", "vae")}
    pipe = AutoPipelineForInpainting.from_single_file(str(path), **passed)
    assert type(pipe).__name__ == "ZImageInpaintPipeline" and all(getattr(pipe, n) is c for n, c in passed.items())
    assert pipe.scheduler.config.shift == tiny.SCHEDULER["shift"]


def test_a_file_whose_base_is_not_at_hand_is_refused_before_its_weights_are_read(tmp_path, turbo_shapes, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hub"))
    path = header_file(tmp_path / "z_image_turbo_bf16.safetensors", turbo_shapes)
    with pytest.raises(UnsupportedModelError) as refusal:
        AutoPipelineForText2Image.from_single_file(str(path))
    message = str(refusal.value)
    assert "Tongyi-MAI/Z-Image-Turbo" in message and "config=" in message and "text_encoder=, tokenizer=, vae=" in message


# The Union ControlNets


@pytest.mark.parametrize(
    ("kind", "pruned", "zeros", "variant", "diffusers_says"),
    [
        ("z-image-turbo-controlnet", False, True, "z-image-turbo-controlnet", "z-image-turbo-controlnet"),
        ("z-image-turbo-controlnet-2.0", True, True, "z-image-turbo-controlnet-2.0", "z-image-turbo-controlnet-2.0"),
        ("z-image-turbo-controlnet-2.1", False, True, "z-image-turbo-controlnet-2.x", "z-image-turbo-controlnet-2.0"),
        ("z-image-turbo-controlnet-2.1", False, False, "z-image-turbo-controlnet-2.x", "z-image-turbo-controlnet-2.1"),
    ],
)
def test_full_size_controlnets_are_told_apart_as_diffusers_tells_them(tmp_path, controlnet_shapes, kind, pruned, zeros, variant, diffusers_says):
    """2.0 as released keeps untrained refiner control blocks (zeros): diffusers reads their values, the header cannot, so
    such a file is named 2.x with 2.1's config, and load_controlnet decides (tested on tiny files below)."""
    shapes = {k: v for k, v in controlnet_shapes[kind].items() if not (pruned and k.startswith("control_noise_refiner."))}
    found = detect(read(header_file(tmp_path / "controlnet.safetensors", shapes)))
    assert [(d.family, d.variant, d.component, d.confidence) for d in found] == [(FAMILY, variant, "diffusers:ZImageControlNetModel", 0.95)]
    assert found[0].use and "controlnet=" in found[0].use and "load_controlnet" in found[0].use
    expected = {"z-image-turbo-controlnet-2.x": "z-image-turbo-controlnet-2.1"}.get(variant, variant)
    assert Path(found[0].config) == config_folder(expected)
    assert diffusers_model_type(shapes, zero_before_proj=zeros) == diffusers_says
    assert ("ZImageControlNetInpaintPipeline" in found[0].use) == (kind != "z-image-turbo-controlnet")


def test_lite_controlnets_are_not_claimed(tmp_path, controlnet_shapes):
    """Three control blocks: diffusers takes them for the first Union and fails on the shapes; not claimed here."""
    shapes = {k: v for k, v in controlnet_shapes["z-image-turbo-controlnet-2.1"].items() if not k.startswith("control_layers.") or int(k.split(".")[1]) < 3}
    assert detect(read(header_file(tmp_path / "lite.safetensors", shapes))) == []


def _tiny_controlnet_file(tmp_path: Path, base_config, control_in_dim, refiner, prune=False, zero_before_proj=False) -> tuple[Path, dict]:
    from safetensors.torch import save_file

    with toolkit.tiny.seeded(1):
        model = tiny.controlnet(base_config, control_in_dim, refiner)
    state = {k: v.contiguous() for k, v in model.state_dict().items() if not (prune and k.startswith("control_noise_refiner."))}
    if BEFORE_PROJ in state:  # built zero-initialised, as 2.0's untrained blocks stay; 2.1's were trained
        state[BEFORE_PROJ] = torch.zeros_like(state[BEFORE_PROJ]) if zero_before_proj else torch.randn_like(state[BEFORE_PROJ])
    path = tmp_path / f"cn-{control_in_dim}-{refiner}-{prune}-{zero_before_proj}.safetensors"
    save_file(state, str(path))
    return path, state


@pytest.mark.parametrize(
    ("control_in_dim", "refiner", "prune", "zero", "variant", "folder"),
    [
        (16, None, False, False, "tiny-controlnet", "tiny-controlnet"),
        (33, "control_layers", True, False, "tiny-controlnet-2.0", "tiny-controlnet-2.0"),
        (33, "control_noise_refiner", False, True, "tiny-controlnet-2.x", "tiny-controlnet-2.0"),
        (33, "control_noise_refiner", False, False, "tiny-controlnet-2.x", "tiny-controlnet-2.1"),
    ],
)
def test_tiny_controlnet_files_are_detected_loaded_offline_and_run(tiny_checkpoint, tmp_path, control_in_dim, refiner, prune, zero, variant, folder):
    base = AutoPipelineForText2Image.from_pretrained(tiny_checkpoint(FAMILY))
    path, state = _tiny_controlnet_file(tmp_path, base.transformer.config, control_in_dim, refiner, prune, zero)
    found = detect(read(path))
    assert [(d.variant, d.component) for d in found] == [(variant, "diffusers:ZImageControlNetModel")]
    assert controlnet_folder(path) == config_folder(folder)
    model = load_controlnet(path)
    assert model.config.add_control_noise_refiner == architectures.TINY_CONTROLNETS[folder][1]
    loaded = model.state_dict()
    assert all(torch.equal(loaded[k], state[k]) for k in loaded)  # every tensor the config keeps is the file's
    inpaint = control_in_dim == 33
    auto = AutoPipelineForInpainting if inpaint else AutoPipelineForText2Image
    pipe = auto.from_pipe(base, controlnet=model)
    pipe.set_progress_bar_config(disable=True)
    from PIL import Image

    image = Image.new("RGB", (64, 64), (90, 160, 30))
    call = {"image": image, "mask_image": Image.new("L", (64, 64), 255)} if inpaint else {}
    assert pipe(prompt="a fox", control_image=image, height=64, width=64, num_inference_steps=2, **call).images[0].size == (64, 64)


def test_a_controlnet_file_resolved_as_a_pipeline_says_how_to_use_it(tiny_checkpoint, tmp_path):
    base_config = json.loads((tiny_checkpoint(FAMILY) / "transformer" / "config.json").read_text())
    path, _ = _tiny_controlnet_file(tmp_path, base_config, 16, None)
    with pytest.raises(UnsupportedModelError, match="pass it as controlnet="):
        AutoPipelineForText2Image.from_single_file(str(path))


def test_load_controlnet_refuses_what_is_no_z_image_controlnet(tmp_path, turbo_shapes):
    with pytest.raises(UnsupportedModelError, match="not a Z-Image Union ControlNet"):
        load_controlnet(header_file(tmp_path / "transformer.safetensors", turbo_shapes))


def test_the_ambiguous_variants_name_a_2_0_folder():
    assert all(config_folder(folder).is_dir() for folder in AMBIGUOUS.values())


# The shipped configs, from published numbers


def test_the_shipped_configs_are_what_the_published_numbers_give(tmp_path):
    for name in architectures.shipped_names():
        fresh = architectures.write_config_folder(tmp_path / name, name)
        shipped = config_folder(name)
        # every file, and each the same but for the diffusers version that wrote it
        assert json_files(shipped, ignore=["_diffusers_version"]) == json_files(fresh, ignore=["_diffusers_version"]), name
