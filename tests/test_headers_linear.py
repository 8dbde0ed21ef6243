"""Header parsing in time and memory linear in the tensors, with small constants (issue 20, point 3).

What is observable of it: the cyclic collector is off while the JSON is decoded and back as it was afterwards,
however the parse ends; tensors of one dtype and shape share one TensorInfo (a million tensors of a few shapes are
not a million objects), without letting a shape that only equals a cached one (``2.0``, ``true``, ``-0``) through;
and the header's sorted index of names answers prefix questions, so detection reads each name once.
"""

from __future__ import annotations

import gc
import json
import random
import struct

import pytest

from autopipe_core import InvalidModelError, headers
from autopipe_core.headers import SafetensorsHeader, TensorInfo, read_header, write_header
from autopipe_core.toolkit.single_file import first_key


def _file(tmp_path, entries: dict, name: str = "x.safetensors", data: int | None = None):
    raw = json.dumps(entries, separators=(",", ":")).encode()
    size = max((e["data_offsets"][1] for e in entries.values() if isinstance(e, dict) and "data_offsets" in e), default=0)
    path = tmp_path / name
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * (size if data is None else data))
    return path


@pytest.mark.parametrize("enabled", [True, False])
def test_the_collector_is_off_while_decoding_and_restored_after_a_parse_that_raises(tmp_path, monkeypatch, enabled):
    seen = []
    loads = json.loads

    def spy(*args, **kwargs):
        seen.append(gc.isenabled())
        return loads(*args, **kwargs)

    monkeypatch.setattr(json, "loads", spy)
    bad = [
        tmp_path.joinpath("notjson.safetensors"),
        _file(tmp_path, {"a": {"dtype": "F16", "shape": [2], "data_offsets": [0, 3]}}, "span.safetensors"),
        _file(tmp_path, {"a": {"dtype": "F99", "shape": [2], "data_offsets": [0, 4]}}, "dtype.safetensors"),
    ]
    bad[0].write_bytes(struct.pack("<Q", 4) + b"{x}}")
    (gc.enable if enabled else gc.disable)()
    try:
        for path in bad:
            with pytest.raises(InvalidModelError):
                read_header(path)
            assert gc.isenabled() is enabled
        read_header(write_header(tmp_path / "ok.safetensors", {"a": ("F16", (2,))}))
        assert gc.isenabled() is enabled
    finally:
        gc.enable()
    assert len(seen) >= 4 and not any(seen)  # every decoding, plain or careful (a refused header is decoded by both)


def test_tensors_of_one_dtype_and_shape_share_one_info(tmp_path):
    header = read_header(write_header(tmp_path / "m.safetensors", {f"t{i}": ("F16", (8, 4, 3, 3)) for i in range(50)} | {"u": ("BF16", (8, 4, 3, 3)), "v": ("F16", (4, 8, 3, 3))}))
    infos = {id(info) for info in header.tensors.values()}
    assert len(infos) == 3 and header.tensors["t0"] is header.tensors["t49"]
    assert header.tensors["t0"] == TensorInfo("F16", (8, 4, 3, 3)) and header.tensors["u"].dtype == "BF16"
    assert header.data_bytes == 50 * 8 * 4 * 9 * 2 + 8 * 4 * 9 * 2 + 4 * 8 * 9 * 2
    # The library's layout keeps each parsed (dtype, shape text) for the next header (bounded, keyed on the text, so
    # 2.0 or true never stands in for 2: tests/test_headers_fast.py); a header read any other way keeps nothing.
    again = read_header(tmp_path / "m.safetensors")
    assert again.tensors["t0"] == header.tensors["t0"] and again.tensors["t0"] is header.tensors["t0"]
    headers._SHAPES.clear()
    assert read_header(tmp_path / "m.safetensors").tensors["t0"] is not header.tensors["t0"]
    with pytest.MonkeyPatch.context() as m:
        m.setattr(headers, "FAST_HEADER_BYTES", -1)
        careful = read_header(tmp_path / "m.safetensors")
        assert careful.tensors == header.tensors and read_header(tmp_path / "m.safetensors").tensors["t0"] is not careful.tensors["t0"]


@pytest.mark.parametrize("odd, problem", [
    ("2.0", "shape that is not a list of non-negative integers"),
    ("true", "shape that is not a list of non-negative integers"),
])
def test_a_shape_that_only_equals_a_cached_one_is_still_refused(tmp_path, odd, problem):
    # [2, 1] is decoded first and cached; [2.0, 1] and [true, 1]... equal it in Python, not in serde.
    first = '"a":{"dtype":"F16","shape":[2,1],"data_offsets":[0,4]}'
    second = '"b":{"dtype":"F16","shape":[%s,1],"data_offsets":[4,8]}' % odd
    if odd == "true":
        second = '"b":{"dtype":"F16","shape":[1,true],"data_offsets":[4,6]}'
        first = '"a":{"dtype":"F16","shape":[1,1],"data_offsets":[0,2]}'
    raw = ("{" + first + "," + second + "}").encode()
    path = tmp_path / "x.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * 8)
    with pytest.raises(InvalidModelError, match=problem):
        read_header(path)


def test_a_negative_zero_after_a_cached_zero_is_refused(tmp_path):
    raw = b'{"a":{"dtype":"F16","shape":[0],"data_offsets":[0,0]},"b":{"dtype":"F16","shape":[-0],"data_offsets":[0,0]}}'
    path = tmp_path / "x.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw)) + raw)
    with pytest.raises(InvalidModelError, match="shape that is not a list of non-negative integers"):
        read_header(path)


def test_the_index_of_names_answers_like_a_pass_over_every_name():
    rng = random.Random(20)
    parts = ["model", "diffusion_model", "conditioner", "embedders", "0", "1", "a", "ab", "\U0010ffff", "é", ""]
    names = {".".join(rng.choice(parts) for _ in range(rng.randint(1, 4))) for _ in range(400)}
    header = SafetensorsHeader("x", 0, 0, {n: TensorInfo("F16", ()) for n in names})
    assert header.names == tuple(sorted(names)) and header.names is header.names  # built once
    for prefix in {"", "model", "model.", "a", "ab", "\U0010ffff", "é.", "zzz", *rng.sample(sorted(names), 50), *(n[:3] for n in names)}:
        expected = tuple(sorted(n for n in names if n.startswith(prefix)))
        assert header.with_prefix(prefix) == expected, prefix
        assert header.has_prefix(prefix) is bool(expected), prefix


class CountedNames(dict):
    """A header's tensors that count how often every name is walked."""

    walks = 0

    def __iter__(self):
        type(self).walks += 1
        return super().__iter__()

    def keys(self):
        type(self).walks += 1
        return super().keys()

    def items(self):
        type(self).walks += 1
        return super().items()


def test_detection_walks_the_names_once_whatever_it_asks():
    from autopipe_sdxl.single_file import detect

    unet = "model.diffusion_model."
    tensors = CountedNames({
        unet + "label_emb.0.0.weight": TensorInfo("F16", (1536, 2560)), unet + "input_blocks.0.0.weight": TensorInfo("F16", (384, 4, 3, 3)),
        "conditioner.embedders.0.model.token_embedding.weight": TensorInfo("F16", (49408, 1280)),
        **{f"{unet}middle_block.{i}.weight": TensorInfo("F16", (4,)) for i in range(100)},
    })
    header = SafetensorsHeader("x", 0, 0, tensors)
    CountedNames.walks = 0
    (found,) = detect(header)
    assert found.variant == "xl-refiner"
    assert CountedNames.walks == 1  # the index is built from one walk; before, each has_prefix walked every name
    assert first_key(header, unet, "input_blocks.0.0.weight") == unet + "input_blocks.0.0.weight"
    assert first_key(header, unet + "middle_block.1", ".weight") == unet + "middle_block.1.weight"
    assert first_key(header, "nothing.", ".weight") is None
    assert CountedNames.walks == 1
