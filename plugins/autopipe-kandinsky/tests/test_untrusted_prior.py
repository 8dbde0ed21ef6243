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


def test_a_huge_model_card_is_refused_without_reading_it(tmp_path):
    import os

    import pytest

    from autopipe_core import InvalidModelError
    from autopipe_core.sources import MAX_CARD_BYTES, card_data

    (tmp_path / "README.md").write_bytes(b"---\nprior: [x]\n---\n")
    os.truncate(tmp_path / "README.md", 4 << 30)  # a sparse 4 GiB card
    with pytest.raises(InvalidModelError, match=f"reads at most {MAX_CARD_BYTES}"):
        card_data(tmp_path)


def test_a_model_card_fifo_fails_at_once(tmp_path):
    import os

    import pytest

    from autopipe_core import InvalidModelError
    from autopipe_core.sources import card_data

    os.mkfifo(tmp_path / "README.md")
    with pytest.raises(InvalidModelError, match="not a regular file"):
        card_data(tmp_path)
