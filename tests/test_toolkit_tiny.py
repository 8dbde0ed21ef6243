"""autopipe_core.toolkit.tiny: the tiny components have the sizes and config keys they say, seeding repeats, and pipelines built of them run."""

from __future__ import annotations

import pytest
import torch

from autopipe_core import toolkit
from autopipe_core.toolkit import tiny


def _params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def _same(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_seeded_gives_the_same_weights_for_the_same_seed_and_hands_the_generator_back():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    with tiny.seeded(0):
        first = tiny.unet()
    assert torch.equal(torch.rand(3), expected)  # the caller's draws are as if nothing had been built
    with tiny.seeded(0):
        again = tiny.unet()
    with tiny.seeded(1):
        other = tiny.unet()
    assert _same(first, again) and not _same(first, other)


@pytest.mark.parametrize(
    "known, says",
    [
        ((None,), "if has no tiny variant 'stage-ii'; it builds only its ordinary checkpoint (variant None)"),
        ((None, "inpainting-only"), "if has no tiny variant 'stage-ii'; choose None or 'inpainting-only'"),
        ((None, "refiner", "inpainting-only"), "if has no tiny variant 'stage-ii'; choose one of None, 'refiner', 'inpainting-only'"),
    ],
)
def test_unknown_variant_is_the_valueerror_that_names_what_is_built(known, says):
    error = tiny.unknown_variant("if", "stage-ii", known)
    assert type(error) is ValueError and str(error) == says


def test_the_unet_has_the_tiny_sd_layout_and_takes_sdxls_addition_embedding():
    unet = tiny.unet()
    c = unet.config
    assert (c.in_channels, c.out_channels, c.sample_size, tuple(c.block_out_channels), c.layers_per_block, c.norm_num_groups) == (4, 4, 32, (16, 32), 1, 8)
    assert (c.cross_attention_dim, c.addition_embed_type, c.time_cond_proj_dim) == (32, None, None)
    assert _params(unet) < 300_000
    assert tiny.unet(in_channels=9, time_cond_proj_dim=32).config.in_channels == 9  # overrides go to the constructor
    xl = tiny.unet(9, 80, addition_time_embed_dim=256, projection_class_embeddings_input_dim=1280 + 6 * 256)  # SDXL's 2816
    assert (xl.config.in_channels, xl.config.cross_attention_dim, xl.config.addition_embed_type) == (9, 80, "text_time")
    assert (xl.config.addition_time_embed_dim, xl.config.projection_class_embeddings_input_dim) == (256, 2816)
    with pytest.raises(ValueError, match="both"):
        tiny.unet(addition_time_embed_dim=256)


def test_the_vae_halves_64_pixels_to_32_latents_and_keeps_its_stated_config():
    vae = tiny.vae()
    with torch.no_grad():
        latents = vae.encode(torch.zeros(1, 3, 64, 64)).latent_dist.mode()
    assert latents.shape == (1, 4, 32, 32) and _params(vae) < 200_000
    assert (vae.config.scaling_factor, vae.config.force_upcast, vae.config.latents_mean) == (0.18215, True, None)
    xl = tiny.vae(scaling_factor=0.13025, force_upcast=False, latents_mean=[0, 0, 0, 0], latents_std=[1, 1, 1, 1])
    assert (xl.config.scaling_factor, xl.config.force_upcast, xl.config.latents_mean, xl.config.latents_std) == (0.13025, False, [0.0] * 4, [1.0] * 4)
    with pytest.raises(ValueError, match="latents_std has 3 numbers; the VAE has 4 latent channels"):
        tiny.vae(latents_std=[1, 1, 1])


def test_the_text_encoders_take_the_tokenizers_vocabulary():
    from transformers import CLIPTextModel, CLIPTextModelWithProjection, T5EncoderModel

    tok = toolkit.tokenizers.clip_characters()
    plain = tiny.clip_text_encoder(len(tok))
    assert type(plain) is CLIPTextModel and plain.config.vocab_size == 138 and plain.config.hidden_size == 32
    second = tiny.clip_text_encoder(len(tok), 48, projection_dim=1280, hidden_act="gelu")
    assert type(second) is CLIPTextModelWithProjection and second.config.projection_dim == 1280 and second.config.hidden_act == "gelu"
    with torch.no_grad():
        out = second(torch.tensor([tok(["a cat"], padding="max_length", max_length=77).input_ids[0]]))
    assert out.text_embeds.shape == (1, 1280) and out.last_hidden_state.shape == (1, 77, 48)
    t5_tok = toolkit.tokenizers.t5()
    t5 = tiny.t5_encoder(len(t5_tok))
    assert type(t5) is T5EncoderModel and (t5.config.vocab_size, t5.config.d_model, t5.config.feed_forward_proj) == (192, 32, "gated-gelu")
    with torch.no_grad():
        assert t5(torch.tensor([t5_tok("a cat").input_ids])).last_hidden_state.shape[-1] == 32


def test_the_scheduler_is_on_sds_noise_schedule():
    pndm = tiny.scheduler("PNDMScheduler", skip_prk_steps=True)
    assert type(pndm).__name__ == "PNDMScheduler" and pndm.config.skip_prk_steps
    assert {k: pndm.config[k] for k in tiny.SD_SCHEDULE} == tiny.SD_SCHEDULE
    from diffusers import EulerDiscreteScheduler

    euler = tiny.scheduler(EulerDiscreteScheduler, timestep_spacing="leading", beta_end=0.02)
    assert (euler.config.timestep_spacing, euler.config.beta_end, euler.config.beta_schedule) == ("leading", 0.02, "scaled_linear")
    with pytest.raises(ValueError, match="NoSuchScheduler"):
        tiny.scheduler("NoSuchScheduler")


def test_an_sd_pipeline_of_the_parts_draws_64x64_in_two_steps():
    from diffusers import StableDiffusionPipeline

    with tiny.seeded(0):
        tok = toolkit.tokenizers.clip_characters()
        parts = dict(unet=tiny.unet(), vae=tiny.vae(), text_encoder=tiny.clip_text_encoder(len(tok)), tokenizer=tok)
    pipe = StableDiffusionPipeline(**parts, scheduler=tiny.scheduler(skip_prk_steps=True), safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    assert sum(_params(m) for m in (pipe.unet, pipe.vae, pipe.text_encoder)) < 500_000  # what keeps the call well under a second
    image = pipe("a cat", num_inference_steps=2, height=64, width=64, generator=torch.Generator().manual_seed(0)).images[0]
    assert image.size == (64, 64)


def test_an_sdxl_pipeline_of_the_parts_runs():
    from diffusers import StableDiffusionXLPipeline

    with tiny.seeded(0):
        tok, tok_2 = toolkit.tokenizers.clip_characters(), toolkit.tokenizers.clip_characters(pad_token="!")
        pipe = StableDiffusionXLPipeline(
            unet=tiny.unet(cross_attention_dim=32 + 48, addition_time_embed_dim=8, projection_class_embeddings_input_dim=48 + 6 * 8),
            vae=tiny.vae(scaling_factor=0.13025),
            text_encoder=tiny.clip_text_encoder(len(tok)), tokenizer=tok,
            text_encoder_2=tiny.clip_text_encoder(len(tok_2), 48, projection_dim=48), tokenizer_2=tok_2,
            scheduler=tiny.scheduler("EulerDiscreteScheduler", timestep_spacing="leading"),
        )
    pipe.set_progress_bar_config(disable=True)
    assert pipe("a cat", num_inference_steps=2, height=64, width=64).images[0].size == (64, 64)
