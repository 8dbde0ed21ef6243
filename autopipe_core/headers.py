"""A safetensors file's header: the names, dtypes and shapes of its tensors, and its metadata.

A safetensors file is 8 bytes of little-endian header length, that many bytes
of JSON, then the tensor data. Everything autopipe decides about a single-file
checkpoint (its family, its variant, the bytes each component will take) is in
the JSON, so only ``8 + header length`` bytes are ever read, whatever the size
of the file: a 7 GB SDXL checkpoint costs the same few hundred kilobytes as a
10 MB one. The header is checked against the file before anything trusts it:
a length beyond the file, tensors whose offsets leave the data section or
disagree with their dtype and shape (a truncated download) are refused with
an :class:`~autopipe_core.errors.InvalidModelError`.

The ``safetensors`` package is not used here: it would pull in its framework
bindings, and resolution must import nothing heavy. The format is small and
fixed (https://github.com/huggingface/safetensors, "Format").
"""

from __future__ import annotations

import json
import math
import os
import struct
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, BinaryIO, Iterator, Mapping

from .errors import InvalidModelError, ModelNotFoundError

#: The largest header autopipe reads: the safetensors library's own limit. Real ones are far smaller
#: (SD 1.5: about 80 KiB, SDXL: about 200 KiB), so anything above is refused before it is allocated.
MAX_HEADER_BYTES = 100 * 1024 * 1024

#: A tensor name longer than this is refused (real ones are under 200 characters).
MAX_TENSOR_NAME = 1024

#: Bytes per element of each safetensors dtype.
DTYPE_BYTES: Mapping[str, int] = MappingProxyType(
    {
        "BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "F8_E8M0": 1,
        "U16": 2, "I16": 2, "F16": 2, "BF16": 2,
        "U32": 4, "I32": 4, "F32": 4,
        "U64": 8, "I64": 8, "F64": 8,
    }
)

#: Suffixes of pickle checkpoints: loading one runs whatever code it carries.
PICKLE_SUFFIXES = (".ckpt", ".bin", ".pt", ".pth", ".pkl", ".pickle")


@dataclass(frozen=True)
class TensorInfo:
    """One tensor as the header describes it; no data."""

    dtype: str
    shape: tuple[int, ...]

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.numel * DTYPE_BYTES[self.dtype]


@dataclass(frozen=True)
class SafetensorsHeader:
    """What a safetensors file says about itself, read without its data.

    `header_bytes` is how much of the file was read (the 8-byte length plus
    the JSON): tests use it to show that reading does not grow with the file.
    """

    path: str
    file_size: int
    header_bytes: int
    tensors: Mapping[str, TensorInfo]
    metadata: Mapping[str, str] = field(default_factory=dict)

    @property
    def parameters(self) -> int:
        return sum(t.numel for t in self.tensors.values())

    @property
    def data_bytes(self) -> int:
        return sum(t.nbytes for t in self.tensors.values())

    def bytes_by_dtype(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for t in self.tensors.values():
            out[t.dtype] = out.get(t.dtype, 0) + t.nbytes
        return out

    def shape(self, name: str) -> tuple[int, ...] | None:
        """The shape of tensor `name`, or None if the file has no such tensor."""
        info = self.tensors.get(name)
        return info.shape if info is not None else None

    def has_prefix(self, prefix: str) -> bool:
        return any(name.startswith(prefix) for name in self.tensors)


def _fail(where: str, problem: str) -> InvalidModelError:
    return InvalidModelError(
        f"{where} is not a valid safetensors file: {problem}. "
        "It may be truncated or corrupt: download it again, or convert the original with the safetensors library."
    )


def _tensor(where: str, name: object, entry: object, data_size: int) -> TensorInfo:
    """One tensor's entry, checked. A well-formed entry takes the fast path (a few plain comparisons:
    an SDXL header has about 2,000 of them); anything else goes through :func:`_tensor_checked`,
    which makes the same checks one by one and says which failed."""
    if type(name) is str and len(name) <= MAX_TENSOR_NAME and type(entry) is dict:
        dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
        width = _WIDTHS.get(dtype) if type(dtype) is str else None
        if width is not None and type(shape) is list and type(offsets) is list and len(offsets) == 2:
            start, end = offsets
            if type(start) is int and type(end) is int and 0 <= start <= end <= data_size:
                count = 1
                for d in shape:
                    if type(d) is not int or d < 0:
                        break
                    count *= d
                else:
                    if end - start == count * width:
                        return TensorInfo(dtype, tuple(shape))
    return _tensor_checked(where, name, entry, data_size)


_WIDTHS: dict[str, int] = dict(DTYPE_BYTES)


def _tensor_checked(where: str, name: object, entry: object, data_size: int) -> TensorInfo:
    if not isinstance(name, str) or len(name) > MAX_TENSOR_NAME:
        raise _fail(where, f"a tensor name is not a string of at most {MAX_TENSOR_NAME} characters")
    if not isinstance(entry, dict):
        raise _fail(where, f"the entry of tensor {name!r} is not an object")
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if not isinstance(dtype, str) or dtype not in DTYPE_BYTES:
        raise _fail(where, f"tensor {name!r} has the unknown dtype {str(dtype)[:40]!r}")
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        raise _fail(where, f"tensor {name!r} has a shape that is not a list of non-negative integers")
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(type(o) is int for o in offsets)
        or not 0 <= offsets[0] <= offsets[1] <= data_size
    ):
        raise _fail(where, f"tensor {name!r} has data offsets {str(offsets)[:60]} outside the file's {data_size} data bytes")
    info = TensorInfo(dtype, tuple(shape))
    if offsets[1] - offsets[0] != info.nbytes:
        raise _fail(where, f"tensor {name!r} spans {offsets[1] - offsets[0]} bytes, but {dtype} {list(shape)} needs {info.nbytes}")
    return info


def parse_header(f: BinaryIO, file_size: int, where: str) -> SafetensorsHeader:
    """Read and check the header from an open binary file positioned at its start."""
    prefix = f.read(8)
    if len(prefix) < 8:
        raise _fail(where, f"it is {file_size} bytes long, shorter than the 8-byte header length")
    (length,) = struct.unpack("<Q", prefix)
    if length > MAX_HEADER_BYTES:
        raise _fail(where, f"its header claims {length} bytes; autopipe reads at most {MAX_HEADER_BYTES}")
    if 8 + length > file_size:
        raise _fail(where, f"its header claims {length} bytes but the file has only {file_size - 8} after the length")
    raw = f.read(length)
    if len(raw) != length:
        raise _fail(where, "the file ended inside its header")
    try:
        data = json.loads(raw.decode("utf-8"))  # the format says UTF-8; bytes would let json guess UTF-16/32
    except (ValueError, RecursionError) as exc:
        raise _fail(where, f"its header is not JSON ({str(exc)[:80]})") from None
    if not isinstance(data, dict):
        raise _fail(where, f"its header is a JSON {type(data).__name__}, not an object")
    metadata = data.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise _fail(where, "its __metadata__ is not an object of strings")
    data_size = file_size - 8 - length
    tensors = {name: _tensor(where, name, entry, data_size) for name, entry in data.items()}
    return SafetensorsHeader(where, file_size, 8 + length, MappingProxyType(tensors), MappingProxyType(metadata))


@contextmanager
def opened(path: Path, what: str) -> Iterator[BinaryIO]:
    """`path` open for reading, with the OS's errors as autopipe's typed ones (`what` names the file expected)."""
    where = str(path)
    try:
        with open(path, "rb") as f:
            yield f
    except FileNotFoundError:
        raise ModelNotFoundError(f"{where} does not exist. Check the path.") from None
    except IsADirectoryError:
        raise InvalidModelError(f"{where} is a folder, not {what}") from None
    except OSError as exc:
        raise ModelNotFoundError(f"cannot read {where}: {exc.strerror or exc}") from exc


def read_header(path: str | os.PathLike[str]) -> SafetensorsHeader:
    """The checked header of the safetensors file at `path`, reading only the header's bytes."""
    path = Path(path)
    with opened(path, "a safetensors file") as f:
        return parse_header(f, os.fstat(f.fileno()).st_size, str(path))


def header_to_json(header: SafetensorsHeader) -> dict[str, Any]:
    """A JSON-ready summary (for ``autopipe inspect --json``): sizes and metadata, not every tensor."""
    return {
        "path": header.path,
        "file_size": header.file_size,
        "header_bytes": header.header_bytes,
        "tensors": len(header.tensors),
        "parameters": header.parameters,
        "bytes_by_dtype": header.bytes_by_dtype(),
        "metadata": dict(header.metadata),
    }


def write_header(path: str | os.PathLike[str], tensors: Mapping[str, tuple[str, tuple[int, ...]]], metadata: Mapping[str, str] | None = None) -> Path:
    """Write a valid safetensors file of these (dtype, shape) tensors whose data is a hole: zeros the disk never stores.

    For tests and benchmarks of header-only readers: a multi-gigabyte
    checkpoint's header, with its true tensor names and shapes, costs a few
    kilobytes of disk (the file is extended with ``truncate``, sparse on
    every common file system).
    """
    entries: dict[str, Any] = {}
    offset = 0
    for name, (dtype, shape) in tensors.items():
        size = math.prod(shape) * DTYPE_BYTES[dtype]
        entries[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    if metadata:
        entries["__metadata__"] = dict(metadata)
    raw = json.dumps(entries, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # the data section starts aligned, as the safetensors library writes it
    path = Path(path)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw)
        f.truncate(8 + len(raw) + offset)
    return path
