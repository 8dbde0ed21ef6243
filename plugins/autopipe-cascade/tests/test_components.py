"""Würstchen's model classes, which diffusers 0.42.1 cannot load by the names checkpoints give them: that it cannot
(so that this plugin's own loading of them goes when diffusers mends it), and that autopipe_cascade.components can."""

from __future__ import annotations

import json
import shutil
import sys

import pytest
import torch

from autopipe_cascade import components
from autopipe_core import AutoPipelineForText2Image, UntrustedCodeError


def _with_library(folder, dest, library):
    """A copy of the tiny decoder whose model_index.json names its Würstchen components with `library`."""
    shutil.copytree(folder, dest)
    index = json.loads((dest / "model_index.json").read_text())
    for name, entry in index.items():
        if isinstance(entry, list) and entry[1] in components.CLASSES:
            index[name] = [library, entry[1]]
    (dest / "model_index.json").write_text(json.dumps(index))
    return dest


def test_diffusers_cannot_load_a_decoder_it_saved_itself(tiny_cascade):
    """diffusers 0.42.1 saves the VQGAN as ["diffusers", "PaellaVQModel"] and then has no such class: the reason for components.py."""
    from diffusers import DiffusionPipeline, StableCascadeDecoderPipeline
    from diffusers.pipelines.deprecated.wuerstchen import PaellaVQModel

    assert json.loads((tiny_cascade / "model_index.json").read_text())["vqgan"] == ["diffusers", "PaellaVQModel"]
    with pytest.raises(ValueError, match="`diffusers` has no class `PaellaVQModel`"):
        DiffusionPipeline.from_pretrained(tiny_cascade)
    vqgan = PaellaVQModel.from_pretrained(tiny_cascade, subfolder="vqgan")
    with pytest.raises(AttributeError, match="PaellaVQModel"):  # not even with the model passed
        StableCascadeDecoderPipeline.from_pretrained(tiny_cascade, vqgan=vqgan)


def test_diffusers_cannot_load_the_names_checkpoints_saved_before_the_move(tiny_wuerstchen, tmp_path):
    from diffusers import DiffusionPipeline

    old = _with_library(tiny_wuerstchen, tmp_path / "old", "wuerstchen")
    with pytest.raises(ValueError, match="wuerstchen is not one of the libraries Diffusers can load components from"):
        DiffusionPipeline.from_pretrained(old)


def test_stranded_finds_the_wuerstchen_classes_under_either_library_and_nothing_else():
    found = components.stranded({
        "vqgan": ("wuerstchen", "PaellaVQModel"), "decoder": ("diffusers", "WuerstchenDiffNeXt"), "prior": ("diffusers", "WuerstchenPrior"),
        "unet": ("diffusers", "StableCascadeUNet"), "text_encoder": ("transformers", "CLIPTextModel"), "other": ("os", "PaellaVQModel"),
        "gone": (None, None),
    })
    assert found == {"vqgan": "PaellaVQModel", "decoder": "WuerstchenDiffNeXt", "prior": "WuerstchenPrior"}


def test_a_decoder_loads_with_its_vqgan_loaded_here_in_the_dtype_asked(tiny_cascade):
    from diffusers import DiffusionPipeline, StableCascadeDecoderPipeline
    from diffusers.pipelines.deprecated.wuerstchen import PaellaVQModel

    pipe = components.load(DiffusionPipeline, tiny_cascade, {"dtype": torch.bfloat16})
    assert type(pipe) is StableCascadeDecoderPipeline and isinstance(pipe.vqgan, PaellaVQModel)
    assert pipe.vqgan.dtype == torch.bfloat16 and pipe.decoder.dtype == torch.bfloat16
    saved = PaellaVQModel.from_pretrained(tiny_cascade, subfolder="vqgan")
    assert all(torch.equal(a.float(), b.to(torch.bfloat16).float()) for a, b in zip(pipe.vqgan.parameters(), saved.parameters()))
    assert pipe.config["vqgan"] == ("diffusers", "PaellaVQModel")
    mixed = components.load(DiffusionPipeline, tiny_cascade, {"dtype": {"default": torch.float32, "vqgan": torch.bfloat16}})
    assert mixed.vqgan.dtype == torch.bfloat16 and mixed.decoder.dtype == torch.float32


def test_a_stranded_component_passed_is_used_as_passed(tiny_cascade):
    from diffusers import StableCascadeDecoderPipeline
    from diffusers.pipelines.deprecated.wuerstchen import PaellaVQModel

    vqgan = PaellaVQModel.from_pretrained(tiny_cascade, subfolder="vqgan")
    pipe = components.load(StableCascadeDecoderPipeline, tiny_cascade, {"vqgan": vqgan})
    assert pipe.vqgan is vqgan
    assert components.load(StableCascadeDecoderPipeline, tiny_cascade, {"vqgan": None}).vqgan is None


def test_only_existing_weight_variants_are_asked_for():
    files = ("vqgan/diffusion_pytorch_model.safetensors", "decoder/diffusion_pytorch_model.bf16.safetensors")
    assert "variant" not in components.model_kwargs("vqgan", {"variant": "bf16"}, files)
    assert components.model_kwargs("decoder", {"variant": "bf16", "revision": "abc", "device_map": "cuda"}, files) == {"variant": "bf16", "revision": "abc"}
    assert components.model_kwargs("vqgan", {"variant": "bf16"}, None) == {"variant": "bf16"}  # files unknown: as asked


def test_an_old_checkpoint_loads_with_no_option_and_imports_no_module_named_wuerstchen(tiny_wuerstchen, tmp_path):
    """["wuerstchen", ...] is a library diffusers would look up in sys.modules; the families declare these three entries
    as loaded by themselves, so the guard lets them pass and this plugin loads them from its own table."""
    old = _with_library(tiny_wuerstchen, tmp_path / "old", "wuerstchen")
    _with_library(tiny_wuerstchen / "prior", old / "prior2", "wuerstchen")
    shutil.rmtree(old / "prior")
    (old / "prior2").rename(old / "prior")
    pipe = AutoPipelineForText2Image.from_pretrained(old)
    assert type(pipe).__name__ == "WuerstchenCombinedPipeline"
    assert type(pipe.decoder).__name__ == "WuerstchenDiffNeXt" and type(pipe.prior_prior).__name__ == "WuerstchenPrior"
    assert "wuerstchen" not in sys.modules
    pipe.set_progress_bar_config(disable=True)
    assert pipe("a red fox", num_inference_steps=2, prior_num_inference_steps=2, height=128, width=128).images[0].size == (128, 128)


def test_the_guard_lets_only_the_three_old_entries_pass_and_only_for_these_families(tiny_wuerstchen, tmp_path):
    """Another class under the old library, or the old entries in a checkpoint of another family, are still refused."""
    import json

    from autopipe_cascade import components
    from autopipe_cascade.plugin import OLD_ENTRIES

    assert {name for _, name in OLD_ENTRIES} == set(components.CLASSES)  # every entry let pass is one the plugin loads
    odd = _with_library(tiny_wuerstchen, tmp_path / "odd", "wuerstchen")
    index = json.loads((odd / "model_index.json").read_text())
    index["vqgan"] = ["wuerstchen", "SomethingElse"]
    (odd / "model_index.json").write_text(json.dumps(index))
    with pytest.raises(UntrustedCodeError, match=r"vqgan: \['wuerstchen', 'SomethingElse'\]"):
        AutoPipelineForText2Image.from_pretrained(odd)
