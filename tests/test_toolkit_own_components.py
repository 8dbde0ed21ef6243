"""autopipe_core.toolkit.own_components: a component whose model_index.json entry names a library diffusers cannot
resolve, loaded by the family from a table of its own, on the tiny SD with its VAE entry rewritten to a made-up library
that exists on sys.path and records being imported; no plugin code needed."""

from __future__ import annotations

import json
import sys

import pytest
import torch

from autopipe_core.toolkit import own_components

FAKE = "autopipe_own_components_probe"
CLASSES = {(FAKE, "AutoencoderKL"): "diffusers:AutoencoderKL"}
SMALL = dict(num_inference_steps=2, height=64, width=64, output_type="np")


@pytest.fixture
def probe(tmp_path, monkeypatch):
    """A module named FAKE on sys.path, with an AutoencoderKL, that writes `trace` when imported; yields the trace."""
    trace = tmp_path / "trace"
    site = tmp_path / "site"
    site.mkdir()
    (site / f"{FAKE}.py").write_text(f"open({str(trace)!r}, 'w').write('imported')\nclass AutoencoderKL: pass\n")
    monkeypatch.syspath_prepend(str(site))
    sys.modules.pop(FAKE, None)
    yield trace
    sys.modules.pop(FAKE, None)


def _with_entries(src, dest, **entries):
    """The tiny checkpoint, component folders linked, with model_index.json entries replaced."""
    dest.mkdir()
    for item in src.iterdir():
        if item.name != "model_index.json":
            (dest / item.name).symlink_to(item, target_is_directory=item.is_dir())
    index = json.loads((src / "model_index.json").read_text())
    index.update(entries)
    (dest / "model_index.json").write_text(json.dumps(index))
    return dest


@pytest.fixture
def stranded_sd(tiny_sd, tmp_path):
    return _with_entries(tiny_sd, tmp_path / "sd", vae=[FAKE, "AutoencoderKL"])


def test_diffusers_cannot_load_the_entry_itself(stranded_sd, probe):
    """Why the module exists: diffusers 0.42.1 resolves the library by name, and finds none it may load from."""
    from diffusers import DiffusionPipeline

    with pytest.raises(ValueError, match=f"{FAKE} is not one of the libraries Diffusers can load components from"):
        DiffusionPipeline.from_pretrained(stranded_sd)
    assert not probe.exists()


def test_the_entry_loads_as_the_tables_class_and_the_fake_library_is_never_imported(tiny_sd, stranded_sd, probe):
    from diffusers import AutoencoderKL, DiffusionPipeline, StableDiffusionPipeline

    pipe = own_components.load(CLASSES, DiffusionPipeline, stranded_sd, {})
    assert type(pipe) is StableDiffusionPipeline and type(pipe.vae) is AutoencoderKL
    saved = AutoencoderKL.from_pretrained(tiny_sd, subfolder="vae")
    assert all(torch.equal(a, b) for a, b in zip(pipe.vae.state_dict().values(), saved.state_dict().values()))
    assert pipe.config["vae"] == ("diffusers", "AutoencoderKL") and str(pipe.config["_name_or_path"]) == str(stranded_sd)
    # built with the real VAE, not the None diffusers was handed: the tiny VAE halves the image once, not 8 times
    assert pipe.vae_scale_factor == StableDiffusionPipeline.from_pretrained(tiny_sd).vae_scale_factor == 2
    assert pipe.config["requires_safety_checker"] is False  # the model_index.json's own setting kept
    pipe.set_progress_bar_config(disable=True)
    assert pipe("a red fox", **SMALL).images.shape == (1, 64, 64, 3)
    assert not probe.exists() and FAKE not in sys.modules


def test_dtype_and_a_passed_component(tiny_sd, stranded_sd, probe):
    from diffusers import AutoencoderKL, StableDiffusionPipeline

    half = own_components.load(CLASSES, StableDiffusionPipeline, stranded_sd, {"dtype": {"default": torch.float32, "vae": torch.bfloat16}})
    assert half.vae.dtype == torch.bfloat16 and half.unet.dtype == torch.float32
    vae = AutoencoderKL.from_pretrained(tiny_sd, subfolder="vae")
    assert own_components.load(CLASSES, StableDiffusionPipeline, stranded_sd, {"vae": vae}).vae is vae
    assert own_components.load(CLASSES, StableDiffusionPipeline, stranded_sd, {"vae": None}).vae is None
    assert not probe.exists()


def test_a_checkpoint_without_the_entry_is_left_to_diffusers(tiny_sd):
    from diffusers import StableDiffusionPipeline

    assert own_components.from_pretrained(CLASSES, StableDiffusionPipeline, tiny_sd, {}) is None
    assert type(own_components.load(CLASSES, StableDiffusionPipeline, tiny_sd, {}).vae).__name__ == "AutoencoderKL"
    load = own_components.loader(CLASSES)
    assert type(load(StableDiffusionPipeline, tiny_sd, {})) is StableDiffusionPipeline


def test_another_class_under_the_library_is_not_loaded_here(tiny_sd, tmp_path, probe):
    """Only the table's (library, class) pairs: the same library with another class goes to diffusers, which refuses it
    (the core's guard refuses it first: it is not in the family's loads_itself)."""
    from diffusers import StableDiffusionPipeline

    other = _with_entries(tiny_sd, tmp_path / "other", vae=[FAKE, "OtherVAE"])
    with pytest.raises(ValueError, match=f"{FAKE} is not one of the libraries"):
        own_components.load(CLASSES, StableDiffusionPipeline, other, {})
    assert not probe.exists()


def test_stranded_finds_exactly_the_tables_entries():
    components = {"vae": (FAKE, "AutoencoderKL"), "unet": ("diffusers", "UNet2DConditionModel"),
                  "odd": ("os", "AutoencoderKL"), "none": (None, None)}
    assert own_components.stranded(components, CLASSES) == {"vae": "diffusers:AutoencoderKL"}


@pytest.mark.parametrize("bad", [{("lib",): "m:C"}, {("lib", 5): "m:C"}, {("lib", "C"): "m.C"}, {("lib", "C"): None}])
def test_a_malformed_table_is_a_value_error(bad):
    with pytest.raises(ValueError, match="own_components"):
        own_components.loader(bad)


def test_only_existing_weight_variants_and_file_options_are_passed_on():
    files = ("vae/diffusion_pytorch_model.safetensors", "unet/diffusion_pytorch_model.fp16.safetensors")
    assert own_components.model_kwargs("vae", {"variant": "fp16"}, files) == {}
    assert own_components.model_kwargs("unet", {"variant": "fp16", "revision": "abc", "device_map": "cuda", "dtype": torch.float16}, files) == {
        "variant": "fp16", "revision": "abc", "dtype": torch.float16}
    assert own_components.model_kwargs("vae", {"variant": "fp16", "torch_dtype": torch.float16}, None) == {"variant": "fp16", "dtype": torch.float16}


def test_importing_the_module_imports_no_torch_diffusers_or_transformers():
    import subprocess

    code = ("import sys; from autopipe_core.toolkit import own_components; "
            "print(sorted(m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"
