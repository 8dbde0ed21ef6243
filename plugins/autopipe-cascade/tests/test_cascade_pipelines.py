"""End to end on the tiny Stable Cascade and Würstchen checkpoints: the prior found through the card, prior components
passed, from_pipe between combined and decoder-only pipelines, and the errors that say what to pass."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

import autopipe_cascade.plugin as cascade
from autopipe_core import AutoPipelineForImage2Image, AutoPipelineForText2Image, UnsupportedModelError, UnsupportedTaskError

#: A short call of a combined pipeline: 2 steps of each stage, at 128x128 (the prior on 3x3 latents, the decoder on 32x32).
FAST = {"num_inference_steps": 2, "prior_num_inference_steps": 2, "height": 128, "width": 128}

COMBINED_COMPONENTS = {
    cascade.CASCADE: ("decoder", "vqgan", "text_encoder", "tokenizer", "scheduler", *(f"prior_{c}" for c in cascade.PRIOR_COMPONENTS[cascade.CASCADE])),
    cascade.WUERSTCHEN: ("decoder", "vqgan", "text_encoder", "tokenizer", "scheduler", *(f"prior_{c}" for c in cascade.PRIOR_COMPONENTS[cascade.WUERSTCHEN])),
}


def check_image(images, side=128):
    assert images.shape == (1, side, side, 3)
    assert np.isfinite(images).all() and images.min() >= 0 and images.max() <= 1


def decoder_without_card(folder, where):
    copy = where / "decoder"
    shutil.copytree(folder, copy, ignore=shutil.ignore_patterns("prior", "README.md"))
    assert not (copy / "README.md").exists() and not (copy / "prior").exists()
    return copy


@pytest.fixture(scope="module")
def prior_pipes(tiny_cascade, tiny_wuerstchen):
    from diffusers import DiffusionPipeline

    from autopipe_cascade.components import load

    return {cascade.CASCADE: load(DiffusionPipeline, tiny_cascade / "prior", {}), cascade.WUERSTCHEN: load(DiffusionPipeline, tiny_wuerstchen / "prior", {})}


@pytest.mark.parametrize("family", cascade.FAMILIES)
def test_text2img_from_a_decoder_folder_in_another_directory(family, tiny_checkpoint, tmp_path, monkeypatch):
    folder = tiny_checkpoint(family)
    monkeypatch.chdir(tmp_path)  # the card says "prior": relative to the decoder folder, not to the working directory
    pipe = AutoPipelineForText2Image.from_pretrained(str(folder))
    assert type(pipe).__name__ == cascade.COMBINED[family].split(":")[1]
    assert all(pipe.components[c] is not None for c in COMBINED_COMPONENTS[family]), {c: type(pipe.components[c]) for c in COMBINED_COMPONENTS[family]}
    assert pipe.config["_name_or_path"] == str(folder)
    pipe.set_progress_bar_config(disable=True)
    check_image(pipe("a red cat", generator=torch.Generator().manual_seed(0), output_type="np", **FAST).images)


def test_the_combined_pipeline_runs_the_prior_loaded_from_the_card(tiny_cascade, prior_pipes):
    pipe = AutoPipelineForText2Image.from_pretrained(tiny_cascade)
    prior = prior_pipes[cascade.CASCADE]
    for name in ("prior", "text_encoder", "image_encoder"):
        mine, theirs = getattr(pipe, f"prior_{name}"), getattr(prior, name)
        assert mine is not theirs and all(torch.equal(a, b) for a, b in zip(mine.parameters(), theirs.parameters())), name
    # the prior's text encoder is its own checkpoint's, not the decoder's
    assert not torch.equal(next(pipe.prior_text_encoder.parameters()), next(pipe.text_encoder.parameters()))


def test_stable_cascade_conditions_on_images_through_its_priors_image_encoder(tiny_cascade):
    """What its img2img refusal points at: images= reaches the prior's CLIP image encoder and changes the picture."""
    from PIL import Image

    pipe = AutoPipelineForText2Image.from_pretrained(tiny_cascade)
    pipe.set_progress_bar_config(disable=True)
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    plain = pipe("a red cat", generator=torch.Generator().manual_seed(0), output_type="np", **FAST).images
    guided = pipe("a red cat", images=[image], generator=torch.Generator().manual_seed(0), output_type="np", **FAST).images
    check_image(guided)
    assert not np.allclose(plain, guided)


@pytest.mark.parametrize("family", cascade.FAMILIES)
def test_prior_components_passed_are_used_and_the_required_ones_need_no_card(family, tiny_checkpoint, prior_pipes, tmp_path):
    folder = decoder_without_card(tiny_checkpoint(family), tmp_path)
    prior = prior_pipes[family]
    required = {f"prior_{n}": c for n, c in prior.components.items() if n not in ("feature_extractor", "image_encoder")}
    pipe = AutoPipelineForText2Image.from_pretrained(folder, **required)
    for name, component in required.items():
        assert getattr(pipe, name) is component
    if family == cascade.CASCADE:  # optional in StableCascadeCombinedPipeline: left None, not read from a card
        assert pipe.prior_image_encoder is None and pipe.prior_feature_extractor is None
    pipe.set_progress_bar_config(disable=True)
    check_image(pipe("a red cat", output_type="np", **FAST).images)


@pytest.mark.parametrize("family", cascade.FAMILIES)
def test_no_card_and_no_prior_says_what_to_pass(family, tiny_checkpoint, tmp_path):
    folder = decoder_without_card(tiny_checkpoint(family), tmp_path)
    with pytest.raises(UnsupportedModelError) as err:
        AutoPipelineForText2Image.from_pretrained(folder)
    message = str(err.value)
    assert f"is a {cascade.TITLE[family]} decoder" in message and "README.md names none" in message
    assert f"prior: [{cascade.PRIOR_REPO[family]}]" in message and "prior_prior=, prior_text_encoder=" in message


def test_one_prior_component_passed_the_rest_from_the_card(tiny_wuerstchen, prior_pipes):
    prior = prior_pipes[cascade.WUERSTCHEN]
    pipe = AutoPipelineForText2Image.from_pretrained(tiny_wuerstchen, prior_prior=prior.prior)
    assert pipe.prior_prior is prior.prior
    assert pipe.prior_text_encoder is not None and pipe.prior_text_encoder is not prior.text_encoder


def test_a_stage_passed_as_decoder_replaces_the_folders_own(tiny_cascade):
    from diffusers import StableCascadeUNet

    decoder = StableCascadeUNet.from_pretrained(tiny_cascade, subfolder="decoder")
    pipe = AutoPipelineForText2Image.from_pretrained(tiny_cascade, decoder=decoder)
    assert pipe.decoder is decoder and pipe.prior_prior is not None


@pytest.mark.parametrize("family", cascade.FAMILIES)
def test_from_pipe_of_the_combined_pipeline_keeps_the_objects_and_refuses_img2img(family, tiny_checkpoint):
    combined = AutoPipelineForText2Image.from_pretrained(tiny_checkpoint(family))
    same = AutoPipelineForText2Image.from_pipe(combined)
    assert type(same) is type(combined)
    for name in COMBINED_COMPONENTS[family]:
        assert getattr(same, name) is getattr(combined, name), name
    assert dict(same.config) == dict(combined.config)
    with pytest.raises(UnsupportedTaskError, match=f"{family} has no img2img pipeline"):
        AutoPipelineForImage2Image.from_pipe(combined)


@pytest.mark.parametrize("family", cascade.FAMILIES)
def test_from_pipe_of_a_live_decoder_only_pipeline_stays_decoder_only(family, tiny_checkpoint):
    from autopipe_cascade.components import load
    from autopipe_core.specs import import_class

    decoder_class = import_class(cascade.DECODER_ONLY[family])
    decoder = load(decoder_class, tiny_checkpoint(family), {})
    same = AutoPipelineForText2Image.from_pipe(decoder)
    assert type(same) is decoder_class and same.decoder is decoder.decoder and same.vqgan is decoder.vqgan
    with pytest.raises(UnsupportedTaskError, match=f"{family} \\+ decoder has no img2img pipeline"):
        AutoPipelineForImage2Image.from_pipe(decoder)
    # a decoder-only pipeline takes the prior's output: fed a made-up embedding, it draws
    side = 3  # the prior's latent side for 128x128 (resolution_multiple 42.67)
    embeddings = torch.randn(1, 16, side, side, generator=torch.Generator().manual_seed(0))
    same.set_progress_bar_config(disable=True)
    out = same(image_embeddings=embeddings, prompt="a red cat", num_inference_steps=2, output_type="np").images
    assert out.shape[1:] == (128, 128, 3) and np.isfinite(out).all()


def _in_hub_cache(cache, repo, src, commit, card=None, skip=()):
    """`src` as huggingface_hub's cache holds a snapshot of `repo` at `commit`: what an offline load reads."""
    base = cache / ("models--" + repo.replace("/", "--"))
    snapshot = base / "snapshots" / commit
    shutil.copytree(src, snapshot, ignore=shutil.ignore_patterns("README.md", *skip))
    if card is not None:
        (snapshot / "README.md").write_text(card)
    (base / "refs").mkdir(parents=True)
    (base / "refs" / "main").write_text(commit)


@pytest.mark.parametrize("family", cascade.FAMILIES)
def test_a_hub_decoder_loads_with_the_prior_its_card_names_from_the_hub_cache(family, tiny_checkpoint, tmp_path):
    """No step is left to diffusers' own combined loading, which cannot load Würstchen's models: the card is read through
    the hub cache, the prior repo it names checked and loaded, the decoder's stranded models loaded by this plugin."""
    folder, cache = tiny_checkpoint(family), tmp_path / "hub"
    card = f"---\nprior:\n- someone/{family}-prior\n---\n"
    _in_hub_cache(cache, f"someone/{family}", folder, "1" * 40, card, skip=("prior",))
    _in_hub_cache(cache, f"someone/{family}-prior", folder / "prior", "2" * 40)
    pipe = AutoPipelineForText2Image.from_pretrained(f"someone/{family}", cache_dir=str(cache))
    assert type(pipe).__name__ == cascade.COMBINED[family].split(":")[1]
    assert all(pipe.components[c] is not None for c in COMBINED_COMPONENTS[family])
    pipe.set_progress_bar_config(disable=True)
    check_image(pipe("a red cat", output_type="np", **FAST).images)
