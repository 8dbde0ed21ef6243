"""The plain decoding of a header as writers write it (headers.plain_header) against the careful one and the library.

A header is first decoded by json.loads alone when cheap checks of its bytes rule out what that cannot see; anything
it cannot vouch for goes to the careful path. Each case here is read three ways: with the fast path, with the
careful path alone (``FAST_HEADER_BYTES`` below every header), and by ``safetensors.safe_open``: the same tensors
and metadata, or the same refusal, every time. The cases aim at the fast path's conditions: a key twice inside an
entry, ``__metadata__`` twice, a name twice, escapes, the text ``"data_offsets"`` as a name, ``-0``, ``1.0``,
``true``, numbers past 64 bits, entries out of offset order, unknown keys, whitespace.
"""

from __future__ import annotations

import struct

import pytest
from safetensors import safe_open

import autopipe_core.headers as headers
import single_file_layouts as layouts
from autopipe_core import InvalidModelError
from autopipe_core.headers import plain_header, read_header, write_header


def _entry(dtype: str = "F16", shape: str = "[2]", offsets: str = "[0,4]") -> str:
    return f'{{"dtype":"{dtype}","shape":{shape},"data_offsets":{offsets}}}'


#: name -> (the header's JSON text, the data bytes after it, whether the plain decoding may take it)
CASES = {
    "as writers write it": ('{"a":' + _entry() + ',"b":' + _entry(offsets="[4,8]") + "}", 8, True),
    "with metadata": ('{"__metadata__":{"format":"pt","k":"v:w"},"a":' + _entry() + "}", 4, True),
    "metadata null": ('{"__metadata__":null,"a":' + _entry() + "}", 4, True),
    "out of offset order": ('{"b":' + _entry(offsets="[4,8]") + ',"a":' + _entry() + "}", 8, True),
    "a tensor named data_offsets": ('{"data_offsets":' + _entry() + ',"dtype":' + _entry(offsets="[4,8]") + "}", 8, True),
    "pretty-printed": ('{\n  "a": {"dtype": "F16", "shape": [2], "data_offsets": [0, 4]}\n}   ', 4, True),
    "zero-size tensors": ('{"a":' + _entry(shape="[0]", offsets="[0,0]") + ',"b":' + _entry() + "}", 4, True),
    "dtype twice in an entry": ('{"a":{"dtype":"F16","dtype":"F32","shape":[2],"data_offsets":[0,4]}}', 4, False),
    "shape twice in an entry": ('{"a":{"dtype":"F16","shape":[4],"shape":[2],"data_offsets":[0,4]}}', 4, False),
    "offsets twice in an entry": ('{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,8],"data_offsets":[0,4]}}', 4, False),
    "metadata twice": ('{"__metadata__":{"a":"b"},"__metadata__":{"c":"d"},"a":' + _entry() + "}", 4, False),
    "a key twice in the metadata": ('{"__metadata__":{"a":"b","a":"c"},"x":' + _entry() + "}", 4, False),
    "a name twice": ('{"a":' + _entry() + ',"a":' + _entry(offsets="[4,8]") + "}", 8, False),
    "a name twice, the last tiling": ('{"a":' + _entry(offsets="[4,8]") + ',"a":' + _entry() + "}", 4, False),
    "an unknown key": ('{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4],"extra":1}}', 4, False),
    "another key order": ('{"a":{"shape":[2],"dtype":"F16","data_offsets":[0,4]}}', 4, True),
    "a \\u escape in a name": ('{"\\u0061b":' + _entry() + "}", 4, False),
    "an escaped quote in a name": ('{"x\\"data_offsets\\"":' + _entry() + "}", 4, False),
    "a lone surrogate": ('{"\\ud800":' + _entry() + "}", 4, False),
    "dashes in strings": ('{"__metadata__":{"date":"2023-07-26"},"a-0":' + _entry() + "}", 4, True),
    "-5 in a shape": ('{"a":' + _entry(shape="[-5,2]") + "}", 4, False),
    "-0 after a blank": ('{"a":' + _entry(shape="[1, -0]") + "}", 4, False),
    "-0 in a shape": ('{"a":' + _entry(shape="[-0,2]") + "}", 4, False),
    "1.0 in a shape": ('{"a":' + _entry(shape="[1.0,2]") + "}", 4, False),
    "true in a shape": ('{"a":' + _entry(shape="[true,2]") + "}", 4, False),
    "true beside an equal shape": ('{"a":' + _entry(shape="[1,2]") + ',"b":' + _entry(shape="[true,2]", offsets="[4,8]") + "}", 8, False),
    "null in offsets": ('{"a":' + _entry(offsets="[null,4]") + "}", 4, False),
    "an offset past 64 bits": ('{"a":' + _entry(offsets="[0,18446744073709551620]") + "}", 4, False),
    "a shape past 64 bits": ('{"a":' + _entry(shape="[18446744073709551616]") + "}", 4, False),
    "1e400": ('{"a":' + _entry(shape="[1e400]") + "}", 4, False),
    "NaN": ('{"a":' + _entry(shape="[NaN]") + "}", 4, False),
    "an unknown dtype": ('{"a":' + _entry(dtype="F99") + "}", 4, False),
    "a gap": ('{"a":' + _entry(offsets="[0,4]") + ',"b":' + _entry(offsets="[6,10]") + "}", 10, False),
    "bytes after the tensors": ('{"a":' + _entry() + "}", 6, False),
    "a string in a shape": ('{"a":' + _entry(shape='["2"]') + "}", 4, False),
    "a list in a shape": ('{"a":' + _entry(shape="[[2]]") + "}", 4, False),
    "an array entry": ('{"a":["F16",[2],[0,4]]}', 4, False),
    "not an object": ("[1]", 0, False),
}


def _file(tmp_path, name: str, text: str, data: int):
    raw = text.encode()
    path = tmp_path / (name.replace(" ", "_").replace("\\", "") + ".safetensors")
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * data)
    return path


def _read(path, monkeypatch, careful: bool):
    """(tensors, metadata) as read, or the refusal's message."""
    with monkeypatch.context() as m:
        if careful:
            m.setattr(headers, "FAST_HEADER_BYTES", -1)
        try:
            header = read_header(path)
        except InvalidModelError as exc:
            return str(exc)
    return list(header.tensors.items()), dict(header.metadata)


def _library(path):
    try:
        with safe_open(str(path), framework="numpy") as f:
            return {name: f.get_slice(name).get_shape() for name in f.keys()}
    except Exception:  # noqa: BLE001 - the library raises several kinds; any is a refusal
        return None


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_plain_decoding_agrees_with_the_careful_one_and_the_library(tmp_path, monkeypatch, name):
    text, data, plain = CASES[name]
    path = _file(tmp_path, name, text, data)
    raw = text.encode()
    taken = plain_header(raw, text, data)
    assert (taken is not None) == plain, taken
    fast, careful = _read(path, monkeypatch, False), _read(path, monkeypatch, True)
    assert fast == careful
    theirs = _library(path)
    if isinstance(fast, str):
        assert theirs is None, f"autopipe refuses what the library reads: {fast}"
    else:
        assert theirs is not None, "autopipe reads what the library refuses"
        assert {n: list(info.shape) for n, info in fast[0]} == {n: list(s) for n, s in theirs.items()}


@pytest.mark.parametrize("layout", ["sd1", "xl-base", "xl-refiner"])
def test_real_headers_take_the_plain_path_and_read_the_same(tmp_path, monkeypatch, layout):
    path = layouts.write(tmp_path / f"{layout}.safetensors", layouts.layout(layout), {"format": "pt", "modelspec.date": "2023-07-26T00:00:00"})
    with open(path, "rb") as f:
        raw = f.read(int.from_bytes(f.read(8), "little"))
    assert plain_header(raw, raw.decode(), path.stat().st_size - 8 - len(raw)) is not None
    fast, careful = _read(path, monkeypatch, False), _read(path, monkeypatch, True)
    assert fast == careful and len(fast[0]) == len(layouts.layout(layout))
    shared = {id(info) for _, info in fast[0]}
    assert len(shared) < len(fast[0]) / 5  # tensors of one dtype and shape share one TensorInfo, as on the careful path


def test_mixed_dtypes_and_a_header_above_the_plain_limit(tmp_path, monkeypatch):
    tensors = {f"t{i}": ("F16" if i % 2 else "BF16", (8, 4)) for i in range(40)} | {"u8": ("U8", (3,)), "f4": ("F4", (2, 4))}
    path = write_header(tmp_path / "m.safetensors", tensors)
    fast = read_header(path)
    assert {n: (t.dtype, t.shape) for n, t in fast.tensors.items()} == tensors
    assert fast.tensors["t1"] is fast.tensors["t3"] and fast.tensors["t0"] is not fast.tensors["t1"]
    monkeypatch.setattr(headers, "FAST_HEADER_BYTES", 16)  # too large for the plain path: the careful one reads it alike
    assert read_header(path).tensors == fast.tensors
