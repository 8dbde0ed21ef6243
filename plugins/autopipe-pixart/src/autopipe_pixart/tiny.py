"""Tiny random-weight PixArt-α, PixArt-Σ, Sana and Sana Sprint checkpoints, built offline in well under a second each.

Each has its family's architecture at a size where a 2-step call takes a
fraction of a second on one CPU core:

- PixArt-α and PixArt-Σ: a T5 encoder (gated-GELU, as T5-v1.1-XXL) with the
  toolkit's Unigram T5 tokenizer, a PixArtTransformer2DModel (patch 2,
  AdaLN-single, 8 output channels: noise and learned variance, as PixArt's
  ``out_channels=8``), an AutoencoderKL with PixArt's 8x downsampling (four
  levels, where the toolkit's tiny VAE has two), and the DPM-Solver++
  scheduler PixArt ships. PixArt-α's VAE keeps SD's scaling factor (0.18215),
  PixArt-Σ's has SDXL's (0.13025).
- Sana: a Gemma 2 decoder with the toolkit's Gemma tokenizer, a
  SanaTransformer2DModel (linear attention, patch 1), an AutoencoderDC with
  Sana's 32x compression (six levels: three of ResBlocks, three of
  EfficientViT blocks, as DC-AE f32c32) and the flow DPM-Solver Sana ships.
- Sana Sprint: Sana's components with a transformer that embeds the guidance
  scale and normalises queries and keys (``guidance_embeds``, ``qk_norm``)
  and the SCM scheduler, saved as SanaSprintPipeline.

diffusers' resolution binning, on by default in every one of these
pipelines, draws each call at the nearest size of a table keyed on the
transformer's ``sample_size``, whatever height and width are asked (the
image is resized to them after), and knows only the published sizes. So the
tiny transformers have published sizes: 32 latent pixels for PixArt (a
256x256 draw through the 8x VAE) and Sana Sprint (1024x1024, the one size
Sprint's pipelines bin to), 16 for Sana (512x512, as Sana_600M_512px); on
one CPU core a binned Sana Sprint call takes about a second, most of it the
DC-AE decode at 1024x1024.
The tokenizers are built in memory (:mod:`autopipe_core.toolkit.tokenizers`),
so nothing is fetched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autopipe_core import toolkit

from . import FAMILIES, PIXART_ALPHA, PIXART_SIGMA, SANA, SANA_SAMPLE_SIZE, SANA_SPRINT  # SANA_SAMPLE_SIZE: single_file.detect's too

#: The text encoders' width, which the transformers' caption projection takes (T5-XXL and Gemma 2 2B: 4096 and 2304).
TEXT_HIDDEN = 32
#: Latent pixels per side, sizes diffusers' resolution bins are keyed on: PixArt's 32 draws on the 256 px bins (8x VAE), Sana's
#: 16 on the 512 px bins (32x DC-AE, as Sana_600M_512px; SANA_SAMPLE_SIZE, the package's, which detection reads too),
#: Sana Sprint's 32 on the 1024 px bins, the only ones Sprint has.
SAMPLE_SIZE = 32
SPRINT_SAMPLE_SIZE = 32
#: Sana's latent channels (DC-AE f32c32: 32); the tiny one keeps fewer.
SANA_LATENT_CHANNELS = 8
#: Sana Sprint's transformer settings that make it Sprint's (diffusers' scripts/convert_sana_to_diffusers.py).
SPRINT_TRANSFORMER = {"guidance_embeds": True, "qk_norm": "rms_norm_across_heads"}
#: The VAEs' scaling factors: SD's VAE under PixArt-α, SDXL's under PixArt-Σ, DC-AE f32c32's under Sana.
SCALING = {PIXART_ALPHA: 0.18215, PIXART_SIGMA: 0.13025, SANA: 0.41407, SANA_SPRINT: 0.41407}


def t5_tokenizer() -> Any:
    """The toolkit's T5 tokenizer (Unigram over characters); PixArt's pipelines pass their own max_length (120, 300)."""
    return toolkit.tokenizers.t5()


def pixart_transformer(**overrides: Any) -> Any:
    """A PixArtTransformer2DModel with PixArt-XL-2's layout (patch 2, AdaLN-single, learned variance), 2 layers of 2 heads of 8."""
    from diffusers import PixArtTransformer2DModel

    settings: dict[str, Any] = dict(
        sample_size=SAMPLE_SIZE,
        num_layers=2,
        patch_size=2,
        attention_head_dim=8,
        num_attention_heads=2,
        caption_channels=TEXT_HIDDEN,
        in_channels=4,
        out_channels=8,
        cross_attention_dim=16,
        attention_bias=True,
        activation_fn="gelu-approximate",
        num_embeds_ada_norm=1000,
        norm_type="ada_norm_single",
        norm_elementwise_affine=False,
        norm_eps=1e-6,
    )
    return PixArtTransformer2DModel(**{**settings, **overrides})


def pixart_vae(scaling_factor: float) -> Any:
    """The toolkit's tiny AutoencoderKL with four levels, so that it downsamples 8x as PixArt's VAEs do."""
    return toolkit.tiny.vae_8x(scaling_factor=scaling_factor)


def pixart_scheduler() -> Any:
    """The scheduler PixArt-α and PixArt-Σ ship: DPM-Solver++ at diffusers' defaults (linear betas 0.0001 to 0.02, epsilon)."""
    from diffusers import DPMSolverMultistepScheduler

    return DPMSolverMultistepScheduler()


def gemma_tokenizer() -> Any:
    """The toolkit's Gemma tokenizer (BPE over characters, ``<bos>`` first), padding on the right as Sana's is saved."""
    tokenizer = toolkit.tokenizers.gemma()
    tokenizer.padding_side = "right"
    return tokenizer


def gemma_encoder(vocab_size: int) -> Any:
    """A Gemma 2 decoder (``Gemma2Model``, Sana's text encoder) 32 wide and 2 layers deep; ids as :func:`gemma_tokenizer`'s.

    8192 positions: Sana prepends its "complex human instruction" to every
    prompt, about 1,800 characters, one token each in the tiny vocabulary.
    """
    from transformers import Gemma2Config, Gemma2Model

    config = Gemma2Config(
        vocab_size=vocab_size,
        hidden_size=TEXT_HIDDEN,
        intermediate_size=2 * TEXT_HIDDEN,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=16,
        max_position_embeddings=8192,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=2,
    )
    return Gemma2Model(config)


def sana_transformer(sprint: bool = False, **overrides: Any) -> Any:
    """A SanaTransformer2DModel: linear self-attention of 2 heads of 8, cross-attention 16 wide, 2 layers, patch 1.

    `sprint` gives it Sana Sprint's guidance embedding and query/key norms.
    """
    from diffusers import SanaTransformer2DModel

    settings: dict[str, Any] = dict(
        in_channels=SANA_LATENT_CHANNELS,
        out_channels=SANA_LATENT_CHANNELS,
        num_attention_heads=2,
        attention_head_dim=8,
        num_layers=2,
        num_cross_attention_heads=2,
        cross_attention_head_dim=8,
        cross_attention_dim=16,
        caption_channels=TEXT_HIDDEN,
        sample_size=SPRINT_SAMPLE_SIZE if sprint else SANA_SAMPLE_SIZE,
        patch_size=1,
    )
    if sprint:
        settings.update(SPRINT_TRANSFORMER)
    return SanaTransformer2DModel(**{**settings, **overrides})


def dc_ae() -> Any:
    """An AutoencoderDC with DC-AE f32c32's shape (six levels, 32x compression: ResBlocks, then EfficientViT blocks) at 4 to 16 channels."""
    from diffusers import AutoencoderDC

    blocks = ("ResBlock",) * 3 + ("EfficientViTBlock",) * 3
    scales = ((),) * 3 + ((5,),) * 3
    widths = (4, 8, 8, 16, 16, 16)
    return AutoencoderDC(
        in_channels=3,
        latent_channels=SANA_LATENT_CHANNELS,
        attention_head_dim=4,
        encoder_block_types=blocks,
        decoder_block_types=blocks,
        encoder_block_out_channels=widths,
        decoder_block_out_channels=widths,
        encoder_layers_per_block=(1,) * 6,
        decoder_layers_per_block=(1,) * 6,
        encoder_qkv_multiscales=scales,
        decoder_qkv_multiscales=scales,
        downsample_block_type="Conv",
        upsample_block_type="interpolate",
        decoder_norm_types="rms_norm",
        decoder_act_fns="silu",
        scaling_factor=SCALING[SANA],
    )


def sana_scheduler() -> Any:
    """The scheduler Sana ships: DPM-Solver++ over flow-matching sigmas, shift 3 (diffusers' scripts/convert_sana_to_diffusers.py)."""
    from diffusers import DPMSolverMultistepScheduler

    return DPMSolverMultistepScheduler(flow_shift=3.0, use_flow_sigmas=True, prediction_type="flow_prediction")


def sprint_scheduler() -> Any:
    """The scheduler Sana Sprint ships: SCM with TrigFlow prediction, sigma_data 0.5."""
    from diffusers import SCMScheduler

    return SCMScheduler(prediction_type="trigflow", sigma_data=0.5)


def pipeline(family: str, seed: int = 0) -> Any:
    """The tiny pipeline of `family`, in memory (float32, random weights under `seed`). ValueError for a family not here."""
    import diffusers

    if family not in FAMILIES:
        raise ValueError(f"autopipe-pixart builds no tiny {family!r}; it builds {', '.join(FAMILIES)}")
    with toolkit.tiny.seeded(seed):
        if family in (PIXART_ALPHA, PIXART_SIGMA):
            tokenizer = t5_tokenizer()
            components = dict(
                tokenizer=tokenizer,
                text_encoder=toolkit.tiny.t5_encoder(len(tokenizer), TEXT_HIDDEN),
                transformer=pixart_transformer(),
                vae=pixart_vae(SCALING[family]),
                scheduler=pixart_scheduler(),
            )
            cls = diffusers.PixArtAlphaPipeline if family == PIXART_ALPHA else diffusers.PixArtSigmaPipeline
        else:
            sprint = family == SANA_SPRINT
            tokenizer = gemma_tokenizer()
            components = dict(
                tokenizer=tokenizer,
                text_encoder=gemma_encoder(len(tokenizer)),
                transformer=sana_transformer(sprint=sprint),
                vae=dc_ae(),
                scheduler=sprint_scheduler() if sprint else sana_scheduler(),
            )
            cls = diffusers.SanaSprintPipeline if sprint else diffusers.SanaPipeline
    return cls(**components)


def build(family: str, path: Path, variant: str | None = None, seed: int = 0) -> Path:
    """Save the tiny checkpoint of `family` to `path` with save_pretrained: the ``autopipe_build_tiny`` hook.

    Each family has its ordinary checkpoint only (`variant` None); another
    variant is a ValueError naming what is built.
    """
    return toolkit.tiny.save(pipeline, family, path, variant, seed)


def sana_single_file(folder: Path, path: Path, **transformer_overrides: Any) -> Path:
    """Write the transformer of the tiny Sana checkpoint at `folder` to `path` as one .safetensors file, in Sana's original layout.

    The layout of NVlabs/Sana's own checkpoints (:func:`autopipe_pixart.layout.sana_original`),
    which diffusers' ``SanaTransformer2DModel.from_single_file`` converts
    back. `transformer_overrides` build a fresh tiny transformer with those
    settings instead (``qk_norm=...`` for a SANA 1.5 file, ``guidance_embeds=True``
    for a Sprint one), to test what is refused.
    """
    from diffusers import SanaTransformer2DModel

    from .layout import sana_original

    if transformer_overrides:
        with toolkit.tiny.seeded(0):
            transformer = sana_transformer(**transformer_overrides)
    else:
        transformer = SanaTransformer2DModel.from_pretrained(Path(folder) / "transformer")
    config = transformer.config
    tensors = sana_original(transformer.state_dict(), config.sample_size // config.patch_size, config.caption_channels)
    return toolkit.transformer_file.save_tensors(tensors, path)


#: SanaControlNetModel's settings that must equal its transformer's: the controlnet's blocks add to the transformer's.
CONTROLNET_SHARED = (
    "in_channels", "out_channels", "num_attention_heads", "attention_head_dim", "num_cross_attention_heads", "cross_attention_head_dim",
    "cross_attention_dim", "caption_channels", "mlp_ratio", "attention_bias", "sample_size", "patch_size", "norm_elementwise_affine",
    "norm_eps", "interpolation_scale",
)


def sana_controlnet(transformer: Any, layers: int = 1, seed: int = 0) -> Any:
    """A random SanaControlNetModel for `transformer` (a SanaTransformer2DModel): its widths, `layers` blocks (Sana's ControlNets: 7), float32."""
    from diffusers import SanaControlNetModel

    with toolkit.tiny.seeded(seed):
        return SanaControlNetModel(num_layers=layers, **{key: transformer.config[key] for key in CONTROLNET_SHARED})
