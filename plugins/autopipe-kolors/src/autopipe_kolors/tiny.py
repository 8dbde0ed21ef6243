"""Tiny random-weight Kolors checkpoints, built offline in about a second: the diffusers layout and the original one.

The architecture is Kolors': diffusers' ChatGLMModel (ChatGLM3's RMSNorm,
rotary embeddings, multi-query attention with 2 key/value groups and biased
query/key/value projections) over the toolkit's ChatGLM tokenizer, which
starts each prompt with ``[gMASK] sop`` and pads on the left as ChatGLM3's
does; SDXL's UNet layout (``addition_embed_type="text_time"``, linear
projections, two transformer layers in the second block) with a text
projection from ChatGLM's width (``encoder_hid_dim``, ``"text_proj"``) to a
cross-attention width half of it, as Kolors' 4096 -> 2048; an AutoencoderKL
with SDXL's scaling factor that asks to be upcast; and the Euler scheduler
on Kolors' own schedule (1100 training steps, betas to 0.014, from the
original repository's scheduler config). The add-embedding keeps Kolors'
make-up, ChatGLM's width plus 6 time ids: ``TEXT_HIDDEN + 6 x
TIME_EMBED_DIM``. About 540,000 parameters; a 2-step 64x64 call takes a
fraction of a second on a CPU.

``ChatGLMModel`` is built with ``empty_init=False``: its default,
``torch.nn.utils.skip_init``, leaves every weight as uninitialised memory,
so the same seed would not give the same checkpoint (and it could hold NaN);
its RMSNorm weights are made with ``torch.empty`` in any case and are set to
one, the initial value every RMSNorm takes.
"""

from __future__ import annotations

import json
from pathlib import Path

from autopipe_core import toolkit

from . import FAMILY, ORIGINAL_CLASS, ORIGINAL_LAYOUT, TIME_IDS

TEXT_HIDDEN = 32  # ChatGLM3-6B: 4096
CROSS_ATTENTION = 16  # the UNet's cross-attention width, half the text width as in Kolors (2048)
TIME_EMBED_DIM = 8  # the UNet's addition_time_embed_dim (Kolors and SDXL: 256)
#: Tokens ChatGLM's rotary table covers (its config's seq_length; ChatGLM3: 32768): Kolors' pipelines pad prompts to 256.
SEQ_LENGTH = 256
#: Kolors' training noise schedule, from the original repository's scheduler_config.json (SD's ends at 0.012 over 1000 steps).
KOLORS_SCHEDULE = {"beta_end": 0.014, "num_train_timesteps": 1100, "timestep_spacing": "leading"}
VARIANT_NAMES = (None, ORIGINAL_LAYOUT)


def text_encoder(vocab_size: int):
    """diffusers' ChatGLMModel at the tiny width: 2 layers, 4 heads of 8, 2 key/value groups, an MLP twice as wide.

    `vocab_size` covers every id of the tokenizer (its ``vocab_size``: ChatGLM's specials come after the pieces); ids as ChatGLM3's
    config has them (padding 0, end 2).
    """
    import torch
    from diffusers.pipelines.kolors.text_encoder import ChatGLMConfig, ChatGLMModel, RMSNorm

    config = ChatGLMConfig(
        num_layers=2,
        padded_vocab_size=vocab_size,
        hidden_size=TEXT_HIDDEN,
        ffn_hidden_size=2 * TEXT_HIDDEN,
        kv_channels=TEXT_HIDDEN // 4,
        num_attention_heads=4,
        seq_length=SEQ_LENGTH,
        multi_query_attention=True,
        multi_query_group_num=2,
        add_qkv_bias=True,
        original_rope=True,
        pad_token_id=0,
        eos_token_id=2,
    )
    model = ChatGLMModel(config, empty_init=False)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, RMSNorm):
                module.weight.fill_(1.0)
    return model


def unet():
    """SDXL's UNet layout at the toolkit's tiny width, projecting ChatGLM's states (encoder_hid_dim) to its cross-attention."""
    return toolkit.tiny.unet(
        cross_attention_dim=CROSS_ATTENTION,
        encoder_hid_dim=TEXT_HIDDEN,
        encoder_hid_dim_type="text_proj",
        addition_time_embed_dim=TIME_EMBED_DIM,
        projection_class_embeddings_input_dim=TEXT_HIDDEN + TIME_IDS * TIME_EMBED_DIM,
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        transformer_layers_per_block=(1, 2),
    )


#: How the original repository stores ChatGLM3: float16 pickle shards of ChatGLMForConditionalGeneration's state,
#: every key under its base model's prefix ("transformer."), with an index; its config says torch_dtype float16.
ORIGINAL_SHARDS = 2
ORIGINAL_PREFIX = "transformer."


def as_original_layout(path: Path) -> None:
    """Rewrite a saved KolorsPipeline folder as the original Kwai-Kolors/Kolors repository lays its files out.

    model_index.json names ``StableDiffusionXLPipeline``, says
    ``force_zeros_for_empty_prompt: true`` and lists the five components the
    repository ships (text encoder and tokenizer from the library "kolors", no
    IP-Adapter image encoder). The text encoder is stored as that repository
    stores ChatGLM3 (THUDM's chatglm3-6b-base files): float16
    ``pytorch_model-0000N-of-0000M.bin`` shards whose keys carry the
    ``transformer.`` prefix, ``pytorch_model.bin.index.json``, and a config
    saying ``torch_dtype: float16`` (as transformers 4 wrote it). The UNet,
    VAE, tokenizer and scheduler folders are the diffusers layout's.
    """
    import torch
    from safetensors.torch import load_file

    path = Path(path)
    index_file = path / "model_index.json"
    index = json.loads(index_file.read_text())
    index.update(_class_name=ORIGINAL_CLASS, force_zeros_for_empty_prompt=True)
    for optional in ("image_encoder", "feature_extractor"):
        index.pop(optional, None)
    index_file.write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")

    encoder = path / "text_encoder"
    weights = encoder / "model.safetensors"
    state = load_file(weights)
    weights.unlink()
    names = sorted(state)
    weight_map = {}
    for n in range(ORIGINAL_SHARDS):
        shard = f"pytorch_model-{n + 1:05d}-of-{ORIGINAL_SHARDS:05d}.bin"
        keys = names[n::ORIGINAL_SHARDS]
        torch.save({ORIGINAL_PREFIX + k: state[k].to(torch.float16) for k in keys}, encoder / shard)
        weight_map.update({ORIGINAL_PREFIX + k: shard for k in keys})
    total = sum(t.numel() * 2 for t in state.values())
    (encoder / "pytorch_model.bin.index.json").write_text(json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2) + "\n")
    config_file = encoder / "config.json"
    config = json.loads(config_file.read_text())
    config.pop("dtype", None)
    config["torch_dtype"] = "float16"
    config_file.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def build(path: Path, variant: str | None = None, seed: int = 0) -> Path:
    """Save a tiny Kolors checkpoint to `path` with save_pretrained and return the path.

    None: the diffusers layout, as Kwai-Kolors/Kolors-diffusers (KolorsPipeline,
    force_zeros_for_empty_prompt false). "original-layout": the same weights
    laid out as the original repository has them (:func:`as_original_layout`),
    the text encoder's in float16.
    Another variant is a ValueError.
    """
    from diffusers import KolorsPipeline

    if variant not in VARIANT_NAMES:
        raise toolkit.tiny.unknown_variant(FAMILY, variant, VARIANT_NAMES)
    with toolkit.tiny.seeded(seed):
        tokenizer = toolkit.tokenizers.chatglm()
        pipeline = KolorsPipeline(
            vae=toolkit.tiny.vae(scaling_factor=0.13025),
            text_encoder=text_encoder(tokenizer.vocab_size),
            tokenizer=tokenizer,
            unet=unet(),
            scheduler=toolkit.tiny.scheduler("EulerDiscreteScheduler", **KOLORS_SCHEDULE),
            force_zeros_for_empty_prompt=False,
        )
    pipeline.save_pretrained(path)
    if variant == ORIGINAL_LAYOUT:
        as_original_layout(path)
    return Path(path)
