"""autopipe plugin for fal's AuraFlow: AuraFlowPipeline (diffusers' key "auraflow"), text to image.

One family, ``auraflow``: a 6.8 B MMDiT (AuraFlowTransformer2DModel: 4 joint
blocks then 32 single-stream ones, 3072 wide) under Pile-T5-XL
(``UMT5EncoderModel`` with a Llama tokenizer) with SDXL's VAE. Checkpoints:
fal/AuraFlow (v0.1), fal/AuraFlow-v0.2, fal/AuraFlow-v0.3, and fine-tunes
of the same architecture (Pony V7, purplesmartai/pony-v7-base).

The package holds the names its single-file detection, layout module and tiny
builder share with the registrations: the family, the pipeline class and the
detect keys, plain strings. The registrations are in
:mod:`autopipe_auraflow.plugin`, which the entry point names; detection is in
:mod:`autopipe_auraflow.single_file`. So a cold ``autopipe resolve FILE``
imports the detection module alone (and this package), never the specs and
pluggy the registrations import. Nothing here imports torch, diffusers or
transformers.
"""

from __future__ import annotations

from autopipe_core.toolkit import tensor_names

AURAFLOW = "auraflow"
FAMILIES = (AURAFLOW,)
AURAFLOW_CLASS = "AuraFlowPipeline"

#: ComfyUI's prefix for a checkpoint's diffusion model (fal's aura_flow_0.x.safetensors carry the text encoder under
#: ``text_encoders.`` and the VAE under ``vae.`` beside it); the authors' files have none. diffusers' AuraFlow converter
#: does not strip it. layout.COMFY_PREFIX.
COMFY_PREFIX = tensor_names.COMFY_PREFIX
#: What diffusers' CHECKPOINT_KEY_NAMES["auraflow"] requires, all of them, without a prefix (layout.DIFFUSERS_KEYS).
AURAFLOW_KEYS = ("double_layers.0.attn.w2q.weight", "double_layers.0.attn.w1q.weight", "cond_seq_linear.weight", "t_embedder.mlp.0.weight")
#: autopipe_detect_keys, mirroring detect's first check (layout.strip_prefix): it claims no file without all of
#: AURAFLOW_KEYS, bare or under ComfyUI's prefix, so every AuraFlow file it claims holds the first of them under one.
DETECT_KEYS: tuple[str, ...] = (AURAFLOW_KEYS[0], COMFY_PREFIX + AURAFLOW_KEYS[0])
