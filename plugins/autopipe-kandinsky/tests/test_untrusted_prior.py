"""The prior a decoder's model card names is another stranger's checkpoint: it is checked like the decoder itself."""

import json

import pytest

from autopipe_core import AutoPipelineForText2Image, UntrustedCodeError


def _linked_copy(src, dest, skip=()):
    dest.mkdir()
    for item in src.iterdir():
        if item.name not in skip:
            (dest / item.name).symlink_to(item, target_is_directory=item.is_dir())
    return dest


def test_a_prior_naming_a_foreign_library_is_refused_before_it_is_loaded(tiny_k22, tmp_path):
    decoder = _linked_copy(tiny_k22, tmp_path / "decoder", skip=("prior",))
    prior = _linked_copy(tiny_k22 / "prior", decoder / "prior", skip=("model_index.json",))
    index = json.loads((tiny_k22 / "prior" / "model_index.json").read_text())
    index["text_encoder"] = ["os", "system"]
    (prior / "model_index.json").write_text(json.dumps(index))
    with pytest.raises(UntrustedCodeError, match=r"prior: .*text_encoder: \['os', 'system'\]"):
        AutoPipelineForText2Image.from_pretrained(decoder)
