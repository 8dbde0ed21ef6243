"""Recognising Stable Cascade's single files, one StableCascadeUNet each, from their header alone.

Stability AI published Stable Cascade's stages as single files too
(stabilityai/stable-cascade: ``stage_b.safetensors``, ``stage_b_lite.safetensors``,
``stage_c.safetensors``, ``stage_c_lite.safetensors`` and their ``_bf16``
copies). diffusers 0.42.1 loads them with ``StableCascadeUNet.from_single_file``
(``loaders/single_file_model.py``: ``SINGLE_FILE_LOADABLE_CLASSES``), which
converts the original layout (``attn.in_proj_weight``, Stage B's
``clip_mapper``) and tells the four apart as this module does
(``loaders/single_file_utils.py``: ``CHECKPOINT_KEY_NAMES["stable_cascade_stage_c"]``
is ``clip_txt_mapper.weight``, whose first dimension is 2048 or 1536 (lite);
``["stable_cascade_stage_b"]`` is ``down_blocks.1.0.channelwise.0.weight``,
whose last dimension is 640 or 576 (lite)). No Stable Cascade *pipeline*
class has ``from_single_file``: a file is one model, the prior's or the
decoder's, passed to a pipeline loaded from a folder.

So a detection here names the component (``StableCascadeUNet``) with the
config folder this plugin ships for it and says how to pass it: a Stage B as
``decoder=``, a Stage C as ``prior_prior=``, to AutoPipelineForText2Image of a
Stable Cascade decoder. What the header says, compared with each shipped
config (a file is claimed only when one matches exactly, since loading builds
the model from that config and converts the weights into it):

| fact | read from | Stage C / lite | Stage B / lite |
| --- | --- | --- | --- |
| what it is | ``clip_txt_mapper.weight`` present (only Stage C reads text tokens) | yes | no |
| conditioning width | ``clip_txt_mapper.weight``: (width, text width) | 2048 / 1536 | |
| level widths | ``down_blocks.{i}.0.channelwise.0.weight``: (4 x width, width) | 2048, 2048 / 1536, 1536 | 320, 640, 1280, 1280 / 320, 576, 1152, 1152 |
| blocks a level | the ``down_blocks.{i}.{j}`` | 24, 72 / 12, 36 | 4, 12, 84, 18 / 4, 8, 42, 12 |
| pooled text width | ``clip_txt_pooled_mapper`` (or Stage B's original ``clip_mapper``) ``.weight``: (out, 1280) | 1280 | 1280 |

The configs are written from the published architecture (diffusers'
conversion script, scripts/convert_stable_cascade.py): models built from them
have the published sizes, 3.6B and 1.0B parameters (Stage C), 1.56B and 0.70B
(Stage B) (tests/test_single_file.py builds them on the meta device). The
tiny test layouts are the tiny checkpoint's (:mod:`autopipe_cascade.tiny`).
Würstchen: diffusers has no single-file loading for any of its models, so
nothing is detected. Nothing here imports torch.
"""

from __future__ import annotations

import os
import re

from autopipe_core import Detection
from autopipe_core.headers import SafetensorsHeader
from autopipe_core.toolkit.single_file import ConfigFolders, shape

from . import CASCADE, STAGE_B_MARKER, STAGE_C_MARKER  # the detect keys

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: a cold `autopipe resolve FILE` imports this module
if TYPE_CHECKING:
    from typing import Any, Mapping

CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs")
FOLDERS = ConfigFolders(CONFIGS, "autopipe-cascade")

#: The component class every detection names.
COMPONENT = "diffusers:StableCascadeUNet"
#: The pooled-text projection: diffusers' name, and Stage B's in the original layout.
POOLED = ("clip_txt_pooled_mapper.weight", "clip_mapper.weight")
#: An original-layout file's attention (nn.MultiheadAttention), which diffusers' converter splits into to_q, to_k, to_v.
ORIGINAL_ATTENTION = ".attention.attn.in_proj_weight"

#: Variant -> (what it is, the keyword a pipeline takes it by).
VARIANTS: Mapping[str, tuple[str, str]] = {
    "stage-c": ("Stable Cascade's Stage C (the prior, 3.6B)", "prior_prior"),
    "stage-c-lite": ("Stable Cascade's Stage C lite (the prior, 1.0B)", "prior_prior"),
    "stage-b": ("Stable Cascade's Stage B (the decoder, 1.5B)", "decoder"),
    "stage-b-lite": ("Stable Cascade's Stage B lite (the decoder, 0.7B)", "decoder"),
    "stage-c-tiny": ("autopipe-cascade's tiny test Stage C", "prior_prior"),
    "stage-b-tiny": ("autopipe-cascade's tiny test Stage B", "decoder"),
}

_BLOCK = re.compile(r"down_blocks\.(\d+)\.(\d+)\.")


def facts(names: Any, get_shape: Any) -> dict[str, Any]:
    """The facts that tell the stages apart, from tensor names and a name -> shape look-up (a header's or a config's).

    ``widths``: each level's width; ``blocks``: each level's number of blocks;
    ``conditioning``: Stage C's text-mapper width (None for Stage B);
    ``pooled``: the pooled text projection's input width.
    """
    blocks: dict[int, set[int]] = {}
    for name in names:
        m = _BLOCK.match(name)
        if m:
            blocks.setdefault(int(m.group(1)), set()).add(int(m.group(2)))
    levels = sorted(blocks)
    widths = []
    for level in levels:
        s = get_shape(f"down_blocks.{level}.0.channelwise.0.weight")
        widths.append(s[-1] if s else None)
    mapper = get_shape(STAGE_C_MARKER)
    pooled = next((s for s in (get_shape(k) for k in POOLED) if s), None)
    return {
        "widths": tuple(widths),
        "blocks": tuple(len(blocks[level]) for level in levels),
        "conditioning": mapper[0] if mapper else None,
        "pooled": pooled[-1] if pooled else None,
    }


def config_facts(config: Mapping[str, Any]) -> dict[str, Any]:
    """The same facts, as a StableCascadeUNet built from `config` (a config.json) has them."""
    types = config["block_types_per_layer"]
    stage_c = config.get("clip_text_in_channels") is not None
    return {
        "widths": tuple(config["block_out_channels"]),
        "blocks": tuple(n * len(t) for n, t in zip(config["down_num_layers_per_block"], types)),
        "conditioning": config["conditioning_dim"] if stage_c else None,
        "pooled": config["clip_text_pooled_in_channels"],
    }


def _header_facts(header: SafetensorsHeader) -> dict[str, Any]:
    return facts(header.tensors, lambda key: shape(header, key))


def _use(variant: str, folder: str) -> str:
    what, keyword = VARIANTS[variant]
    into = "a Stable Cascade decoder folder (stabilityai/stable-cascade style; its card names the prior)"
    return (
        f"it is {what}, one StableCascadeUNet: load it with diffusers.StableCascadeUNet.from_single_file(path, "
        f"config={folder!r}, local_files_only=True) and pass it as {keyword}= to "
        f"AutoPipelineForText2Image.from_pretrained of {into}"
    )


def detect(header: SafetensorsHeader) -> Detection | None:
    """Stage B or C (full, lite, or the tiny test layout) as the component StableCascadeUNet; None for anything else.

    A file with Stage B's or C's marker whose facts match no shipped config
    (another architecture) is not claimed: it could not be loaded offline.
    """
    is_c = STAGE_C_MARKER in header.tensors
    if not is_c and shape(header, STAGE_B_MARKER) is None:
        return None
    seen = _header_facts(header)
    if not seen["widths"] or None in seen["widths"]:
        return None
    for variant in VARIANTS:
        if variant.startswith("stage-c") != is_c:
            continue
        folder = FOLDERS.get_path(variant)
        if folder is None or config_facts(FOLDERS.config(variant)) != seen:
            continue
        layout = "original" if any(name.endswith(ORIGINAL_ATTENTION) for name in header.tensors) else "diffusers'"
        what = VARIANTS[variant][0]
        reason = (
            f"{what} in {layout} layout: {STAGE_C_MARKER if is_c else 'no text-token mapper'}, level widths "
            f"{list(seen['widths'])}, blocks {list(seen['blocks'])}, as its shipped config"
        )
        return Detection(CASCADE, variant, 0.95, reason, component=COMPONENT, config=folder, use=_use(variant, folder))
    return None
