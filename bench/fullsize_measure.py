"""Measure the tensors of full-size checkpoints, once, into bench/fullsize.json (run by hand; needs torch, diffusers, transformers).

Each model is built on the meta device from its published config, so the
tensor names and shapes are the real architecture's and no memory is used;
its state dict is grouped by (shape, module leaf) into bench/fullsize.json,
which bench/fullsize.py turns into header-only sparse safetensors files for
tests/test_placement_fullsize.py and the table of docs/placement.md.

Where the configs come from (the models' config.json on the hub as
published, written out here; each built model's parameter count is printed
next to the count the model's card or paper states, and is checked by
tests/test_placement_fullsize.py):

- SD 1.5 (runwayml/stable-diffusion-v1-5): UNet 859.5 M, VAE 83.7 M,
  CLIP ViT-L/14 text encoder 123.1 M, safety checker (CLIP ViT-L/14 vision) 304 M.
- SDXL base 1.0: UNet 2.567 B, CLIP ViT-L/14 text 123.1 M, OpenCLIP
  ViT-bigG/14 text with projection 694.7 M, VAE 83.7 M.
- ControlNet: lllyasviel/sd-controlnet-canny (a copy of SD 1.5's UNet
  encoder, 361 M) and diffusers/controlnet-canny-sdxl-1.0 (SDXL's, 1.25 B),
  both built with ControlNetModel from the UNet's config.
- DeepFloyd IF-I-XL v1.0: the T5-v1.1-XXL encoder, 4.76 B (google/t5-v1_1-xxl's
  config), built. The stage I UNet is not: its exact config is not at hand
  offline, so its 4.3 B parameters (the model card's figure) are spread over
  tensors of its widest channel count (``SYNTHETIC``).
- Kandinsky 2.1 / 2.2 (kandinsky-community): the prior's CLIP models
  (ViT-L/14 for 2.1, ViT-bigG/14 for 2.2, text and vision with
  projection), the PriorTransformer (20 layers of width 2048, 1.0 B) and
  2.1's MultilingualCLIP (XLM-RoBERTa-large, 560 M) are built from their
  configs. The decoder UNet (1.22 B) and MoVQ (67 M) are not: their counts
  are the ones the Kandinsky 2.1 and 2.2 READMEs (ai-forever/Kandinsky-2)
  give, spread over tensors of realistic widths (``SYNTHETIC``). Only the
  totals per component matter to placement.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path

OUT = Path(__file__).with_name("fullsize.json")


def clip_text(hidden: int, layers: int, heads: int, projection: int | None, act: str = "quick_gelu"):
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = CLIPTextConfig(vocab_size=49408, hidden_size=hidden, intermediate_size=4 * hidden, num_hidden_layers=layers,
                            num_attention_heads=heads, max_position_embeddings=77, hidden_act=act, projection_dim=projection or 768)
    return CLIPTextModelWithProjection(config) if projection else CLIPTextModel(config)


def clip_vision(hidden: int, layers: int, heads: int, intermediate: int, projection: int, act: str = "quick_gelu"):
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    return CLIPVisionModelWithProjection(CLIPVisionConfig(hidden_size=hidden, intermediate_size=intermediate, num_hidden_layers=layers,
                                                          num_attention_heads=heads, image_size=224, patch_size=14, projection_dim=projection, hidden_act=act))


SD15_UNET = dict(sample_size=64, cross_attention_dim=768, attention_head_dim=8)
SDXL_UNET = dict(
    sample_size=128, block_out_channels=(320, 640, 1280), down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"), transformer_layers_per_block=(1, 2, 10),
    attention_head_dim=(5, 10, 20), cross_attention_dim=2048, use_linear_projection=True, addition_embed_type="text_time",
    addition_time_embed_dim=256, projection_class_embeddings_input_dim=2816,
)
VAE = dict(block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
           layers_per_block=2, latent_channels=4)


def models():
    """(checkpoint, component) -> a function building the model."""
    from diffusers import AutoencoderKL, ControlNetModel, PriorTransformer, UNet2DConditionModel
    from diffusers.pipelines.kandinsky.text_encoder import MCLIPConfig, MultilingualCLIP
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
    from transformers import CLIPConfig, T5Config, T5EncoderModel

    def safety_checker():
        config = CLIPConfig(projection_dim=768, vision_config=dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24,
                                                                   num_attention_heads=16, image_size=224, patch_size=14))
        return StableDiffusionSafetyChecker(config)

    def t5_xxl():
        return T5EncoderModel(T5Config(vocab_size=32128, d_model=4096, d_kv=64, d_ff=10240, num_layers=24, num_heads=64,
                                       feed_forward_proj="gated-gelu", tie_word_embeddings=False))

    def mclip():
        return MultilingualCLIP(MCLIPConfig(transformerDimSize=1024, imageDimSize=768, vocab_size=250002, hidden_size=1024,
                                            num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096,
                                            max_position_embeddings=514, type_vocab_size=1))

    def prior(embedding_dim: int):
        return PriorTransformer(num_attention_heads=32, attention_head_dim=64, num_layers=20, embedding_dim=embedding_dim,
                                num_embeddings=77, additional_embeddings=4)

    sdxl_unet_config = {k: v for k, v in SDXL_UNET.items() if k != "sample_size"}
    return OrderedDict({
        ("sd15", "unet"): lambda: UNet2DConditionModel(**SD15_UNET),
        ("sd15", "vae"): lambda: AutoencoderKL(**VAE),
        ("sd15", "text_encoder"): lambda: clip_text(768, 12, 12, None),
        ("sd15", "safety_checker"): safety_checker,
        ("sdxl", "unet"): lambda: UNet2DConditionModel(**SDXL_UNET),
        ("sdxl", "text_encoder_2"): lambda: clip_text(1280, 32, 20, 1280, act="gelu"),
        ("sd15-controlnet", "controlnet"): lambda: ControlNetModel(cross_attention_dim=768, attention_head_dim=8),
        ("sdxl-controlnet", "controlnet"): lambda: ControlNetModel(**{k: v for k, v in sdxl_unet_config.items() if k not in ("up_block_types",)}),
        ("if-i-xl", "text_encoder"): t5_xxl,
        ("kandinsky21", "text_encoder"): mclip,
        ("kandinsky21", "prior_prior"): lambda: prior(768),
        ("kandinsky21", "prior_text_encoder"): lambda: clip_text(768, 12, 12, 768),
        ("kandinsky21", "prior_image_encoder"): lambda: clip_vision(1024, 24, 16, 4096, 768),
        ("kandinsky22", "prior_prior"): lambda: prior(1280),
        ("kandinsky22", "prior_text_encoder"): lambda: clip_text(1280, 32, 20, 1280, act="gelu"),
        ("kandinsky22", "prior_image_encoder"): lambda: clip_vision(1664, 48, 16, 8192, 1280, act="gelu"),
    })


#: Components known by their published parameter count only: (checkpoint, component) -> (parameters, tensor width).
SYNTHETIC = {
    ("if-i-xl", "unet"): (4_300_000_000, 2048),
    ("kandinsky21", "unet"): (1_220_000_000, 1536),
    ("kandinsky21", "movq"): (67_000_000, 512),
    ("kandinsky22", "unet"): (1_220_000_000, 1536),
    ("kandinsky22", "movq"): (67_000_000, 512),
}


def synthetic(parameters: int, width: int) -> list[list]:
    """Square tensors of `width` and one vector for the rest: the published total, in realistic shapes."""
    n, rest = divmod(parameters, width * width)
    out = [["blocks.0.weight", [width, width], n]]
    return out + [["rest.weight", [rest], 1]] if rest else out


def groups(state: dict) -> list[list]:
    """[[first name, shape, count], ...]: tensors of the same shape and the same last two name parts together."""
    out: dict[tuple, list] = OrderedDict()
    for name, shape in state.items():
        key = (tuple(shape), ".".join(name.split(".")[-2:]))
        if key in out:
            out[key][2] += 1
        else:
            out[key] = [name, list(shape), 1]
    return list(out.values())


def main() -> None:
    import torch

    data: dict = {}
    for (checkpoint, component), build in models().items():
        with torch.device("meta"):
            model = build()
        state = {name: tuple(t.shape) for name, t in model.state_dict().items()}
        if "shared.weight" in state:  # T5: the tied embedding is saved once, as shared.weight
            state.pop("encoder.embed_tokens.weight", None)
        # position_ids and the like are buffers not saved by save_pretrained
        persistent = {n for n, _ in model.named_parameters()} | {n for n, b in model.named_buffers() if n in model.state_dict()}
        state = {n: s for n, s in state.items() if n in persistent and not n.endswith("position_ids")}
        params = sum(int(torch.Size(s).numel()) for s in state.values())
        print(f"{checkpoint:<18}{component:<22}{params:>15,}")
        data.setdefault(checkpoint, {})[component] = groups(state)
    for (checkpoint, component), (parameters, width) in SYNTHETIC.items():
        data.setdefault(checkpoint, {})[component] = synthetic(parameters, width)
        print(f"{checkpoint:<18}{component:<22}{parameters:>15,} (published count, synthetic shapes)")
    OUT.write_text(json.dumps(data, separators=(",", ":")) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
