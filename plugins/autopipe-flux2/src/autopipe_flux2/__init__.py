"""autopipe plugin for FLUX.2: Black Forest Labs' second rectified-flow transformer family, [dev] and [klein].

The package holds the names its single-file detection shares with the
registrations, the layout module and the tiny builder: the families, the KV
row's modifier, ComfyUI's prefix and the detect keys, plain strings. The
registrations are in :mod:`autopipe_flux2.plugin`, which the entry point
names; detection is in :mod:`autopipe_flux2.single_file`. So a cold
``autopipe resolve FILE`` imports the detection module alone (and this
package), never the specs and pluggy the registrations import. Nothing here
imports torch, diffusers or transformers.
"""

from __future__ import annotations

from autopipe_core.toolkit import tensor_names

FLUX2 = "flux2"
KLEIN = "flux2-klein"

#: The modifier of FLUX.2 [klein] 9B KV's row: no keyword selects it, a checkpoint (or live pipeline) of Flux2KleinKVPipeline does.
KV = "kv"

#: ComfyUI's prefix of the diffusion model in a file it saves (layout.COMFY_PREFIX); BFL's files have none.
COMFY_PREFIX = tensor_names.COMFY_PREFIX
#: diffusers' key for FLUX.2 files (CHECKPOINT_KEY_NAMES["flux2"], without the prefix): the modulation all single blocks share.
FLUX2_KEY = "single_stream_modulation.lin.weight"
#: autopipe_detect_keys, mirroring detect's first check (single_file._prefix): it claims no file without FLUX2_KEY, bare
#: or under ComfyUI's prefix, so every FLUX.2 file it claims holds one of these.
DETECT_KEYS: tuple[str, ...] = (FLUX2_KEY, COMFY_PREFIX + FLUX2_KEY)
