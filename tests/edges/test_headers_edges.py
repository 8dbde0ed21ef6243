"""Every refusal of the safetensors header reader (headers.py), word for word, and what an accepted header holds.

Each case is the smallest file that breaks one rule; the reader must name that rule. The accepted ones check the
figures the planner reads (parameters, bytes, bytes per dtype) and the metadata.
"""

from __future__ import annotations

import gc
import json
import struct

import pytest

from autopipe_core import InvalidModelError, ModelNotFoundError
from autopipe_core.headers import MAX_HEADER_BYTES, MAX_TENSOR_NAME, TensorInfo, header_to_json, read_header, write_header

TAIL = ". It may be truncated or corrupt: download it again, or convert the original with the safetensors library."


def _file(tmp_path, raw: bytes | str, data: int = 0, length: int | None = None, name: str = "x.safetensors"):
    raw = raw.encode() if isinstance(raw, str) else raw
    path = tmp_path / name
    path.write_bytes(struct.pack("<Q", len(raw) if length is None else length) + raw + b"\0" * data)
    return path


def _problem(path) -> str:
    with pytest.raises(InvalidModelError) as info:
        read_header(path)
    text = str(info.value)
    head = f"{path} is not a valid safetensors file: "
    assert text.startswith(head) and text.endswith(TAIL), text
    return text[len(head): -len(TAIL)]


def _t(dtype="F32", shape=(1,), offsets=(0, 4)):
    return {"dtype": dtype, "shape": list(shape), "data_offsets": list(offsets)}


CASES = {
    "gap": ({"a": _t(offsets=(0, 4)), "b": _t(offsets=(8, 12))}, 12, "tensor 'b' starts at byte 8 of the data, leaving a gap of 4 bytes after the tensor before it"),
    "overlap": ({"a": _t(shape=(2,), offsets=(0, 8)), "b": _t(offsets=(4, 8))}, 8, "tensor 'b' starts at byte 4 of the data, an overlap of 4 bytes with the tensor before it"),
    "trailing": ({"a": _t()}, 6, "its tensors end at byte 4 of the data section, but the file holds 2 bytes more"),
    "trailing out of order": ({"b": _t(offsets=(4, 8)), "a": _t()}, 10, "its tensors end at byte 8 of the data section, but the file holds 2 bytes more"),
    "too short": ({"a": _t(shape=(2,), offsets=(0, 4))}, 4, "tensor 'a' spans 4 bytes, but F32 [2] needs 8"),
    "reversed": ({"a": _t(offsets=(4, 0))}, 4, "tensor 'a' has data offsets [4, 0] that end before they start"),
    "past the end": ({"a": _t(offsets=(0, 8))}, 4, "tensor 'a' has data offsets [0, 8] outside the file's 4 data bytes"),
    "part bytes": ({"a": _t(dtype="F4", shape=(3,), offsets=(0, 1))}, 1, "tensor 'a' is 12 bits of F4, not a whole number of bytes"),
    "overflow": ({"a": _t(shape=(2**32, 2**32), offsets=(0, 4))}, 4, "tensor 'a' has the shape [4294967296, 4294967296] whose size overflows 64 bits"),
    "many dims": ({"a": _t(shape=(1,) * 9 + (2**33, 2**33), offsets=(0, 4))}, 4, f"tensor 'a' has the shape {[1] * 8}... whose size overflows 64 bits"),
    "unknown dtype": ({"a": _t(dtype="F99")}, 4, "tensor 'a' has the unknown dtype 'F99' (safetensors knows "),
    "negative shape": ({"a": _t(shape=(-1,))}, 4, "tensor 'a' has a shape that is not a list of non-negative integers under 2**64"),
    "huge shape": ({"a": _t(shape=(2**64,))}, 4, "tensor 'a' has a shape that is not a list of non-negative integers under 2**64"),
    "three offsets": ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4, 8]}}, 4, "tensor 'a' has data offsets [0, 4, 8] that are not two non-negative integers under 2**64"),
    "float offsets": ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4.0]}}, 4, "tensor 'a' has data offsets [0, 4.0] that are not two non-negative integers under 2**64"),
    "huge offset": ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 2**64]}}, 4, "tensor 'a' has data offsets [0, 18446744073709551616] that are not two non-negative integers under 2**64"),
    "missing keys": ({"a": {"dtype": "F32"}}, 4, "tensor 'a' has no shape and no data_offsets"),
    "array of two": ({"a": ["F32", [1]]}, 4, "the entry of tensor 'a' is an array of 2 items, not [dtype, shape, data_offsets]"),
    "a string": ({"a": "F32"}, 4, "the entry of tensor 'a' is not an object"),
    "metadata of numbers": ({"__metadata__": {"a": 1}}, 0, "its __metadata__ is not an object of strings"),
    "metadata not an object": ({"__metadata__": ["a"]}, 0, "its __metadata__ is not an object of strings"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_rule_broken_is_named(tmp_path, case):
    entries, data, problem = CASES[case]
    said = _problem(_file(tmp_path, json.dumps(entries), data))
    assert said.startswith(problem) if case == "unknown dtype" else said == problem


def test_the_array_form_and_unknown_keys_are_read_as_the_library_reads_them(tmp_path):
    raw = json.dumps({"a": ["F16", [2], [0, 4]], "b": {"extra": [1, {"x": None}], "data_offsets": [4, 8], "shape": [1], "dtype": {"F32": None}}})
    header = read_header(_file(tmp_path, raw, 8))
    assert dict(header.tensors) == {"a": TensorInfo("F16", (2,)), "b": TensorInfo("F32", (1,))}


def test_an_entry_with_a_key_twice_is_refused(tmp_path):
    raw = '{"a": {"dtype": "F32", "dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}'
    assert _problem(_file(tmp_path, raw, 4)) == "tensor 'a' has 'dtype' twice"


def test_metadata_twice_is_refused_and_a_name_twice_keeps_the_last(tmp_path):
    raw = '{"__metadata__": {"a": "1"}, "__metadata__": {"a": "2"}}'
    assert _problem(_file(tmp_path, raw)) == "its header has __metadata__ twice"
    raw = '{"__metadata__": {"k": "1", "k": "2"}, "t": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "t": {"dtype": "F16", "shape": [2], "data_offsets": [0, 4]}}'
    header = read_header(_file(tmp_path, raw, 4, name="y.safetensors"))
    assert dict(header.metadata) == {"k": "2"} and dict(header.tensors) == {"t": TensorInfo("F16", (2,))}


def test_a_tensor_name_longer_than_the_limit_is_refused(tmp_path):
    name = "n" * (MAX_TENSOR_NAME + 1)
    assert _problem(_file(tmp_path, json.dumps({name: _t()}), 4)) == (
        f"a tensor name is {MAX_TENSOR_NAME + 1} characters long; autopipe reads names of at most {MAX_TENSOR_NAME}"
    )
    assert set(read_header(_file(tmp_path, json.dumps({name[1:]: _t()}), 4, name="ok.safetensors")).tensors) == {name[1:]}


@pytest.mark.parametrize(
    "raw, problem",
    [
        (b"[1]", "its header starts with b'[', not with the '{' of a JSON object"),
        (b"  \n x", "its header starts with b'x', not with the '{' of a JSON object"),
        (b'{"a": "\xff"}', "its header is not UTF-8 (byte 7)"),
        (b'{"a": }', "its header is not JSON (Expecting value: line 1 column 7 (char 6))"),
        (b'{"a": NaN}', "its header is not JSON (NaN is not JSON)"),
        (b'{"a": 1e999}', "its header is not JSON (the number 1e999 is out of range)"),
        (b'{"a": "\\ud800"}', "its header holds a lone UTF-16 surrogate escape (\\ud800-\\udfff), which is not valid JSON text"),
        (b'{"a": "\\uD800"}', "its header holds a lone UTF-16 surrogate escape (\\ud800-\\udfff), which is not valid JSON text"),  # upper case
        (b'{"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}', "its header is a JSON tensor entry, not an object of tensors"),
    ],
)
def test_each_rule_of_the_json_text_is_named(tmp_path, raw, problem):
    assert _problem(_file(tmp_path, raw)) == problem


def test_minus_zero_and_long_integers_are_what_serde_reads(tmp_path):
    # serde reads -0 as a float, so it is no usize: an offset of -0 is refused like any float
    assert _problem(_file(tmp_path, '{"a": {"dtype": "F32", "shape": [1], "data_offsets": [-0, 4]}}', 4)) == (
        "tensor 'a' has data offsets [-0.0, 4] that are not two non-negative integers under 2**64"
    )
    long = "1" * 400  # beyond u64 and f64 alike
    assert _problem(_file(tmp_path, '{"__metadata__": {}, "x": {"k": ' + long + '}}', name="l.safetensors")).startswith("its header is not JSON (the number")


@pytest.mark.parametrize(
    "length, size, problem",
    [
        (MAX_HEADER_BYTES + 1, 100, f"its header claims {MAX_HEADER_BYTES + 1} bytes; autopipe reads at most {MAX_HEADER_BYTES}"),
        (50, 20, "its header claims 50 bytes but the file has only 12 after the length"),
    ],
)
def test_a_header_length_beyond_the_limit_or_the_file_is_named(tmp_path, length, size, problem):
    path = tmp_path / "x.safetensors"
    path.write_bytes(struct.pack("<Q", length) + b"\x80" * (size - 8))
    assert _problem(path) == problem


def test_a_file_shorter_than_the_length_is_named(tmp_path):
    path = tmp_path / "short.safetensors"
    path.write_bytes(b"\x01\x00")
    assert _problem(path) == "it is 2 bytes long, shorter than the 8-byte header length"
    assert dict(read_header(_file(tmp_path, b"{}")).tensors) == {}


def test_json_files_given_as_weights_say_what_they_are(tmp_path):
    index = tmp_path / "diffusion_pytorch_model.safetensors.index.json"
    index.write_text('{"metadata": {}, "weight_map": {}}')
    with pytest.raises(InvalidModelError, match=r"is the index of a sharded checkpoint .* to load it, merge the shards into one \.safetensors file\.$"):
        read_header(index)
    named = tmp_path / "weights.safetensors"
    named.write_text('  {"weight_map": {"a": "b"}}')
    with pytest.raises(InvalidModelError, match="is the index of a sharded checkpoint"):
        read_header(named)
    model_index = tmp_path / "model_index.json"
    model_index.write_text('{"_class_name": "StableDiffusionPipeline"}')
    with pytest.raises(InvalidModelError) as info:
        read_header(model_index)
    assert str(info.value) == (
        f"{model_index} is a diffusers pipeline's model_index.json, not a weight file. Pass the folder that holds it instead of the file."
    )
    other = tmp_path / "config.safetensors"
    other.write_text('[1, 2, 3, 4, 5, 6]')
    with pytest.raises(InvalidModelError) as info:
        read_header(other)
    assert str(info.value) == (
        f"{other} is a JSON file, not a safetensors weight file (it starts with '[', not an 8-byte header length). "
        "Pass the .safetensors file itself, or the checkpoint folder that holds this JSON."
    )
    tiny = tmp_path / "tiny.safetensors"
    tiny.write_text("{}")
    with pytest.raises(InvalidModelError, match="is a JSON file, not a safetensors weight file \\(it starts with '\\{'"):
        read_header(tiny)
    pickle = tmp_path / "p.safetensors"
    pickle.write_bytes(b"\x80\x02}q\x00(X\x01\x00\x00")
    assert _problem(pickle).startswith("its header claims")  # not JSON: nothing more is read, the length is refused


def test_a_missing_file_is_model_not_found(tmp_path):
    with pytest.raises(ModelNotFoundError) as info:
        read_header(tmp_path / "absent.safetensors")
    assert str(info.value) == f"{tmp_path / 'absent.safetensors'} does not exist. Check the path."


def test_what_an_accepted_header_holds(tmp_path):
    path = write_header(tmp_path / "m.safetensors", {"a": ("F16", (2, 3)), "b": ("F32", (4,)), "c": ("I8", ()), "d": ("F16", (0, 5))}, {"k": "v"})
    header = read_header(path)
    assert header.parameters == 6 + 4 + 1 + 0 and header.data_bytes == 12 + 16 + 1
    assert header.bytes_by_dtype() == {"F16": 12, "F32": 16, "I8": 1}
    assert header.shape("a") == (2, 3) and header.shape("z") is None and header.tensors["c"].numel == 1
    assert header.has_prefix("b") and not header.has_prefix("e") and dict(header.metadata) == {"k": "v"}
    assert header.file_size == path.stat().st_size and header.header_bytes == path.stat().st_size - 29
    assert header_to_json(header) == {
        "path": str(path), "file_size": header.file_size, "header_bytes": header.header_bytes, "tensors": 4, "parameters": 11,
        "bytes_by_dtype": {"F16": 12, "F32": 16, "I8": 1}, "metadata": {"k": "v"},
    }


def test_the_collector_is_paused_while_decoding_and_restored_as_found(tmp_path):
    path = write_header(tmp_path / "m.safetensors", {"a": ("F16", (2,))})
    gc.enable()
    read_header(path)
    assert gc.isenabled()
    gc.disable()
    try:
        read_header(path)
        assert not gc.isenabled()
    finally:
        gc.enable()


# --- what the refusals show of long names and values, and where a scan stops --------------------------------------

LONG = "n" * 150  # a tensor name longer than the 100 characters an error quotes


@pytest.mark.parametrize(
    "entry, data, problem",
    [
        (_t(shape=(2**16,) * 8, offsets=(0, 4)), 4, "has the shape [65536, 65536, 65536, 65536, 65536, 65536, 65536, 65536] whose size overflows 64 bits"),
        (_t(offsets=(4, 0)), 4, "has data offsets [4, 0] that end before they start"),
        (_t(shape=(0,), offsets=(8, 8)), 4, "has data offsets [8, 8] outside the file's 4 data bytes"),
        (_t(dtype="F4", shape=(3,), offsets=(0, 1)), 1, "is 12 bits of F4, not a whole number of bytes"),
        (_t(shape=(2,), offsets=(0, 4)), 4, "spans 4 bytes, but F32 [2] needs 8"),
    ],
)
def test_a_refusal_quotes_the_first_100_characters_of_a_long_tensor_name(tmp_path, entry, data, problem):
    # Eight dimensions exactly are shown whole (no "..."); an empty tensor past the end is outside, not reversed.
    assert _problem(_file(tmp_path, json.dumps({LONG: entry}), data)) == f"tensor {LONG[:100]!r} {problem}"


def test_gaps_and_overlaps_quote_the_first_100_characters_of_a_long_tensor_name(tmp_path):
    gap = {"a": _t(offsets=(0, 4)), LONG: _t(offsets=(8, 12))}
    assert _problem(_file(tmp_path, json.dumps(gap), 12)) == f"tensor {LONG[:100]!r} starts at byte 8 of the data, leaving a gap of 4 bytes after the tensor before it"
    overlap = {"a": _t(shape=(2,), offsets=(0, 8)), LONG: _t(offsets=(4, 8))}
    assert _problem(_file(tmp_path, json.dumps(overlap), 8, name="o.safetensors")) == (
        f"tensor {LONG[:100]!r} starts at byte 4 of the data, an overlap of 4 bytes with the tensor before it"
    )


@pytest.mark.parametrize(
    "dtype, shown",
    [
        ({"F99": None}, "{'F99': None}"),  # serde's enum form, of a dtype that does not exist
        ({"a": 1, "b": 2, "c": 3}, "{'a': 1, 'b': 2, 'c': 3}"),
        ({"a": 1, "b": 2, "c": 3, "d": 4}, "{'a': 1, 'b': 2, 'c': 3, ...}"),  # three pairs at most, then "..."
    ],
)
def test_an_object_given_as_a_dtype_is_shown_as_its_first_pairs(tmp_path, dtype, shown):
    said = _problem(_file(tmp_path, json.dumps({"a": _t(dtype=dtype)}), 4))
    assert said.startswith(f"tensor 'a' has the unknown dtype {shown} (safetensors knows BOOL, F4, ")


def test_a_long_value_in_an_error_is_cut_at_40_characters(tmp_path):
    offsets = [10**18, 10**18, 10**18]
    said = _problem(_file(tmp_path, json.dumps({"a": {"dtype": "F32", "shape": [1], "data_offsets": offsets}}), 4))
    assert said == f"tensor 'a' has data offsets {str(offsets)[:40]} that are not two non-negative integers under 2**64"
    big = "1" * 400  # beyond the f64 range: the message quotes its first 40 digits
    assert _problem(_file(tmp_path, '{"__metadata__": {}, "x": {"k": ' + big + "}}", name="l.safetensors")) == (
        f"its header is not JSON (the number {big[:40]} is out of range)"
    )


def _nested_entry(levels: int) -> str:
    """A tensor entry with an unknown key holding `levels` arrays around a tensor-shaped object (which the
    library reads as a plain object): the object opens level 3 + levels, its arrays the level after."""
    inner = '{"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}'
    return '{"a": {"extra": ' + "[" * levels + inner + "]" * levels + ', "dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}'


def test_an_unknown_key_may_nest_to_the_librarys_127th_level_and_no_deeper(tmp_path):
    # the tensor-shaped object at level 126 holds its arrays at 127: the deepest the library reads
    assert dict(read_header(_file(tmp_path, _nested_entry(123), 4)).tensors) == {"a": TensorInfo("F32", (1,))}
    assert _problem(_file(tmp_path, _nested_entry(124), 4, name="deep.safetensors")) == (
        "tensor 'a' has a key 'extra' nested deeper than JSON's 127 levels the library reads"
    )


def test_an_empty_or_blank_file_is_too_short_and_blanks_before_json_are_passed_over(tmp_path):
    for content in (b"", b"  \n"):
        path = tmp_path / "blank.safetensors"
        path.write_bytes(content)
        assert _problem(path) == f"it is {len(content)} bytes long, shorter than the 8-byte header length"
    padded = tmp_path / "padded.safetensors"
    padded.write_bytes(b" " * 8 + b'{"weight_map": {"a": "b"}}')  # eight blanks read as a header length: then JSON
    with pytest.raises(InvalidModelError, match="is the index of a sharded checkpoint"):
        read_header(padded)


def test_a_file_that_is_not_json_is_refused_after_its_first_8_bytes():
    import io

    from autopipe_core.headers import parse_header

    for first in (b"XXXXXXXX", b"\x80\x02}q\x00(X\x01"):  # letters, a pickle: no JSON can start so
        f = io.BytesIO(first + b"{" * 5000)
        with pytest.raises(InvalidModelError, match="its header claims"):
            parse_header(f, 5008, "m.safetensors")
        assert f.tell() == 8


def test_write_header_writes_the_compact_json_padded_to_8_bytes(tmp_path):
    path = write_header(tmp_path / "w.safetensors", {"a": ("F16", (2,))}, {"k": "v"})
    raw = b'{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"__metadata__":{"k":"v"}}'
    raw += b" " * (-len(raw) % 8)
    assert len(raw) % 8 == 0 and path.read_bytes() == struct.pack("<Q", len(raw)) + raw + b"\0" * 4
    for n in range(1, 9):  # whatever the JSON's length, the data starts aligned
        header = read_header(write_header(tmp_path / f"w{n}.safetensors", {"t" * n: ("U8", (3,))}))
        assert (header.header_bytes - 8) % 8 == 0 and header.file_size == header.header_bytes + 3


def test_names_under_a_prefix_are_exactly_those_that_start_with_it(tmp_path):
    top = "\U0010ffff"  # the highest code point, which a name may hold right after the prefix
    names = ["a.x", "a." + top, "b", "c"]
    header = read_header(write_header(tmp_path / "p.safetensors", {n: ("U8", (1,)) for n in names}))
    assert header.with_prefix("a.") == ("a.x", "a." + top)
    assert header.with_prefix("b") == ("b",) and header.with_prefix("") == tuple(sorted(names)) and header.with_prefix("d") == ()
    assert header.has_prefix("a." + top) and not header.has_prefix("a.y")


def test_a_header_is_read_only(tmp_path):
    header = read_header(write_header(tmp_path / "r.safetensors", {"a": ("U8", (1,))}, {"k": "v"}))
    with pytest.raises(TypeError):
        header.tensors["b"] = TensorInfo("U8", (1,))
    with pytest.raises(TypeError):
        header.metadata["k"] = "w"


# --- files.read_capped: the small files' reader beside the header reader -------------------------------------------


def test_a_small_file_is_read_whole_up_to_its_limit_and_refused_past_it(tmp_path):
    from autopipe_core.files import read_capped

    path = tmp_path / "config.json"
    path.write_bytes(b"x" * 16)
    assert read_capped(path, "a config file", 16) == b"x" * 16
    with pytest.raises(InvalidModelError) as info:
        read_capped(path, "a config file", 15, "unet/config.json")
    assert str(info.value) == "unet/config.json is 16 bytes; autopipe reads at most 15, so it is not a config file."


def test_a_file_that_holds_more_than_its_size_says_is_still_cut_at_the_limit():
    from autopipe_core.files import read_capped

    # /proc files report a size of 0 and hold more: the limit holds while reading, not only on the size told
    with pytest.raises(InvalidModelError) as info:
        read_capped("/proc/self/status", "a status file", 16)
    assert str(info.value) == "/proc/self/status is larger than 16 bytes, so it is not a status file."
    assert read_capped("/proc/self/status", "a status file", 1 << 20).startswith(b"Name:")


def test_plain_header_vouches_for_headers_as_writers_write_them_and_for_nothing_else():
    from autopipe_core.headers import plain_header

    def plain(text: str, data: int):
        return plain_header(text.encode(), text, data)

    e = '{{"dtype":"{}","shape":{},"data_offsets":{}}}'.format
    assert plain('{"__metadata__":{"k":"v"},"b":' + e("F16", "[2]", "[4,8]") + ',"a":' + e("F32", "[1]", "[0,4]") + ',"z":' + e("F16", "[0]", "[8,8]") + "}", 8) == (
        {"b": TensorInfo("F16", (2,)), "a": TensorInfo("F32", (1,)), "z": TensorInfo("F16", (0,))}, {"k": "v"}
    )
    assert plain('{"__metadata__":null,\n "a": {"dtype": "U8", "shape": [2, 3], "data_offsets": [0, 6]}}', 6) == ({"a": TensorInfo("U8", (2, 3))}, {})
    assert plain('{"a":' + e("BF16", "[2]", "[0,4]") + "}", 4) == ({"a": TensorInfo("BF16", (2,))}, {})  # no __metadata__ at all
    refused = [
        ('{"a":' + e("F16", "[2]", "[0,4]") + ',"a":' + e("F16", "[2]", "[4,8]") + "}", 8),  # a name twice
        ('{"a":{"dtype":"F16","dtype":"F16","shape":[2],"data_offsets":[0,4]}}', 4),  # a key twice
        ('{"a":' + e("F16", "[2]", "[0,4]") + ',"__metadata__":{"k":1}}', 4),  # metadata not of strings
        ('{"a":' + e("F16", "[1, -0]", "[0,2]") + "}", 2), ('{"a":' + e("F16", "[1.0]", "[0,2]") + "}", 2),  # -0, a float
        ('{"a":' + e("F16", "[true]", "[0,2]") + "}", 2), ('{"a":' + e("F99", "[1]", "[0,2]") + "}", 2),  # a bool, an unknown dtype
        ('{"a":' + e("F16", "[2]", "[0,4]") + ',"b":' + e("F16", "[2]", "[6,10]") + "}", 10),  # a gap
        ('{"a":' + e("F16", "[2]", "[0,4]") + "}", 6), ('{"a":' + e("F16", "[2]", "[0,6]") + "}", 6),  # bytes after, a wrong span
        ('{"a":' + e("F16", "[18446744073709551616]", "[0,2]") + "}", 2), ('{"\\u0061":' + e("F16", "[1]", "[0,2]") + "}", 2),
        ('{"a":' + e("F16", "[1]", "[0,2,4]") + "}", 4), ('{"a":["F16",[1],[0,2]]}', 2), ("[1]", 0), ("{}", 0),
        ('{"' + "n" * 1025 + '":' + e("F16", "[1]", "[0,2]") + "}", 2),  # a name past the limit
    ]
    assert [plain(text, data) for text, data in refused] == [None] * len(refused)


def test_a_float_shape_equal_to_one_read_before_is_still_refused(tmp_path):
    # 2.0 == 2 and hashes alike: a shape seen first as [2] must not let [2.0] through as the same shape
    raw = '{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "F32", "shape": [2.0], "data_offsets": [8, 16]}}'
    assert _problem(_file(tmp_path, raw, 16)) == "tensor 'b' has a shape that is not a list of non-negative integers under 2**64"


def test_a_product_reaching_exactly_2_64_overflows_before_a_zero_after_it(tmp_path):
    # the library multiplies in order with checked_mul: 2**32 * 2**32 overflows, whatever the 0 that follows
    said = _problem(_file(tmp_path, json.dumps({"a": _t(shape=(2**32, 2**32, 0), offsets=(0, 0))}), 0))
    assert said == "tensor 'a' has the shape [4294967296, 4294967296, 0] whose size overflows 64 bits"


def test_half_a_byte_is_no_whole_tensor_even_when_empty_offsets_would_fit(tmp_path):
    assert _problem(_file(tmp_path, json.dumps({"a": _t(dtype="F4", shape=(1,), offsets=(0, 0))}), 0)) == "tensor 'a' is 4 bits of F4, not a whole number of bytes"


def test_a_fifo_is_refused_as_not_a_safetensors_file(tmp_path):
    import os

    fifo = tmp_path / "x.safetensors"
    os.mkfifo(fifo)
    with pytest.raises(InvalidModelError) as info:
        read_header(fifo)
    assert str(info.value) == f"{fifo} is not a regular file (a FIFO, a device or a socket), so it is not a safetensors file. Replace it with the real file."


def test_a_small_file_that_is_a_folder_is_named_by_its_label(tmp_path):
    from autopipe_core.files import read_capped

    (tmp_path / "config.json").mkdir()
    with pytest.raises(InvalidModelError) as info:
        read_capped(tmp_path / "config.json", "a config file", 16, "unet/config.json")
    assert str(info.value) == "unet/config.json is a folder, not a config file"
