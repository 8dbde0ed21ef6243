"""The safetensors header reader: what it reads, what it refuses (the library's own rules), that it reads only the header,
and what hostile headers cost.

Where a test says what the safetensors library does, it asks the installed
library (``safe_open``), so the tables below break if a new version changes a rule.
"""

import io
import json
import os
import re
import struct
import threading
import time
import tracemalloc

import pytest
from bounds import CPU_SECONDS, PEAK_BYTES, costs
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from autopipe_core import InvalidModelError, ModelNotFoundError
from autopipe_core.headers import DTYPE_BITS, DTYPE_BYTES, MAX_HEADER_BYTES, MAX_TENSOR_NAME, TensorInfo, parse_header, read_header

USIZE = 2**64


def _file(path, header: dict, data: bytes = b"", length: int | None = None):
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw) if length is None else length) + raw + data)
    return path


def _raw(path, text: str | bytes, data: int = 0, length: int | None = None):
    """A file of this header text (written as it is) and `data` bytes of zeros that the disk does not store."""
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw) if length is None else length) + raw)
        f.truncate(8 + len(raw) + data)
    return path


def _library_reads(path) -> bool:
    try:
        with safe_open(str(path), framework="numpy"):
            return True
    except Exception:  # noqa: BLE001 - the library's SafetensorError, or the OSError of mapping nothing
        return False


def test_reads_what_safetensors_wrote(tmp_path):
    path = tmp_path / "m.safetensors"
    save_file({"unet.w": torch.zeros(3, 4, dtype=torch.float16), "vae.b": torch.ones(5)}, str(path), metadata={"format": "pt"})
    header = read_header(path)
    assert header.shape("unet.w") == (3, 4) and header.tensors["unet.w"].dtype == "F16"
    assert header.parameters == 17 and header.bytes_by_dtype() == {"F16": 24, "F32": 20}
    assert header.metadata == {"format": "pt"} and header.has_prefix("vae.") and not header.has_prefix("text")
    assert header.header_bytes + header.data_bytes == header.file_size


def test_a_sparse_multi_gigabyte_file_costs_only_its_header(tmp_path):
    n = 3 * 2**30 // 2  # 3 GiB of float16, never written: the file is sparse
    path = _file(tmp_path / "big.safetensors", {"w": {"dtype": "F16", "shape": [n], "data_offsets": [0, 2 * n]}})
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size + 2 * n)
    reads = []

    class Counting(io.FileIO):
        def read(self, size=-1):
            out = super().read(size)
            reads.append(len(out))
            return out

    with Counting(path, "rb") as f:
        header = parse_header(f, path.stat().st_size, str(path))
    assert header.data_bytes == 2 * n
    assert sum(reads) == header.header_bytes < 200


@pytest.mark.parametrize(
    "header, length, data, problem",
    [
        ({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, None, b"\0" * 8, "outside the file"),  # truncated
        ({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 8]}}, None, b"\0" * 8, "needs 16"),
        ({"w": {"dtype": "Q4", "shape": [4], "data_offsets": [0, 4]}}, None, b"\0" * 4, "unknown dtype"),
        ({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, None, b"\0" * 4, "non-negative"),
        ({"w": [1, 2]}, None, b"", "array of 2 items"),
        ({"w": 1}, None, b"", "not an object"),
        ({"__metadata__": {"a": 1}}, None, b"", "__metadata__"),
        ({}, MAX_HEADER_BYTES + 1, b"", "at most"),
        ({}, 10**6, b"", "only"),
    ],
)
def test_malformed_headers_are_refused_with_the_reason(tmp_path, header, length, data, problem):
    path = _file(tmp_path / "bad.safetensors", header, data, length)
    with pytest.raises(InvalidModelError, match=problem):
        read_header(path)


def test_not_json_short_missing_and_folder(tmp_path):
    (tmp_path / "text.safetensors").write_bytes(struct.pack("<Q", 7) + b"{hello}")
    with pytest.raises(InvalidModelError, match="not JSON"):
        read_header(tmp_path / "text.safetensors")
    (tmp_path / "short.safetensors").write_bytes(b"abc")
    with pytest.raises(InvalidModelError, match="shorter than"):
        read_header(tmp_path / "short.safetensors")
    with pytest.raises(ModelNotFoundError):
        read_header(tmp_path / "absent.safetensors")
    with pytest.raises(InvalidModelError, match="folder"):
        read_header(tmp_path)


# --- the library's rules, each asked of the library too -------------------------------------------------------------


def test_the_dtypes_and_their_widths_are_the_librarys(tmp_path):
    path = _file(tmp_path / "x.safetensors", {"w": {"dtype": "XX", "shape": [1], "data_offsets": [0, 1]}}, b"\0")
    with pytest.raises(Exception) as refused:  # the library lists every dtype it knows when it meets one it does not
        safe_open(str(path), framework="numpy")
    known = re.findall(r"`(\w+)`", str(refused.value).split("expected one of", 1)[1])
    assert set(known) == set(DTYPE_BITS), "safetensors' dtypes changed: update headers.DTYPE_BITS"
    for dtype, bits in DTYPE_BITS.items():  # 8 elements take `bits` bytes, and not one byte more
        good = _file(tmp_path / "good.safetensors", {"w": {"dtype": dtype, "shape": [2, 4], "data_offsets": [0, bits]}}, b"\0" * bits)
        assert _library_reads(good) and read_header(good).tensors["w"].nbytes == bits == read_header(good).data_bytes
        bad = _file(tmp_path / "bad.safetensors", {"w": {"dtype": dtype, "shape": [2, 4], "data_offsets": [0, bits + 1]}}, b"\0" * (bits + 1))
        assert not _library_reads(bad)
        with pytest.raises(InvalidModelError, match=f"needs {bits}"):
            read_header(bad)
    assert DTYPE_BYTES == {d: b // 8 for d, b in DTYPE_BITS.items() if b % 8 == 0} and "F4" not in DTYPE_BYTES


@pytest.mark.parametrize(
    "dtype, shape, nbytes",
    [("F4", [2, 3], 3), ("F4", [3], None), ("F6_E2M3", [4], 3), ("F6_E3M2", [2], None), ("F6_E3M2", [0, 3], 0), ("F4", [1], None)],
)
def test_sub_byte_dtypes_must_fill_whole_bytes(tmp_path, dtype, shape, nbytes):
    size = 1 if nbytes is None else nbytes  # the library refuses 12 bits whatever the offsets say
    path = _file(tmp_path / "x.safetensors", {"w": {"dtype": dtype, "shape": shape, "data_offsets": [0, size]}}, b"\0" * size)
    assert _library_reads(path) == (nbytes is not None)
    if nbytes is None:
        with pytest.raises(InvalidModelError, match="not a whole number of bytes"):
            read_header(path)
    else:
        assert read_header(path).tensors["w"] == TensorInfo(dtype, tuple(shape)) and read_header(path).data_bytes == nbytes


def test_the_header_size_limit_is_the_librarys_100_million_bytes(tmp_path):
    assert MAX_HEADER_BYTES == 100_000_000  # safetensors' MAX_HEADER_SIZE; 100 MiB would let 4,857,600 more bytes through
    path = _raw(tmp_path / "x.safetensors", "{}", data=MAX_HEADER_BYTES, length=MAX_HEADER_BYTES + 1)
    assert not _library_reads(path)
    with pytest.raises(InvalidModelError, match=f"claims {MAX_HEADER_BYTES + 1} bytes; autopipe reads at most {MAX_HEADER_BYTES}"):
        read_header(path)


T = '{"dtype":"F32","shape":[1],"data_offsets":[0,4]}'


def _with(extra: str) -> str:
    return '{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":' + extra + "}}"


# (header text, data bytes, refusal reason or None where the library reads it)
RULES = {
    "a gap between tensors": ('{"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},"a":' + T + "}", 12, "gap of 4 bytes"),
    "an overlap": ('{"b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]},"a":' + T + "}", 8, "overlap of 2 bytes"),
    "bytes after the last tensor": ('{"a":' + T + "}", 5, "holds 1 bytes more"),
    "data and no tensors": ("{}", 4, "holds 4 bytes more"),
    "offsets out of file order": ('{"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},"a":' + T + "}", 8, None),
    "an empty tensor inside another": ('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"z":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}}', 8, "overlap of 4"),
    "an empty tensor at the end": ('{"a":' + T + ',"z":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}}', 4, None),
    "an end before the start": ('{"z":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}}', 0, "end before they start"),
    "leading whitespace": (" \n\t\r{}", 0, None),  # the library allows it since 0.8 (PR #686), though its README says '{' first
    "trailing whitespace": ("{}   \n", 0, None),
    "a form feed first": ("\x0c{}", 0, "starts with b'\\\\x0c'"),
    "a byte order mark": ("\ufeff{}", 0, "starts with"),
    "an array": ("[]", 0, "starts with b'\\['"),
    "nothing": ("", 0, "not JSON"),
    "text after the object": ("{}x", 0, "not JSON"),
    "overflow before a 0": ('{"w":{"dtype":"F32","shape":[9223372036854775808,2,0],"data_offsets":[0,0]}}', 0, "overflows 64 bits"),
    "a 0 before huge dimensions": ('{"w":{"dtype":"F32","shape":[0,9223372036854775808,2],"data_offsets":[0,0]}}', 0, None),
    "the largest dimension, then 0": ('{"w":{"dtype":"F32","shape":[18446744073709551615,0],"data_offsets":[0,0]}}', 0, None),
    "a dimension of 2**64": ('{"w":{"dtype":"F32","shape":[18446744073709551616,0],"data_offsets":[0,0]}}', 0, "non-negative integers under 2\\*\\*64"),
    "bits beyond 64 bits": ('{"w":{"dtype":"F32","shape":[1152921504606846976],"data_offsets":[0,0]}}', 0, "overflows"),
    "metadata null": ('{"__metadata__":null,"a":' + T + "}", 4, None),
    "metadata a list": ('{"__metadata__":[],"a":' + T + "}", 4, "__metadata__ is not an object of strings"),
    "metadata false": ('{"__metadata__":false}', 0, "__metadata__ is not an object of strings"),
    "metadata nested": ('{"__metadata__":{"a":{}}}', 0, "__metadata__ is not an object of strings"),
    "metadata twice": ('{"__metadata__":{},"__metadata__":{}}', 0, "__metadata__ twice"),
    "a metadata key twice": ('{"__metadata__":{"a":"1","a":"2"}}', 0, None),
    "a field twice": ('{"w":{"dtype":"F32","dtype":"F32","shape":[1],"data_offsets":[0,4]}}', 4, "'dtype' twice"),
    "a field missing": ('{"w":{"dtype":"F32","shape":[1]}}', 4, "has no data_offsets"),
    "a name twice, the same": ('{"w":' + T + ',"w":' + T + "}", 4, None),
    "a name twice, the first unreadable": ('{"w":{"dtype":"XX","shape":[1],"data_offsets":[0,4]},"w":' + T + "}", 4, "unknown dtype"),
    "a name twice, the first elsewhere": ('{"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},"w":' + T + "}", 8, "holds 4 bytes more"),
    "keys in another order": ('{"w":{"data_offsets":[0,4],"shape":[1],"dtype":"F32"}}', 4, None),
    "an unknown key": (_with('[1.5,{"a":null},"s",-7]'), 4, None),
    "an unknown key holding NaN": (_with("NaN"), 4, "not JSON"),
    "an unknown key holding 1e400": (_with("1e400"), 4, "out of range"),
    "an unknown key holding 400 digits": (_with("9" * 400), 4, "out of range"),
    "an unknown key holding 10**30": (_with("1" + "0" * 30), 4, None),
    "an unknown key holding -0": (_with("-0"), 4, None),
    "a lone surrogate escape": (_with('"\\ud800"'), 4, "lone UTF-16 surrogate"),
    "a lone surrogate in a name": ('{"\\udc00":' + T + "}", 4, "lone UTF-16 surrogate"),
    "a surrogate pair": (_with('"\\ud83d\\ude00"'), 4, None),
    "an escaped backslash before ud800": (_with('"\\\\ud800"'), 4, None),
    "-0 in a shape": ('{"w":{"dtype":"F32","shape":[-0,1],"data_offsets":[0,0]}}', 0, "non-negative"),
    "-0 in offsets": ('{"w":{"dtype":"F32","shape":[0],"data_offsets":[-0,0]}}', 0, "data offsets"),
    "1.0 in a shape": ('{"w":{"dtype":"F32","shape":[1.0],"data_offsets":[0,4]}}', 4, "non-negative"),
    "true in a shape": ('{"w":{"dtype":"F32","shape":[true],"data_offsets":[0,4]}}', 4, "non-negative"),
    "three offsets": ('{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4,4]}}', 4, "data offsets"),
    "127 levels of nesting": (_with("[" * 125 + "]" * 125), 4, None),
    "128 levels of nesting": (_with("[" * 126 + "]" * 126), 4, "deeper than JSON's 127 levels"),
    "the array form": ('{"w":["F32",[1],[0,4]]}', 4, None),
    "the array form, short": ('{"w":["F32",[1]]}', 4, "array of 2 items"),
    "a dtype as an enum variant": ('{"w":{"dtype":{"F32":null},"shape":[1],"data_offsets":[0,4]}}', 4, None),
    "a dtype as two variants": ('{"w":{"dtype":{"F32":null,"F16":null},"shape":[1],"data_offsets":[0,4]}}', 4, "unknown dtype"),
    "a dtype in lower case": ('{"w":{"dtype":"f32","shape":[1],"data_offsets":[0,4]}}', 4, "unknown dtype"),
    "a control character in a name": ('{"w\x01":' + T + "}", 4, "not JSON"),
    "an empty name": ('{"":' + T + "}", 4, None),
    "a non-ASCII name": ('{"é😀":' + T + "}", 4, None),
    "a header that is a tensor entry": (T, 0, "tensor entry, not an object of tensors"),
    "a null entry": ('{"w":null}', 0, "not an object"),
    "no scalar shape is wrong": ('{"w":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}', 4, None),
}


@pytest.mark.parametrize("case", sorted(RULES))
def test_the_librarys_rules(tmp_path, case):
    text, data, problem = RULES[case]
    path = _raw(tmp_path / "x.safetensors", text, data)
    assert _library_reads(path) == (problem is None), "the library changed its mind: update this table and headers.py"
    if problem is None:
        header = read_header(path)
        assert header.header_bytes + header.data_bytes == header.file_size
    else:
        with pytest.raises(InvalidModelError, match=problem):
            read_header(path)


def test_what_the_library_reads_autopipe_reads_the_same_way(tmp_path):
    path = _raw(tmp_path / "x.safetensors", '{"__metadata__":{"a":"1","a":"2"},"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},"w":' + T + ',"v":["F16",[2],[4,8]]}', 8)
    header = read_header(path)
    with safe_open(str(path), framework="numpy") as f:
        assert {k: (f.get_slice(k).get_dtype(), tuple(f.get_slice(k).get_shape())) for k in f.keys()} == {k: (t.dtype, t.shape) for k, t in header.tensors.items()}
        assert f.metadata() == header.metadata == {"a": "2"}


def test_a_name_longer_than_the_limit_is_refused_though_the_library_reads_it(tmp_path):
    # The one difference on purpose: names are kept in errors and reports, and real ones are under 200 characters.
    path = _raw(tmp_path / "x.safetensors", '{"' + "n" * (MAX_TENSOR_NAME + 1) + '":' + T + "}", 4)
    assert _library_reads(path)
    with pytest.raises(InvalidModelError, match=f"{MAX_TENSOR_NAME + 1} characters long"):
        read_header(path)
    assert read_header(_raw(tmp_path / "y.safetensors", '{"' + "n" * MAX_TENSOR_NAME + '":' + T + "}", 4)).tensors


# --- files that are not weight files -------------------------------------------------------------------------------

INDEX = {"metadata": {"total_size": 8}, "weight_map": {"w": "diffusion_pytorch_model-00001-of-00002.safetensors"}}


def test_a_sharded_models_index_beside_its_config_says_to_pass_the_pipeline_or_load_the_model(tmp_path):
    # It said "Pass the folder that holds it and its shards", and that folder is no pipeline: the advice went in a circle.
    (tmp_path / "config.json").write_text(json.dumps({"_class_name": "UNet2DConditionModel"}))
    path = tmp_path / "diffusion_pytorch_model.safetensors.index.json"
    path.write_text(json.dumps(INDEX))
    with pytest.raises(InvalidModelError) as info:
        read_header(path)
    assert str(info.value) == (
        f"{path} is the index of a sharded checkpoint (a JSON list of which shard holds each tensor), not a weight file; its folder "
        "holds one diffusers model (it has a config.json). Pass the pipeline folder above it for a component such as unet/, "
        "or load the model from its folder with its class's from_pretrained."
    )


@pytest.mark.parametrize(
    "name, content, says",
    [
        ("diffusion_pytorch_model.safetensors.index.json", INDEX, r"index of a sharded checkpoint.*`autopipe scan` classifies it with its shards; to load it, merge the shards"),
        ("model.safetensors", INDEX, r"index of a sharded checkpoint"),  # renamed: its weight_map gives it away
        ("model_index.json", {"_class_name": "StableDiffusionPipeline", "unet": ["diffusers", "UNet2DConditionModel"]}, r"model_index.json, not a weight file. Pass the folder that holds it"),
        ("config.json", {"_class_name": "UNet2DConditionModel"}, r"is a JSON file, not a safetensors weight file"),
        ("tiny.safetensors", {}, r"is a JSON file"),
        ("list.safetensors", [1, 2, 3], r"is a JSON file"),
    ],
)
def test_a_json_file_given_as_weights_says_what_it_is_and_what_to_pass(tmp_path, name, content, says):
    path = tmp_path / name
    path.write_text(json.dumps(content, indent=2))
    with pytest.raises(InvalidModelError, match=says):
        read_header(path)


def test_a_large_json_file_is_named_from_its_first_bytes(tmp_path):
    path = tmp_path / "model.safetensors.index.json"
    path.write_bytes(b'{"metadata": {"total_size": 1}, "weight_map": {')
    with open(path, "r+b") as f:
        f.truncate(2**30)  # a gigabyte, sparse
    reads = []

    class Counting(io.FileIO):
        def read(self, size=-1):
            out = super().read(size)
            reads.append(len(out))
            return out

    with Counting(path, "rb") as f, pytest.raises(InvalidModelError, match="index of a sharded checkpoint"):
        parse_header(f, 2**30, str(path))
    assert sum(reads) <= 8 + 4096


def test_a_fifo_is_refused_at_once_instead_of_blocking(tmp_path):
    fifo = tmp_path / "model.safetensors"
    os.mkfifo(fifo)
    release = threading.Timer(5, lambda: os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)))  # frees a reader stuck in open()
    release.start()
    try:
        start = time.process_time()
        with pytest.raises(InvalidModelError, match="not a regular file"):
            read_header(fifo)
        assert time.process_time() - start < 2
    finally:
        release.cancel()


# --- hostile headers: bounded CPU time and memory ------------------------------------------------------------------

def _costs(path):
    """(outcome, CPU seconds, peak bytes) of reading `path` (tests/bounds.py says how each is measured)."""
    return costs(lambda: read_header(path), InvalidModelError)


def _sixteen_mib() -> bytes:
    parts, offset, size = [], 0, 2
    while size < 16 * 2**20 - 100:
        part = f'"t.{len(parts)}":{{"dtype":"F32","shape":[2,2],"data_offsets":[{offset},{offset + 16}]}}'
        parts.append(part)
        offset, size = offset + 16, size + len(part) + 1
    return ("{" + ",".join(parts) + "}").encode()


def _reversed(count: int, gap: int = 0) -> bytes:
    entries = ",".join(f'"t.{i}":{{"dtype":"F16","shape":[4],"data_offsets":[{8 * i + (gap if i == count - 1 else 0)},{8 * i + 8 + (gap if i == count - 1 else 0)}]}}' for i in reversed(range(count)))
    return ("{" + entries + "}").encode()


def _entry(extra: bytes) -> bytes:
    return b'{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":' + extra + b"}}"


# name: (header bytes, data bytes, what happens: None for accepted, else the refusal's reason)
HOSTILE = {
    "600 KB of 30,000 dimensions of 2**64-1": (json.dumps({"w": {"dtype": "F32", "shape": [USIZE - 1] * 30_000, "data_offsets": [0, 0]}}).encode(), 0, "overflows 64 bits"),
    "the same after a 0": (json.dumps({"w": {"dtype": "F32", "shape": [0] + [USIZE - 1] * 30_000, "data_offsets": [0, 0]}}).encode(), 0, None),
    "16 MiB of 230,000 tensors": (_sixteen_mib, None, None),
    "200,000 tensors in reverse order": (lambda: _reversed(200_000), 8 * 200_000, None),
    "200,000 tensors in reverse order, one gap": (lambda: _reversed(200_000, gap=8), 8 * 200_000 + 8, "gap of 8 bytes"),
    "95 MB that is one string": (lambda: b'"' + b"a" * 95_000_000 + b'"', 0, "starts with b'\"'"),
    "95 MB of metadata in one string": (lambda: b'{"__metadata__":{"x":"' + b"a" * 95_000_000 + b'"}}', 0, None),
    "95 MB of blanks before {}": (lambda: b" " * 95_000_000 + b"{}", 0, None),
    "100,000 levels of nesting": (lambda: _entry(b"[" * 100_000 + b"]" * 100_000), 4, "not JSON"),
    "900 levels of nesting": (lambda: _entry(b"[" * 900 + b"]" * 900), 4, "deeper than JSON's 127 levels"),
    "3,900 integers of 4,300 digits": (lambda: _entry(b"[" + b",".join([b"9" * 4300] * 3900) + b"]"), 4, "out of range"),
    "16 MB of zeros in an unknown key": (lambda: _entry(b"[" + b"0," * 8_000_000 + b"0]"), 4, None),
    "16 MB of empty objects in an unknown key": (lambda: _entry(b"[" + b"{}," * 5_000_000 + b"{}]"), 4, None),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_headers_cost_bounded_time_and_memory(tmp_path, case):
    raw, data, problem = HOSTILE[case]
    raw = raw() if callable(raw) else raw
    if data is None:
        data = 16 * raw.count(b'"dtype"')
    path = _raw(tmp_path / "x.safetensors", raw, data)
    del raw
    outcome, seconds, peak = _costs(path)
    print(f"{case}: {seconds:.2f} s CPU, {peak / 1e6:.0f} MB peak")
    if problem is None:
        assert not isinstance(outcome, Exception), outcome
    else:
        assert isinstance(outcome, InvalidModelError) and re.search(problem, str(outcome)), outcome
    assert seconds < CPU_SECONDS and peak < PEAK_BYTES, f"{seconds:.2f} s, {peak / 1e6:.0f} MB"


def test_a_header_claiming_a_petabyte_is_refused_without_allocating(tmp_path):
    path = tmp_path / "liar.safetensors"
    path.write_bytes(struct.pack("<Q", 10**15) + b"{}")
    tracemalloc.start()
    try:
        start = time.process_time()
        with pytest.raises(InvalidModelError, match=f"claims {10**15} bytes; autopipe reads at most {MAX_HEADER_BYTES}"):
            read_header(path)
        seconds = time.process_time() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024 and seconds < 0.1
