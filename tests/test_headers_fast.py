"""The plain decoding of a header as writers write it (headers.plain_header) against the careful one and the library.

A header is first decoded by json.loads alone when cheap checks of its bytes rule out what that cannot see; anything
it cannot vouch for goes to the careful path. Each case here is read three ways: with the fast path, with the
careful path alone (``FAST_HEADER_BYTES`` below every header), and by ``safetensors.safe_open``: the same tensors
and metadata, or the same refusal, every time. The cases aim at the fast path's conditions: a key twice inside an
entry, ``__metadata__`` twice, a name twice, escapes, the text ``"data_offsets"`` as a name, ``-0``, ``1.0``,
``true``, numbers past 64 bits, entries out of offset order, unknown keys, whitespace.

A header byte for byte as the safetensors library writes it skips even json.loads (headers.library_header): each case
says whether that path takes it, and what it takes must read the same as the careful path; a property test
(hypothesis) mutates such headers one byte at a time and holds the fast paths to the careful one.
"""

from __future__ import annotations

import io
import os
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors import safe_open
from safetensors.numpy import save as library_save

import autopipe_core.headers as headers
import single_file_layouts as layouts
from autopipe_core import InvalidModelError
from autopipe_core.headers import DTYPE_BITS, library_header, parse_header, plain_header, read_header, write_header


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
    # the library's own layout, and what is one byte away from it
    "metadata last": ('{"a":' + _entry() + ',"__metadata__":{"format":"pt"}}', 4, True),
    "metadata between tensors": ('{"a":' + _entry() + ',"__metadata__":{"format":"pt"},"b":' + _entry(offsets="[4,8]") + "}", 8, True),
    "braces in a metadata value": ('{"__metadata__":{"x":"}{,"},"a":' + _entry() + "}", 4, True),
    "empty metadata": ('{"__metadata__":{},"a":' + _entry() + "}", 4, True),
    "spaces after the header": ('{"a":' + _entry() + "}      ", 4, True),
    "a scalar": ('{"a":' + _entry(shape="[]", offsets="[0,2]") + "}", 2, True),
    "a name of brackets and commas": ('{"],{:x":' + _entry() + ',"b,0":' + _entry(offsets="[4,8]") + "}", 8, True),
    "a name not ASCII": ('{"é😀":' + _entry() + "}", 4, True),
    "a blank between entries": ('{"a":' + _entry() + ', "b":' + _entry(offsets="[4,8]") + "}", 8, True),
    "a tensor named __metadata__": ('{"__metadata__":' + _entry() + "}", 4, False),
    "a control character in a name": ('{"a\x01":' + _entry() + "}", 4, False),
    "a tab in a metadata value": ('{"__metadata__":{"k":"a\tb"},"a":' + _entry() + "}", 4, False),
    "a leading zero in a shape": ('{"a":' + _entry(shape="[02]") + "}", 4, False),
    "a leading zero in an offset": ('{"a":' + _entry(offsets="[0,04]") + "}", 4, False),
    "00 as the first offset": ('{"a":' + _entry(offsets="[00,4]") + "}", 4, False),
    "an empty dimension": ('{"a":' + _entry(shape="[1,,2]") + "}", 4, False),
    "two commas between entries": ('{"a":' + _entry() + ',,"b":' + _entry(offsets="[4,8]") + "}", 8, False),
    "no comma between entries": ('{"a":' + _entry() + '"b":' + _entry(offsets="[4,8]") + "}", 8, False),
    "a comma before the first entry": ('{,"a":' + _entry() + "}", 4, False),
    "a blank for the comma after the metadata": ('{"__metadata__":{"k":"v"} "a":' + _entry() + "}", 4, False),
    "a blank for the comma before the metadata": ('{"a":' + _entry() + ' "__metadata__":{"k":"v"}}', 4, False),
    # what a reader that splits the text at its quotes must not take: pieces that tile it but are no entry alone
    "offsets of one number and of three": ('{"a":' + _entry(offsets="[0]") + ',"b":' + _entry(offsets="[4,4,8]") + "}", 8, False),
    "a second pair after a bar, out of offset order": ('{"a":' + _entry(offsets="[4,8]},|:[0,4]") + ',"b":' + _entry(offsets="[8,12]") + "}", 8, False),
    "a blank in a shape": ('{"a":' + _entry(shape="[1, 2]") + "}", 4, True),
    "a plus sign in an offset": ('{"a":' + _entry(offsets="[0,+4]") + "}", 4, False),
    "an underscore in a dimension": ('{"a":' + _entry(shape="[1_0]", offsets="[0,20]") + "}", 20, False),
    "a digit not ASCII in a dimension": ('{"a":' + _entry(shape="[\u0662]".encode().decode("unicode_escape")) + "}", 4, False),
    "no comma between metadata members": ('{"__metadata__":{"a":"b""c":"d"},"x":' + _entry() + "}", 4, False),
    "a comma after the last metadata member": ('{"__metadata__":{"a":"b",},"x":' + _entry() + "}", 4, False),
    "metadata and a tensor named __metadata__": ('{"__metadata__":{"k":"v"},"__metadata__":' + _entry() + "}", 4, False),
    "out of offset order, from past 0": ('{"b":' + _entry(offsets="[6,10]") + ',"a":' + _entry(offsets="[2,6]") + "}", 10, False),
    "out of offset order, spans not their sizes": ('{"b":' + _entry(offsets="[6,8]") + ',"a":' + _entry(offsets="[0,6]") + "}", 8, False),
    "metadata alone": ('{"__metadata__":{"k":"v"}}', 0, False),
    "a dimension past 64 bits after a 0": ('{"a":' + _entry(shape="[0,18446744073709551616]", offsets="[0,0]") + "}", 0, False),
}

#: The cases library_header reads from the bytes; every other one is left to json.loads or the careful path.
LIBRARY_TAKES = {
    "as writers write it", "with metadata", "out of offset order", "a tensor named data_offsets", "zero-size tensors",
    "dashes in strings", "metadata last", "braces in a metadata value", "empty metadata", "spaces after the header", "a scalar",
    "a name of brackets and commas", "a name not ASCII",
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
    library = library_header(raw, data) if "\\" not in text else None  # it is only ever asked about headers without one
    assert (library is not None) == (name in LIBRARY_TAKES), library
    if library is not None:
        assert (list(library[0].items()), library[1]) == careful
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
    assert library_header(raw, path.stat().st_size - 8 - len(raw)) is not None  # write_header writes as the library does
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


def _careful(raw: bytes, data: int):
    """(tensors, metadata) of a header's JSON bytes read by the careful path alone, or the refusal's message."""
    blob = struct.pack("<Q", len(raw)) + raw + b"\0" * data
    with pytest.MonkeyPatch.context() as m:  # as _read does; hypothesis gives no monkeypatch fixture per example
        m.setattr(headers, "FAST_HEADER_BYTES", -1)
        try:
            header = parse_header(io.BytesIO(blob), len(blob), "h")
        except InvalidModelError as exc:
            return str(exc)
    return list(header.tensors.items()), dict(header.metadata)


def test_the_librarys_own_files_are_read_from_their_bytes(tmp_path, monkeypatch):
    """safetensors' own writer (metadata first, several dtypes, a scalar, an empty tensor, names of any characters)."""
    tensors = {
        "b": np.zeros((2, 3), np.float16), "a": np.zeros((0,), np.float32), "c,d-e]}": np.zeros((1,), np.int64),
        "s": np.zeros((), np.float64), "é": np.zeros((4, 1), np.uint8),
    }
    blob = library_save(tensors, metadata={"format": "pt", "x": "}{,", "date": "2023-07-26"})
    length = int.from_bytes(blob[:8], "little")
    raw, data = blob[8:8 + length], len(blob) - 8 - length
    taken = library_header(raw, data)
    assert taken is not None
    assert (list(taken[0].items()), taken[1]) == _careful(raw, data)
    assert {n: info.shape for n, info in taken[0].items()} == {n: v.shape for n, v in tensors.items()}


# --- library_header against the careful path, on headers one byte away from the library's layout -------------------

_names = st.text(st.sampled_from('ab.0,]}{:é"\x01 '), max_size=5)


@st.composite
def _library_layout(draw):
    """A header as the library writes it, then maybe one byte inserted, removed or changed: (JSON bytes, data bytes)."""
    names = draw(st.lists(_names, min_size=1, max_size=5))
    position, entries = 0, []
    for name in names:
        dtype = draw(st.sampled_from(["F16", "BF16", "F32", "I64", "U8", "F4"]))
        shape = draw(st.lists(st.integers(0, 3), max_size=3))
        size = -(-DTYPE_BITS[dtype] * int(np.prod(shape)) // 8)
        entries.append((name, f'{{"dtype":"{dtype}","shape":[{",".join(map(str, shape))}],"data_offsets":[{position},{position + size}]}}'))
        position += size
    if draw(st.booleans()):
        entries.reverse()  # out of offset order
    text = ",".join(f'"{name}":{entry}' for name, entry in entries)
    meta = draw(st.none() | st.dictionaries(_names, _names, max_size=2))
    if meta is not None:
        pairs = "{" + ",".join(f'"{k}":"{v}"' for k, v in meta.items()) + "}"
        text = f'"__metadata__":{pairs},{text}' if draw(st.booleans()) else f'{text},"__metadata__":{pairs}'
    raw = ("{" + text + "}" + " " * draw(st.integers(0, 7))).encode()
    edit = draw(st.sampled_from(["none", "insert", "delete", "replace"]))
    if edit != "none":
        at = draw(st.integers(0, len(raw) - 1))
        byte = draw(st.sampled_from(b',"0 }{:]1\x01'))
        raw = raw[:at] + (bytes([byte]) if edit != "delete" else b"") + raw[at + (edit != "insert"):]
    return raw, position + draw(st.sampled_from([0, 0, 0, 1]))


@settings(max_examples=int(os.environ.get("AUTOPIPE_FUZZ_EXAMPLES", "300")), deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(_library_layout())
def test_library_header_reads_only_what_the_careful_path_reads_alike(case):
    raw, data = case
    if b"\\" in raw:
        return  # plain_header never asks library_header about a backslash
    taken = library_header(raw, data)
    careful = _careful(raw, data)
    if taken is not None:
        assert (list(taken[0].items()), taken[1]) == careful


def test_shapes_kept_between_headers_are_kept_per_dtype_and_bounded(monkeypatch):
    # A scan reads many headers of few layouts, so a parsed shape is kept for the next header: keyed on the dtype
    # too (the same "[2]" spans 4 bytes in F16, 8 in F32), and emptied when full.
    f16 = '{"a":' + _entry("F16", "[2]", "[0,4]") + "}"
    f32 = '{"a":' + _entry("F32", "[2]", "[0,8]") + "}"
    assert library_header(f16.encode(), 4)[0]["a"].dtype == "F16"
    assert library_header(f32.encode(), 4) is None  # 4 bytes of F16 [2] do not vouch for an F32 [2]
    assert library_header(f32.encode(), 8)[0]["a"].dtype == "F32"
    monkeypatch.setattr(headers, "_SHAPES", {})
    monkeypatch.setattr(headers, "_SHAPES_KEPT", 3)
    for n in range(1, 8):
        raw = ('{"a":' + _entry("U8", f"[{n}]", f"[0,{n}]") + ',"b":' + _entry("U8", f"[{n},2]", f"[{n},{3 * n}]") + "}").encode()
        taken = library_header(raw, 3 * n)
        assert (list(taken[0].items()), taken[1]) == _careful(raw, 3 * n)
        assert len(headers._SHAPES) <= 3
