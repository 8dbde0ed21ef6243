"""Tiny random-weight Kandinsky 2.2 and 2.1 checkpoints, built offline in a few seconds.

``build("kandinsky22", path)`` writes a decoder folder (KandinskyV22Pipeline:
an image-embedding-conditioned UNet, a MoVQ VQModel, DDPMScheduler) with a
prior folder beside its components, ``path/prior`` (KandinskyV22PriorPipeline:
PriorTransformer, CLIP text and vision encoders with projection, the
toolkit's CLIP tokenizer over characters, UnCLIPScheduler, CLIPImageProcessor), and a
README.md whose model card names the prior by the relative path ``prior``:
``path`` is a normal decoder folder whose card names its prior, as
kandinsky-community/kandinsky-2-2-decoder's names kandinsky-community/kandinsky-2-2-prior.
Variant "inpainting-only" is the same with the inpainting decoder
(KandinskyV22InpaintPipeline, a 9-channel UNet).

Shapes follow diffusers' own Kandinsky 2.2 test components, shrunk: a 64x64
call works on 32x32 latents (the MoVQ halves), and a 2-step call of the
combined pipeline takes a few tenths of a second on a CPU.

``build("kandinsky", path)`` does the same for Kandinsky 2.1: its decoder
(KandinskyPipeline / KandinskyInpaintPipeline) also reads the prompt, through
a MultilingualCLIP text encoder (XLM-RoBERTa) and the toolkit's XLM-RoBERTa
Unigram tokenizer over characters; its prior is a KandinskyPriorPipeline.
"""

from __future__ import annotations

from pathlib import Path

from autopipe_core import toolkit

from . import INPAINTING, KANDINSKY21, KANDINSKY22, TEXT_DECODER

EMBED = 32  # CLIP projection width = prior embedding = UNet encoder_hid_dim (ViT-bigG/14: 1280)
IMAGE_SIZE = 32  # the tiny CLIP vision encoder's input (ViT-bigG/14: 224)
PRIOR_FOLDER = "prior"
VARIANT_NAMES = (None, TEXT_DECODER.name, INPAINTING.name)


def model_card(prior: str, family: str = KANDINSKY22) -> str:
    """A README.md whose YAML front matter names the prior, as diffusers reads it (key "prior", a list)."""
    version = "2.2" if family == KANDINSKY22 else "2.1"
    return f"---\nprior:\n- {prior}\ntags:\n- kandinsky\n---\n\nA tiny random-weight Kandinsky {version} decoder for tests; its prior is in `{prior}/`.\n"


def mclip_text_encoder(vocab_size: int):
    """Kandinsky 2.1's MultilingualCLIP, shrunk: XLM-RoBERTa states (for the UNet) and a pooled projection."""
    from diffusers.pipelines.kandinsky.text_encoder import MCLIPConfig, MultilingualCLIP

    config = MCLIPConfig(
        transformerDimSize=EMBED, imageDimSize=EMBED, vocab_size=vocab_size, hidden_size=EMBED, intermediate_size=37,
        num_attention_heads=4, num_hidden_layers=2, max_position_embeddings=80, pad_token_id=1, bos_token_id=0, eos_token_id=2,
    )
    return MultilingualCLIP(config)


def prior_pipeline(family: str = KANDINSKY22):
    import torch
    from diffusers import KandinskyPriorPipeline, KandinskyV22PriorPipeline, PriorTransformer, UnCLIPScheduler
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    tokenizer = toolkit.tokenizers.clip_characters()
    text_encoder = toolkit.tiny.clip_text_encoder(
        len(tokenizer), EMBED, projection_dim=EMBED, intermediate_size=37,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    image_encoder = CLIPVisionModelWithProjection(
        CLIPVisionConfig(
            hidden_size=EMBED, projection_dim=EMBED, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2,
            image_size=IMAGE_SIZE, patch_size=8, num_channels=3,
        )
    )
    prior = PriorTransformer(num_attention_heads=2, attention_head_dim=12, embedding_dim=EMBED, num_layers=1)
    # The real prior's clip_std is learned; zeros (the initial value) would collapse every embedding to clip_mean.
    prior.clip_std = torch.nn.Parameter(torch.ones(prior.clip_std.shape))
    scheduler = UnCLIPScheduler(
        variance_type="fixed_small_log", prediction_type="sample", num_train_timesteps=1000, clip_sample=True, clip_sample_range=10.0
    )
    image_processor = CLIPImageProcessor(
        crop_size=IMAGE_SIZE, size=IMAGE_SIZE, do_center_crop=True, do_normalize=True, do_resize=True, resample=3,
        image_mean=[0.48145466, 0.4578275, 0.40821073], image_std=[0.26862954, 0.26130258, 0.27577711],
    )
    prior_class = KandinskyV22PriorPipeline if family == KANDINSKY22 else KandinskyPriorPipeline
    return prior_class(
        prior=prior, image_encoder=image_encoder, text_encoder=text_encoder, tokenizer=tokenizer,
        scheduler=scheduler, image_processor=image_processor,
    )


def unet(in_channels: int, family: str = KANDINSKY22):
    """The decoder UNet, shrunk: 2.2's is conditioned on the image embedding alone, 2.1's on text and image; learned variance out."""
    from diffusers import UNet2DConditionModel

    text = family == KANDINSKY21
    return UNet2DConditionModel(
        sample_size=32,
        in_channels=in_channels,
        out_channels=8,  # 4 latent channels of noise + 4 of learned variance range
        addition_embed_type="text_image" if text else "image",
        down_block_types=("ResnetDownsampleBlock2D", "SimpleCrossAttnDownBlock2D"),
        up_block_types=("SimpleCrossAttnUpBlock2D", "ResnetUpsampleBlock2D"),
        mid_block_type="UNetMidBlock2DSimpleCrossAttn",
        block_out_channels=(32, 64),
        layers_per_block=1,
        encoder_hid_dim=EMBED,
        encoder_hid_dim_type="text_image_proj" if text else "image_proj",
        cross_attention_dim=32,
        attention_head_dim=4,
        resnet_time_scale_shift="scale_shift",
        class_embed_type=None,
    )


def movq():
    from diffusers import VQModel

    return VQModel(
        block_out_channels=[32, 64],
        down_block_types=["DownEncoderBlock2D", "AttnDownEncoderBlock2D"],
        in_channels=3,
        latent_channels=4,
        layers_per_block=1,
        norm_num_groups=8,
        norm_type="spatial",
        num_vq_embeddings=12,
        out_channels=3,
        up_block_types=["AttnUpDecoderBlock2D", "UpDecoderBlock2D"],
        vq_embed_dim=4,
    )


def scheduler():
    """The decoder's DDPMScheduler, configured as kandinsky-community/kandinsky-2-2-decoder's."""
    from diffusers import DDPMScheduler

    return DDPMScheduler(
        num_train_timesteps=1000, beta_schedule="linear", beta_start=0.00085, beta_end=0.012, clip_sample=False,
        steps_offset=1, prediction_type="epsilon", thresholding=False,
    )


def build(family: str, path: Path, variant: str | None = None, seed: int = 0) -> Path:
    """Save a tiny Kandinsky decoder to `path`, its prior to `path/prior`, and a model card naming it."""
    if family not in (KANDINSKY21, KANDINSKY22):
        raise ValueError(f"autopipe-kandinsky has no family {family!r}")
    if variant not in VARIANT_NAMES:
        raise toolkit.tiny.unknown_variant(family, variant, VARIANT_NAMES)
    from diffusers import KandinskyInpaintPipeline, KandinskyPipeline, KandinskyV22InpaintPipeline, KandinskyV22Pipeline

    path = Path(path)
    inpainting = variant == INPAINTING.name
    channels = 9 if inpainting else 4
    with toolkit.tiny.seeded(seed):
        prior_pipeline(family).save_pretrained(path / PRIOR_FOLDER)
        if family == KANDINSKY22:
            decoder_class = KandinskyV22InpaintPipeline if inpainting else KandinskyV22Pipeline
            decoder = decoder_class(unet=unet(channels), scheduler=scheduler(), movq=movq())
        else:
            decoder_class = KandinskyInpaintPipeline if inpainting else KandinskyPipeline
            tokenizer = toolkit.tokenizers.xlm_roberta(model_max_length=77)
            decoder = decoder_class(
                text_encoder=mclip_text_encoder(len(tokenizer)), tokenizer=tokenizer, unet=unet(channels, family),
                scheduler=scheduler(), movq=movq(),
            )
    decoder.save_pretrained(path)
    (path / "README.md").write_text(model_card(PRIOR_FOLDER, family))
    return path
