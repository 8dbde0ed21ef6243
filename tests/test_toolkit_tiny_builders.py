"""autopipe_core.toolkit.tiny's shared builders: the 8x VAE, Qwen-Image's VAE, the Qwen3 text encoder, and save (the usual
autopipe_build_tiny); their sizes, the config keys they set, and what each refuses."""

from __future__ import annotations

import json

import pytest
import torch

from autopipe_core.toolkit import tiny, tokenizers


def test_vae_8x_downsamples_eight_times_and_takes_the_familys_settings():
    with tiny.seeded(0):
        vae = tiny.vae_8x(scaling_factor=0.13025, force_upcast=False)
    assert tuple(vae.config.block_out_channels) == tiny.EIGHT_X["block_out_channels"]
    assert (vae.config.scaling_factor, vae.config.force_upcast) == (0.13025, False)
    with torch.no_grad():
        latents = vae.encode(torch.zeros(1, 3, 64, 64)).latent_dist.mean
    assert tuple(latents.shape) == (1, 4, 8, 8)
    wide = tiny.vae_8x(latent_channels=16, block_out_channels=(8, 8, 16, 32))  # the family's own levels win
    assert tuple(wide.config.block_out_channels) == (8, 8, 16, 32) and wide.config.latent_channels == 16
    with pytest.raises(ValueError, match="latents_mean has 3 numbers"):
        tiny.vae_8x(latents_mean=[0.0] * 3)


@pytest.mark.parametrize("downsamples, side", [(2, 16), (4, 4)])
def test_qwen_image_vae_downsamples_as_asked(downsamples, side):
    vae = tiny.qwen_image_vae(4, downsamples=downsamples)
    assert (vae.config.z_dim, list(vae.config.latents_mean)) == (4, [0.0] * 4)
    with torch.no_grad():
        latents = vae.encode(torch.zeros(1, 3, 1, 64, 64)).latent_dist.mean
    assert tuple(latents.shape) == (1, 4, 1, side, side)
    rgba = tiny.qwen_image_vae(8, input_channels=4)
    assert (rgba.config.input_channels, rgba.config.z_dim) == (4, 8)


@pytest.mark.parametrize("wrong", [dict(downsamples=0), dict(downsamples=5), dict(z_dim=0)])
def test_qwen_image_vae_refuses_sizes_it_cannot_build(wrong):
    with pytest.raises(ValueError):
        tiny.qwen_image_vae(**wrong)


def test_qwen3_encoder_takes_its_vocabulary_and_ids_from_the_tokenizer():
    tok = tokenizers.qwen2()
    encoder = tiny.qwen3_encoder(tok, 16, positions=512)
    assert (encoder.config.vocab_size, encoder.config.hidden_size, encoder.config.max_position_embeddings) == (len(tok), 16, 512)
    assert encoder.config.eos_token_id == tok.convert_tokens_to_ids("<|im_end|>") and not encoder.training
    out = encoder(input_ids=torch.tensor([tok("a cat")["input_ids"]])).last_hidden_state
    assert out.shape[-1] == 16
    assert tiny.qwen3_encoder(tok, num_hidden_layers=3).config.num_hidden_layers == 3
    with pytest.raises(AttributeError):
        tiny.qwen3_encoder(None)  # no tokenizer: nothing gives the vocabulary or the ids


def test_save_writes_the_pipeline_and_refuses_a_variant_before_building(tmp_path):
    built = []

    class Pipe:
        def save_pretrained(self, path):
            (tmp_path / path).mkdir()
            (tmp_path / path / "model_index.json").write_text(json.dumps({"_class_name": "P"}))

    def pipeline(family, seed):
        built.append((family, seed))
        return Pipe()

    assert tiny.save(pipeline, "fam", str(tmp_path / "out"), None, 3) == tmp_path / "out"
    assert built == [("fam", 3)]
    with pytest.raises(ValueError, match="fam has no tiny variant 'inpainting'"):
        tiny.save(pipeline, "fam", tmp_path / "other", "inpainting", 0)
    assert built == [("fam", 3)] and not (tmp_path / "other").exists()
    tiny.save(pipeline, "fam", tmp_path / "x", "base", 1, known=(None, "base"))
    assert built[-1] == ("fam", 1)


def test_unbuildable_says_why_a_component_cannot_be_built_and_none_when_it_can():
    assert tiny.unbuildable(lambda: object(), "Thing") is None

    def fails():
        raise ImportError("\nQwen3VLVideoProcessor requires the Torchvision library\nsecond line")

    said = tiny.unbuildable(fails, "Qwen3VLProcessor", "the processor's video half")
    assert said == (
        "transformers cannot build a Qwen3VLProcessor here (ImportError: Qwen3VLVideoProcessor requires the Torchvision library): "
        "with transformers 5 the processor's video half needs torchvision, which this environment lacks"
    )

    def interrupted():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # not an Exception: not swallowed
        tiny.unbuildable(interrupted, "Thing")


def test_cannot_build_is_a_typed_error_the_core_passes_on_with_what_to_install():
    from autopipe_core import UnsupportedModelError

    error = tiny.cannot_build("fam", "transformers cannot build a Thing here (...)")
    assert type(error) is UnsupportedModelError
    assert str(error) == (
        "cannot build the tiny fam checkpoint: transformers cannot build a Thing here (...). "
        "Install the torchvision release that matches your torch (from the same index as torch) to build it"
    )


def test_qwen2_takes_more_special_tokens_and_a_chat_template():
    template = "{% for m in messages %}<|im_start|>{{ m['content'] }}<|im_end|>{% endfor %}"
    tok = tokenizers.qwen2(specials=("<think>", "</think>"), chat_template=template)
    assert len(tok) == len(tokenizers.qwen2()) + 2
    assert tok("<think>a")["input_ids"][0] == tok.convert_tokens_to_ids("<think>")  # one token, not its bytes
    assert tok.apply_chat_template([{"role": "user", "content": "a"}], tokenize=False) == "<|im_start|>a<|im_end|>"
    with pytest.raises(ValueError, match="specials with its default vocabulary only"):
        tokenizers.qwen2(tokenizers.byte_level(tokenizers.QWEN2_SPECIALS), [], specials=("<think>",))
