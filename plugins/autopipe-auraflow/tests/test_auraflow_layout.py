"""The original (fal/ComfyUI) layout this plugin writes its tiny single files in, checked against diffusers' own converter."""

from __future__ import annotations

import pytest

from autopipe_auraflow import layout, tiny


def test_the_original_layout_converts_back_to_the_very_state_dict_diffusers_started_from():
    import torch
    from diffusers.loaders.single_file_utils import convert_auraflow_transformer_checkpoint_to_diffusers as convert

    state = tiny.transformer().state_dict()
    back = convert(dict(layout.original(state)))
    assert set(back) == set(state)
    assert all(torch.equal(back[name], state[name]) for name in state)


def test_diffusers_converter_still_cannot_read_comfyuis_prefix():
    """Why single_file.transformer_weights strips the prefix itself: the converter parses the prefix's words as block numbers."""
    from diffusers.loaders.single_file_utils import convert_auraflow_transformer_checkpoint_to_diffusers as convert

    prefixed = {layout.COMFY_PREFIX + name: tensor for name, tensor in layout.original(tiny.transformer().state_dict()).items()}
    with pytest.raises(ValueError, match="invalid literal for int"):
        convert(prefixed)
