"""autopipe plugin for Stable Diffusion XL: the base model, the refiner and SDXL inpainting checkpoints.

The package holds the names its single-file detection shares with the
registrations: the family, the micro-conditioning widths and the detect keys,
plain values. The registrations are in :mod:`autopipe_sdxl.plugin`, which the
entry point names; detection is in :mod:`autopipe_sdxl.single_file`. So a
cold ``autopipe resolve FILE`` imports the detection module alone (and this
package), never the specs and pluggy the registrations import. Nothing here
imports torch, diffusers or transformers.
"""

from __future__ import annotations

from autopipe_core.toolkit import tensor_names

FAMILY = "stable-diffusion-xl"

#: Width of text_encoder_2's pooled, projected output (OpenCLIP ViT-bigG/14).
POOLED_DIM = 1280
#: Width each micro-conditioning number is embedded in (UNet ``addition_time_embed_dim``).
ADD_TIME_EMBED_DIM = 256
#: UNet ``projection_class_embeddings_input_dim`` of the base (6 time ids) and of the refiner (5).
BASE_ADD_EMBED_DIM = POOLED_DIM + 6 * ADD_TIME_EMBED_DIM  # 2816
REFINER_ADD_EMBED_DIM = POOLED_DIM + 5 * ADD_TIME_EMBED_DIM  # 2560

#: The original (SGM) layout's micro-conditioning embedding and first convolution: the two UNet tensors
#: single_file.detect reads. From the toolkit's tensor_names, which imports nothing, so that registering the keys below
#: imports no detection code.
LABEL_EMB = tensor_names.LDM_LABEL_EMB
CONV_IN = tensor_names.LDM_CONV_IN
#: autopipe_detect_keys, mirroring detect's checks: a file is claimed by its label_emb, or, without one, by its text
#: encoders together with a CONV_IN; so every SDXL file it claims holds one of these.
DETECT_KEYS: tuple[str, ...] = (LABEL_EMB, CONV_IN)
