"""The safetensors header reader: what it reads, what it refuses, and that it reads only the header."""

import io
import json
import struct

import pytest
import torch
from safetensors.torch import save_file

from autopipe_core import InvalidModelError, ModelNotFoundError
from autopipe_core.headers import MAX_HEADER_BYTES, parse_header, read_header


def _file(path, header: dict, data: bytes = b"", length: int | None = None):
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw) if length is None else length) + raw + data)
    return path


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
        ({"w": [1, 2]}, None, b"", "not an object"),
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
    (tmp_path / "text.safetensors").write_bytes(struct.pack("<Q", 5) + b"hello")
    with pytest.raises(InvalidModelError, match="not JSON"):
        read_header(tmp_path / "text.safetensors")
    (tmp_path / "short.safetensors").write_bytes(b"abc")
    with pytest.raises(InvalidModelError, match="shorter than"):
        read_header(tmp_path / "short.safetensors")
    with pytest.raises(ModelNotFoundError):
        read_header(tmp_path / "absent.safetensors")
    with pytest.raises(InvalidModelError, match="folder"):
        read_header(tmp_path)


def test_a_header_claiming_a_petabyte_is_refused_without_allocating(tmp_path):
    import tracemalloc

    path = tmp_path / "liar.safetensors"
    path.write_bytes(struct.pack("<Q", 10**15) + b"{}")
    tracemalloc.start()
    try:
        with pytest.raises(InvalidModelError, match=f"claims {10**15} bytes; autopipe reads at most {MAX_HEADER_BYTES}"):
            read_header(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024
