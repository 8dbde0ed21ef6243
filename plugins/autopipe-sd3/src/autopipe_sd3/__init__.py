"""autopipe plugin for Stable Diffusion 3 and 3.5: medium, large and large-turbo, with PAG and ControlNet.

The package holds the names its single-file detection shares with the
registrations, the architectures and the tiny builder: the family, the VAE's
latent channels and factors, where a file holds the transformer and the
detect keys, plain values. The registrations are in :mod:`autopipe_sd3.plugin`,
which the entry point names; detection is in :mod:`autopipe_sd3.single_file`.
So a cold ``autopipe resolve FILE`` imports the detection module alone (and
this package), never the specs and pluggy the registrations import. Nothing
here imports torch, diffusers or transformers.
"""

from __future__ import annotations

from autopipe_core.toolkit import tensor_names

FAMILY = "stable-diffusion-3"

#: The VAE's latent channels (SD 1.x/2.x and SDXL have 4), and its scaling and shift factors, as SD3's vae/config.json has them.
LATENT_CHANNELS = 16
SCALING_FACTOR = 1.5305
SHIFT_FACTOR = 0.0609

#: Where Stability AI's single files hold the MMDiT (the core's ``LDM_UNET``), or bare, as diffusers also takes it.
TRANSFORMER_PREFIXES = (tensor_names.LDM_UNET, "")
#: The adaLN modulation of block 0's text stream: (6 x width,), present in every SD3 transformer.
MODULATION = "joint_blocks.0.context_block.adaLN_modulation.1.bias"
#: autopipe_detect_keys, mirroring single_file.read_mmdit's first check: detect claims no file without MODULATION under
#: one of TRANSFORMER_PREFIXES, so every SD3 file it claims holds one of these. Here, not there, so that registering
#: them imports no detection code; single_file.py takes both names from this module.
DETECT_KEYS: tuple[str, ...] = tuple(prefix + MODULATION for prefix in TRANSFORMER_PREFIXES)
