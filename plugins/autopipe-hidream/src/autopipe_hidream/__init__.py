"""autopipe plugin for HiDream-I1: HiDreamImagePipeline, text to image (a pipeline diffusers ships with no AutoPipeline key).

The package holds the names its single-file detection shares with the
registrations: the family, its pipeline class, the example repository and
the detect keys, plain strings. The registrations are in
:mod:`autopipe_hidream.plugin`, which the entry point names; detection is in
:mod:`autopipe_hidream.single_file`. So a cold ``autopipe resolve FILE``
imports the detection module alone (and this package), never the specs and
pluggy the registrations import. Nothing here imports torch, diffusers or
transformers.

One family, ``hidream``: HiDream.ai's 17 B sparse (mixture-of-experts) DiT,
``HiDreamImageTransformer2DModel`` (16 dual-stream then 32 single-stream
blocks, 2560 wide), under four text encoders: two CLIPs with projection
(``CLIPTextModelWithProjection``: Long-CLIP L/14 and G/14, whose pooled
outputs are concatenated, 768 + 1280 = the transformer's ``text_emb_dim``
2048), T5-XXL (``T5EncoderModel``) and Llama 3.1 8B Instruct
(``LlamaForCausalLM``, every layer's hidden states read), with FLUX.1's
16-channel VAE. Checkpoints: HiDream-ai/HiDream-I1-Full, -Dev and -Fast.
"""

from __future__ import annotations

from autopipe_core.toolkit import tensor_names

HIDREAM = "hidream"
FAMILIES = (HIDREAM,)
HIDREAM_CLASS = "HiDreamImagePipeline"
EXAMPLE = "HiDream-ai/HiDream-I1-Dev"

#: ComfyUI's prefix of the diffusion model in a checkpoint it saves; HiDream-ai's and Comfy-Org's split files have none.
COMFY_PREFIX = tensor_names.COMFY_PREFIX
#: diffusers' CHECKPOINT_KEY_NAMES["hidream"] (diffusers/loaders/single_file_utils.py, 0.42.1), single_file.KEY.
HIDREAM_KEY = "double_stream_blocks.0.block.adaLN_modulation.1.bias"
#: autopipe_detect_keys, mirroring detect's first check: it claims no file without HIDREAM_KEY, bare or under ComfyUI's
#: prefix, so every HiDream file it claims holds one of these.
DETECT_KEYS: tuple[str, ...] = (HIDREAM_KEY, COMFY_PREFIX + HIDREAM_KEY)
