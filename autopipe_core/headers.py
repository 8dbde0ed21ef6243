"""A safetensors file's header: the names, dtypes and shapes of its tensors, and its metadata.

A safetensors file is 8 bytes of little-endian header length, that many bytes
of JSON, then the tensor data. Everything autopipe decides about a single-file
checkpoint (its family, its variant, the bytes each component will take) is in
the JSON, so only ``8 + header length`` bytes are ever read, whatever the size
of the file: a 7 GB SDXL checkpoint costs the same few hundred kilobytes as a
10 MB one.

The header is held to the rules the safetensors library itself enforces when
diffusers loads the file (``safe_open`` runs ``SafeTensors::read_metadata`` of
huggingface/safetensors ``safetensors/src/tensor.rs``, 0.8), so that a file
autopipe accepts is not refused later inside diffusers:

- the length is at most 100,000,000 bytes (``MAX_HEADER_SIZE``) and within the file;
- the JSON is UTF-8 and strict JSON as ``serde_json`` reads it: no ``NaN`` or
  ``Infinity``, no number beyond the float range, no lone UTF-16 surrogate
  escape, at most 127 levels of nesting (serde_json's recursion limit, 128);
  whitespace may pad it before and after (allowed since 0.8, PR #686, though
  the format's README still says the header begins with ``{``);
- it is an object; ``__metadata__`` (at most once) is ``null`` or an object of
  strings; every other key names a tensor whose entry is ``{"dtype", "shape",
  "data_offsets"}`` (each at most once; unknown keys are ignored) or the
  array ``[dtype, shape, data_offsets]`` (serde reads a struct from either);
  a dtype is one of :data:`DTYPE_BITS`' names (or ``{"NAME": null}``, serde's
  form of an enum variant); shape and offsets are integers in ``[0, 2**64)``
  (usize); a name given twice keeps its last entry (serde's HashMap);
- element counts are multiplied in order with usize overflow checks, times the
  dtype's bits, which must make whole bytes; each tensor spans exactly that
  many bytes; sorted by offsets the tensors tile the data section with no gap
  and no overlap, and end exactly where the file ends.

autopipe refuses one thing the library accepts: a tensor name longer than
:data:`MAX_TENSOR_NAME`. tests/test_headers_oracle.py checks the rest against
the installed library.

The ``safetensors`` package is not used here: it would pull in its framework
bindings, and resolution must import nothing heavy.
"""

from __future__ import annotations

import _thread
import gc
import json
import math
import os
import re
import struct
from bisect import bisect_left
from collections import namedtuple
from contextlib import contextmanager
from functools import cached_property
from itertools import accumulate, chain
from operator import itemgetter, sub
from types import MappingProxyType

from .errors import InvalidModelError, ModelNotFoundError
from .files import open_regular

#: typing.TYPE_CHECKING without importing typing. A cold ``autopipe resolve FILE`` reads a header, so this module
#: imports neither typing, pathlib, threading nor dataclasses (``inspect``): together about 15 ms of the 65 ms such a run took.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any, BinaryIO, Callable, Iterator, Mapping

#: The largest header autopipe reads: the safetensors library's own limit (``MAX_HEADER_SIZE`` in
#: safetensors/src/tensor.rs, 100,000,000 bytes, not 100 MiB). Real ones are far smaller (SD 1.5: about
#: 80 KiB, SDXL: about 200 KiB), so anything above is refused before it is allocated.
MAX_HEADER_BYTES = 100_000_000

#: A tensor name longer than this is refused (real ones are under 200 characters; the library sets no limit).
MAX_TENSOR_NAME = 1024

#: Bits per element of every dtype safetensors 0.8 reads (its ``Dtype`` enum and ``Dtype::bitsize``).
DTYPE_BITS: Mapping[str, int] = MappingProxyType(
    {
        "BOOL": 8, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6, "U8": 8, "I8": 8,
        "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8, "F8_E4M3FNUZ": 8, "F8_E5M2FNUZ": 8,
        "I16": 16, "U16": 16, "F16": 16, "BF16": 16,
        "I32": 32, "U32": 32, "F32": 32, "C64": 64, "F64": 64, "I64": 64, "U64": 64,
    }
)

#: Bytes per element of the dtypes whose elements are whole bytes (all but F4 and the F6s, which pack
#: several elements into a byte: size those with :data:`DTYPE_BITS` or :attr:`TensorInfo.nbytes`).
DTYPE_BYTES: Mapping[str, int] = MappingProxyType({d: bits // 8 for d, bits in DTYPE_BITS.items() if bits % 8 == 0})

#: Suffixes of pickle checkpoints: loading one runs whatever code it carries.
PICKLE_SUFFIXES = (".ckpt", ".bin", ".pt", ".pth", ".pkl", ".pickle")

_USIZE = 1 << 64  # shapes and offsets are Rust usize: 64 bits on every platform the library ships for
_MAX_DEPTH = 127  # serde_json refuses the 128th level of nesting (its recursion limit)
_PEEK = 1 << 20  # the header's first MiB is read, and its first character checked, before the rest
_WHITESPACE = re.compile(rb"[ \t\n\r]*")  # JSON whitespace, the only padding the library allows
_NAMES = {d: d for d in DTYPE_BITS}  # one str object per dtype, shared by every tensor
_BITS = dict(DTYPE_BITS)  # a plain dict: the lookup runs once per tensor


class TensorInfo(namedtuple("TensorInfo", ("dtype", "shape"))):
    """One tensor as the header describes it, ``(dtype, shape)``; no data.

    A frozen named tuple with no ``__dict__`` (a header may hold a million of
    them), not a dataclass: see the module's imports.
    """

    __slots__ = ()

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        """Bytes of data: ``bits * numel / 8``; whole bytes in a file the header check accepted."""
        return self.numel * DTYPE_BITS[self.dtype] // 8


class SafetensorsHeader(namedtuple("SafetensorsHeader", ("path", "file_size", "header_bytes", "tensors", "metadata"), defaults=(None,))):
    """What a safetensors file says about itself, read without its data.

    `path` names the file; `file_size` and `header_bytes` are bytes:
    `header_bytes` is how much of the file was read (the 8-byte length plus
    the JSON), and tests use it to show that reading does not grow with the
    file. `tensors` maps each name to its :class:`TensorInfo`; `metadata`
    (``__metadata__``, strings to strings) is empty when None is given.

    A frozen named tuple, not a dataclass: see the module's imports. It keeps
    a ``__dict__`` for :attr:`names`, built on first use.
    """

    def __new__(cls, path: str, file_size: int, header_bytes: int, tensors: Mapping[str, TensorInfo],
                metadata: Mapping[str, str] | None = None) -> SafetensorsHeader:
        return super().__new__(cls, path, file_size, header_bytes, tensors, {} if metadata is None else metadata)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"a SafetensorsHeader is frozen: cannot set {name!r}")

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

    @cached_property
    def names(self) -> tuple[str, ...]:
        """Every tensor name, sorted: the index :meth:`has_prefix` and :meth:`with_prefix` search (built once, on first use).

        Detection asks a header many questions about names (every plugin, several prefixes each); a sorted
        tuple answers each in a binary search instead of a pass over every name.
        """
        return tuple(sorted(self.tensors))

    def with_prefix(self, prefix: str) -> tuple[str, ...]:
        """The tensor names that start with `prefix`, sorted."""
        names = self.names
        start = bisect_left(names, prefix)
        end = bisect_left(names, prefix + "\U0010ffff", start) if prefix else len(names)
        while end < len(names) and names[end].startswith(prefix):  # names holding U+10FFFF itself, after the bound
            end += 1
        return names[start:end]

    def has_prefix(self, prefix: str) -> bool:
        """Whether some tensor name starts with `prefix`."""
        names = self.names
        i = bisect_left(names, prefix)
        return i < len(names) and names[i].startswith(prefix)


def _fail(where: str, problem: str) -> InvalidModelError:
    return InvalidModelError(
        f"{where} is not a valid safetensors file: {problem}. "
        "It may be truncated or corrupt: download it again, or convert the original with the safetensors library."
    )


# --- the JSON, decoded in one pass ---------------------------------------------------------------------------------
#
# json.loads calls the hook _decoder makes for every JSON object with its (key, value) pairs, in order and with duplicates. A tensor
# entry written the way every writer writes it (dtype, shape, data_offsets, in that order, well typed) becomes a
# compact (TensorInfo, start, end, size) tuple at once (see _decoder), so the parsed dicts of a million tensors never
# exist together; anything else stays an _Object, the pairs as read, for the slower checks that know where it sits
# and say what is wrong. JSON arrays stay lists; tuples only ever come from the hook.


class _Object:
    """A JSON object as its (key, value) pairs: duplicates kept, as serde sees them."""

    __slots__ = ("pairs",)

    def __init__(self, pairs: list[tuple[str, Any]]):
        self.pairs = pairs

    def __repr__(self) -> str:  # for errors: short, whatever the size of the object
        more = ", ..." if len(self.pairs) > 3 else ""
        return "{" + ", ".join(f"{_show(k)}: {_show(v)}" for k, v in self.pairs[:3]) + more + "}"


def _show(value: Any) -> str:
    """A value for an error message: at most about 40 characters, however large it is."""
    import reprlib

    return reprlib.repr(value)[:40]


_EMPTY = _Object([])


def _decoder(careful: list[bool]) -> Callable[[list[tuple[str, Any]]], Any]:
    """The ``object_pairs_hook`` of one decoding: it turns well-formed tensor entries into (info, start, end, size) tuples.

    Allocation-light, since a header may hold a million entries: tensors of the same dtype and shape (most of a
    checkpoint's) share one :class:`TensorInfo` and one shape tuple, so the JSON's lists and integers of a repeated
    shape are freed as soon as they are read, and the size in bytes of each (dtype, shape) is worked out once.
    `size` is None where the quick check cannot decide (a size that overflows or is not whole bytes):
    :func:`_span` then says what is wrong. The cache lives as long as the decoding.

    ``careful[0]`` is true once the text may hold a number that equals an integer without being one (``1.0``,
    ``true``, ``-0``): a shape found in the cache is then checked element by element, as a new one always is.
    """
    infos: dict[str, dict[tuple[int, ...], tuple[TensorInfo, int | None]]] = {name: {} for name in _NAMES}
    usize, empty = _USIZE, _EMPTY

    def hook(pairs: list[tuple[str, Any]]) -> Any:
        if len(pairs) == 3:
            (k0, dtype), (k1, shape), (k2, offsets) = pairs
            if (
                k0 == "dtype" and k1 == "shape" and k2 == "data_offsets"
                and type(dtype) is str and type(shape) is list and type(offsets) is list and len(offsets) == 2
            ):
                start, end = offsets
                known = infos.get(dtype)
                if known is not None and type(start) is int and type(end) is int and 0 <= start < usize and 0 <= end < usize:
                    key = tuple(shape)
                    try:
                        found = known.get(key)
                    except TypeError:  # a list inside the shape: not a tensor entry of this form
                        return _Object(pairs)
                    if found is not None and not careful[0]:  # the shape was checked when it was first seen
                        return (found[0], start, end, found[1])
                    for d in key:
                        if type(d) is not int or not 0 <= d < usize:
                            break
                    else:
                        if found is None:
                            info = TensorInfo(_NAMES[dtype], key)
                            found = known[key] = (info, _size(info))
                        return (found[0], start, end, found[1])
        elif not pairs:
            return empty  # one for all: a header of a million {} costs a million pointers
        return _Object(pairs)

    return hook


def _float(text: str) -> float:
    """serde_json refuses a number it cannot hold in an f64 ("number out of range"); Python would make it inf."""
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"the number {text[:40]} is out of range")
    return value


def _integer(text: str) -> int | float:
    """serde_json reads ``-0`` as the float -0.0 (not the usize 0), and an integer beyond u64/i64 as an f64,
    refused when it is out of the f64 range."""
    if text == "-0":
        return -0.0
    value = int(text)
    if len(text) > 300:
        _float(text)
    return value


#: The shadow of the JSON text in which numbers are told apart: ASCII digits become "0", "e", "E" and "+" become
#: "e", anything else a space. A number that may lie beyond the f64 range (1.8e308) shows there as 200 zeros in a
#: row (an integer part of 200 digits) or "e000" (an exponent of 3 digits, signed or not).
_SHADOW = bytes(0x30 if 0x30 <= c <= 0x39 else 0x65 if c in b"eE+" else 0x20 for c in range(256))


def _needs_number_checks(raw: bytes) -> bool:
    """Whether the JSON may hold ``-0`` or a number out of the f64 range, which Python's json reads and serde_json
    does not. Real headers hold neither, so their numbers are left to the C decoder (a call per number would
    cost a third more); three scans of the bytes decide."""
    if b"-0" in raw:
        return True
    shadow = raw.translate(_SHADOW)
    return b"0" * 200 in shadow or b"e000" in shadow


def _constant(text: str) -> None:
    raise ValueError(f"{text} is not JSON")


_gc_lock = _thread.allocate_lock()
_gc_holders = 0
_gc_was_enabled = False


@contextmanager
def _gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off while a header is decoded.

    Decoding allocates a few objects per tensor and frees none, so the
    collector runs over and over and finds nothing. Measured with
    bench/header_costs.py's headers: 16 MiB (230,000 tensors) reads in 0.64 s
    of CPU instead of 0.94, 500,000 tensors in 1.78 s instead of 2.18; the
    peak memory is the same. Nothing decoded here can form a cycle. Nested
    and concurrent readers share one pause; the last to finish restores the
    collector as the first found it.
    """
    global _gc_holders, _gc_was_enabled
    with _gc_lock:
        if _gc_holders == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_holders += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_holders -= 1
            if _gc_holders == 0 and _gc_was_enabled:
                gc.enable()


# --- the slow paths: entries in another form, and saying exactly what is wrong ------------------------------------


_NESTED = frozenset({list, tuple, _Object})


def _nesting_ok(value: Any, depth: int) -> bool:
    """Whether a value the library ignores (an unknown key of a tensor entry) nests within serde_json's limit:
    `depth` is the level `value` opens, the limit ``_MAX_DEPTH`` (numbers were checked while decoding).

    An array of scalars is passed over in C (``set(map(type, ...))``), and repeated objects are checked once,
    so a long array costs no Python loop unless it holds many different arrays or objects."""
    kind = type(value)
    if kind is tuple:  # an object the decoder took for a tensor entry: it holds arrays one level down
        return depth + 1 <= _MAX_DEPTH
    if kind is _Object:
        items = [v for _, v in value.pairs]
    elif kind is list:
        items = value
    else:
        return True
    if depth > _MAX_DEPTH:
        return False
    kinds = set(map(type, items))
    if _NESTED.isdisjoint(kinds):
        return True
    if list not in kinds:
        items = set(items)  # all hashable: a value seen many times (the one empty {}) is checked once
    return all(_nesting_ok(v, depth + 1) for v in items if type(v) in _NESTED)


def _dtype(where: str, name: str, value: Any) -> str:
    if type(value) is str and value in _NAMES:
        return _NAMES[value]
    if type(value) is _Object and len(value.pairs) == 1 and value.pairs[0][1] is None and value.pairs[0][0] in _NAMES:
        return _NAMES[value.pairs[0][0]]  # {"F16": null}: how serde also spells a unit enum variant
    raise _fail(where, f"tensor {name[:100]!r} has the unknown dtype {_show(value)} (safetensors knows {', '.join(DTYPE_BITS)})")


def _usizes(value: Any) -> bool:
    return type(value) is list and all(type(d) is int and 0 <= d < _USIZE for d in value)


def _entry(where: str, name: str, value: Any) -> tuple[TensorInfo, int, int, int | None]:
    """A tensor entry the fast path did not take: another key order, unknown keys, the array form, or an error."""
    if type(value) is list:
        if len(value) != 3:
            raise _fail(where, f"the entry of tensor {name[:100]!r} is an array of {len(value)} items, not [dtype, shape, data_offsets]")
        fields = dict(zip(("dtype", "shape", "data_offsets"), value))
    elif type(value) is _Object:
        fields = {}
        for key, item in value.pairs:
            if key in ("dtype", "shape", "data_offsets"):
                if key in fields:
                    raise _fail(where, f"tensor {name[:100]!r} has {key!r} twice")
                fields[key] = item
            elif not _nesting_ok(item, 3):
                raise _fail(where, f"tensor {name[:100]!r} has a key {key[:40]!r} nested deeper than JSON's {_MAX_DEPTH} levels the library reads")
        missing = [k for k in ("dtype", "shape", "data_offsets") if k not in fields]
        if missing:
            raise _fail(where, f"tensor {name[:100]!r} has no {' and no '.join(missing)}")
    else:
        raise _fail(where, f"the entry of tensor {name[:100]!r} is not an object")
    dtype = _dtype(where, name, fields["dtype"])
    shape, offsets = fields["shape"], fields["data_offsets"]
    if not _usizes(shape):
        raise _fail(where, f"tensor {name[:100]!r} has a shape that is not a list of non-negative integers under 2**64")
    if not _usizes(offsets) or len(offsets) != 2:
        raise _fail(where, f"tensor {name[:100]!r} has data offsets {_show(offsets)} that are not two non-negative integers under 2**64")
    info = TensorInfo(dtype, tuple(shape))
    return info, offsets[0], offsets[1], _size(info)


def _metadata(where: str, value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if type(value) is _Object and all(type(v) is str for _, v in value.pairs):
        return dict(value.pairs)  # a key given twice keeps its last value, as in the library
    raise _fail(where, "its __metadata__ is not an object of strings")


def _surrogates(data: _Object) -> bool:
    """Whether a decoded string anywhere holds a lone UTF-16 surrogate (``"\\ud800"``), which serde_json refuses.

    Only asked when the text has such an escape. A loop, not recursion: the JSON may nest as deep as Python's
    decoder allows, deeper than the check of nesting that comes later."""
    stack: list[Any] = [data]
    while stack:
        value = stack.pop()
        kind = type(value)
        if kind is str:
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif kind is _Object:
            for key, item in value.pairs:
                stack += (key, item)
        elif kind is list:
            stack += value
    return False  # typed entries (tuples) hold only our own dtype names


# --- sizes and offsets --------------------------------------------------------------------------------------------


def _elements(shape: tuple[int, ...]) -> int | None:
    """The product of `shape`, or None where the library's ``try_fold(1usize, checked_mul)`` overflows.

    In order, as the library multiplies: ``[2**63, 2, 0]`` overflows before the zero. A product is never
    formed past 2**64, so a shape of thousands of huge dimensions costs no more than its length.
    """
    if len(shape) <= 8:  # eight factors under 2**64: an exact product under 2**512, cheap to form
        n = math.prod(shape)
        if 0 < n < _USIZE:
            return n  # no zero, so the partial products only grew: none overflowed
        if n and 0 not in shape:
            return None
    n = 1
    for d in shape:
        n *= d
        if n >= _USIZE:
            return None
        if n == 0:
            return 0
    return n


def _size(info: TensorInfo) -> int | None:
    """The bytes a tensor of `info`'s dtype and shape spans, or None where its size overflows 64 bits or is not whole bytes."""
    n = _elements(info.shape)
    bits = None if n is None else n * _BITS[info.dtype]
    if bits is None or bits >= _USIZE or bits & 7:
        return None
    return bits >> 3


def _span(where: str, name: str, info: TensorInfo, start: int, end: int, data_size: int) -> None:
    """Refuse a tensor whose bytes do not match its dtype and shape (Metadata::validate's per-tensor checks)."""
    n = _elements(info.shape)
    bits = None if n is None else n * DTYPE_BITS[info.dtype]
    if bits is None or bits >= _USIZE:
        raise _fail(where, f"tensor {name[:100]!r} has the shape {list(info.shape)[:8]}{'...' if len(info.shape) > 8 else ''} whose size overflows 64 bits")
    if bits % 8:
        raise _fail(where, f"tensor {name[:100]!r} is {bits} bits of {info.dtype}, not a whole number of bytes")
    if end < start:
        raise _fail(where, f"tensor {name[:100]!r} has data offsets [{start}, {end}] that end before they start")
    if end > data_size:
        raise _fail(where, f"tensor {name[:100]!r} has data offsets [{start}, {end}] outside the file's {data_size} data bytes")
    if end - start != bits // 8:
        raise _fail(where, f"tensor {name[:100]!r} spans {end - start} bytes, but {info.dtype} {list(info.shape)[:8]} needs {bits // 8}")


def _tile(where: str, spans: list[tuple[int, int, str]], data_size: int) -> None:
    """Sorted by (start, end), each tensor starts where the one before ended and the last ends the file."""
    spans.sort()
    position = 0
    for start, end, name in spans:
        if start != position:
            if start > position:
                raise _fail(where, f"tensor {name[:100]!r} starts at byte {start} of the data, leaving a gap of {start - position} bytes after the tensor before it")
            raise _fail(where, f"tensor {name[:100]!r} starts at byte {start} of the data, an overlap of {position - start} bytes with the tensor before it")
        position = end
    _ends(where, position, data_size)


def _ends(where: str, position: int, data_size: int) -> None:
    if position != data_size:
        raise _fail(where, f"its tensors end at byte {position} of the data section, but the file holds {data_size - position} bytes more")


def _tensors(where: str, entries: dict[str, Any], data_size: int) -> dict[str, TensorInfo]:
    """Check every (info, start, end, size) entry and their tiling; returns the same dict holding TensorInfos.

    The size of each distinct (dtype, shape) was worked out once while decoding, so a tensor costs two
    comparisons here (a header may hold a million); one whose size is None or does not match goes through
    :func:`_span`, which checks the same rules one at a time and says which failed.
    """
    position, ordered = 0, True
    for name, (info, start, end, size) in entries.items():
        if end - start != size or end > data_size:  # size >= 0, so start <= end; None never matches
            _span(where, name, info, start, end, data_size)
        if start != position:
            ordered = False
        position = end
    if ordered:  # the order every writer uses: that one pass was the library's check
        _ends(where, position, data_size)
    else:
        _tile(where, [(start, end, name) for name, (_, start, end, _) in entries.items()], data_size)
    for name, entry in entries.items():
        entries[name] = entry[0]
    return entries


def _load(where: str, f: BinaryIO, length: int, data_size: int) -> _Object | tuple[dict[str, TensorInfo], dict[str, str]]:
    """Read the `length` bytes of JSON and decode them, checking every rule of the JSON text itself.

    A header as writers write it comes back checked whole, as (tensors, metadata) from :func:`plain_header`;
    any other as the careful decoding's :class:`_Object`, for :func:`_entries` and :func:`_tensors`. On the
    careful path one frame holds the bytes, then the text, then the decoded value, each dropped as soon as the
    next exists: at most twice the header's size is alive at once.
    """
    raw = f.read(min(length, _PEEK))
    first = _WHITESPACE.match(raw).end()
    if first < len(raw) and raw[first] != 0x7B:  # "{": refused before the rest is read
        raise _fail(where, f"its header starts with {raw[first:first + 1]!r}, not with the '{{' of a JSON object")
    if len(raw) < length:
        raw += f.read(length - len(raw))
    if len(raw) != length:
        raise _fail(where, "the file ended inside its header")
    small = len(raw) <= FAST_HEADER_BYTES
    numbers = False if small else _needs_number_checks(raw)  # before the text exists: its scans copy the bytes
    try:
        text = raw.decode("utf-8")  # the format says UTF-8; bytes would let json guess UTF-16/32
    except UnicodeDecodeError as exc:
        raise _fail(where, f"its header is not UTF-8 (byte {exc.start})") from None
    if small:
        plain = plain_header(raw, text, data_size)
        if plain is not None:
            return plain
        numbers = _needs_number_checks(raw)
    del raw
    escapes = "\\u" in text and ("\\ud" in text or "\\uD" in text)
    careful = [numbers or "true" in text or "false" in text]  # see _decoder

    def decimal(number: str) -> float:  # a float anywhere: cached shapes are checked one by one from here on
        careful[0] = True
        return _float(number)

    options: dict[str, Any] = {"object_pairs_hook": _decoder(careful), "parse_constant": _constant, "parse_float": decimal}
    if numbers:
        options["parse_int"] = _integer
    try:
        data = json.loads(text, **options)
    except (ValueError, RecursionError) as exc:
        raise _fail(where, f"its header is not JSON ({str(exc)[:80]})") from None
    del text
    if type(data) is not _Object:
        raise _fail(where, f"its header is a JSON {'tensor entry' if type(data) is tuple else type(data).__name__}, not an object of tensors")
    if escapes and _surrogates(data):
        raise _fail(where, "its header holds a lone UTF-16 surrogate escape (\\ud800-\\udfff), which is not valid JSON text")
    return data


_ABSENT = object()


# --- the fast path: a header as writers write it, decoded by the C decoder alone -------------------------------------
#
# Every writer (the safetensors library, json.dumps) writes each tensor as {"dtype", "shape", "data_offsets"} once,
# no escapes, no -0, integers only. For such a header the careful decoding above spends most of its time calling the
# hook (4.75 ms of an SDXL file's 200 KiB header, against 1.7 ms for a plain json.loads). So a header is first tried
# plainly, when cheap checks of the raw bytes rule out what a plain decoding cannot see and the careful path refuses
# (or reads otherwise): escapes (``\u`` surrogates, names holding quotes), negative numbers (``-0``), a key given
# twice (a plain dict keeps one: the strings are counted on the raw text). Everything else is checked on the decoded
# values in C-level passes (``map``, ``set``, list comparisons). Any doubt returns None, and the careful path decodes
# the header again from its text and says exactly what is wrong: the fast path never refuses, and accepts only what
# the careful one accepts, read alike. SD 1.5's header (1,130 tensors) reads in about 1.5 ms instead of 2.0, SDXL's
# (2,513) in 3.3 instead of 4.7. tests/test_headers_fast.py checks the two paths and the library agree case by case,
# tests/test_headers_oracle.py the library on generated headers.

#: Headers larger than this go straight to the careful path: a plain decoding holds every entry's dict and lists at
#: once (about 0.5 KiB a tensor), where the careful one shares one TensorInfo per (dtype, shape). Real checkpoints'
#: headers are well under it (SDXL: about 200 KiB, 2,513 tensors).
FAST_HEADER_BYTES = 8 << 20

_DTYPE, _SHAPE, _OFFSETS = itemgetter("dtype"), itemgetter("shape"), itemgetter("data_offsets")
_FIRST, _SECOND = itemgetter(0), itemgetter(1)


def _negative_number(raw: bytes) -> bool:
    """Whether the JSON may hold a negative number (``-0`` among them, which Python reads as the integer 0 and
    serde_json as a float): a '-' after '[', ',' or ':' and blanks. Dashes inside strings (a date in the metadata)
    are passed over one find at a time; past a thousand of them the answer is yes, and the careful path decides."""
    i = raw.find(b"-")
    for _ in range(1000):
        if i == -1:
            return False
        j = i - 1
        while j >= 0 and raw[j] in b" \t\n\r":
            j -= 1
        if j < 0 or raw[j] in b"[,:":
            return True
        i = raw.find(b"-", i + 1)
    return True


def plain_header(raw: bytes, text: str, data_size: int) -> tuple[dict[str, TensorInfo], dict[str, str]] | None:
    """The tensors and metadata of a header written the usual way, or None: then only the careful path may judge it.

    `raw` is the header's JSON bytes (after the 8-byte length), `text` the same decoded as UTF-8, `data_size` the
    bytes of the file after the header. Never raises for what `raw` holds: a header it cannot vouch for is None.
    A header byte for byte as the safetensors library writes it is read from its bytes (:func:`library_header`),
    any other through ``json.loads``.
    """
    if len(raw) > FAST_HEADER_BYTES or raw.find(b"\\") != -1 or _negative_number(raw):
        return None
    try:
        return library_header(raw, data_size, text) or _plain(raw, text, data_size)
    except (ValueError, TypeError, RecursionError):  # not JSON, NaN, a big number's digits; an unhashable dtype or shape
        return None


def _plain(raw: bytes, text: str, data_size: int) -> tuple[dict[str, TensorInfo], dict[str, str]] | None:
    data = json.loads(text, parse_constant=_constant)
    if type(data) is not dict:
        return None
    metadata = data.pop("__metadata__", _ABSENT)
    entries = data.values()
    if not data or set(map(type, entries)) != {dict} or set(map(len, entries)) != {3}:
        return None
    if metadata is _ABSENT or metadata is None:
        strings, metadata = 0 if metadata is _ABSENT else 1, {}
    elif type(metadata) is dict and set(map(type, metadata.values())) <= {str}:
        strings = 1 + 2 * len(metadata)
    else:
        return None
    # With no backslash, every '"' of the text opens or closes a string: a tensor's entry shows five strings (its
    # name, three keys, the dtype; shape and offsets are checked below to hold integers only), the metadata its key
    # and each key and value. Decoded, a key given twice is one member: the text then holds more strings than that.
    if raw.count(b'"') != 2 * (strings + 5 * len(data)) or max(map(len, data)) > MAX_TENSOR_NAME:
        return None
    try:  # each entry's three members are these three: none is missing, and there is no other
        dtypes, shapes, offsets = list(map(_DTYPE, entries)), list(map(_SHAPE, entries)), list(map(_OFFSETS, entries))
    except KeyError:
        return None
    if (
        not set(dtypes) <= _NAMES.keys() or set(map(type, shapes)) != {list} or set(map(type, offsets)) != {list}
        or set(map(len, offsets)) != {2} or set(map(type, chain.from_iterable(shapes))) - {int}
    ):
        return None  # integers only: no float, bool, null or list where the library reads a usize
    one = set(dtypes)
    if len(one) == 1:  # one dtype, as most files have: keyed on the shape alone (a tuple of ints hashes faster)
        only = _NAMES[one.pop()]
        keys: list[Any] = list(map(tuple, shapes))
        known: dict[Any, Any] = dict.fromkeys(keys)
        distinct = [(only, shape) for shape in known]
    else:
        keys = list(zip(dtypes, map(tuple, shapes)))
        known = dict.fromkeys(keys)
        distinct = list(known)
    for key, (dtype, shape) in zip(list(known), distinct):  # one TensorInfo and size per (dtype, shape), as when careful
        if min(shape, default=0) < 0 or max(shape, default=0) >= _USIZE:
            return None
        info = TensorInfo(_NAMES[dtype], shape)
        known[key] = (info, _size(info))
    found = list(map(known.__getitem__, keys))
    starts, ends = list(map(_FIRST, offsets)), list(map(_SECOND, offsets))
    if set(map(type, starts)) != {int} or set(map(type, ends)) != {int}:
        return None
    if list(map(sub, ends, starts)) != list(map(_SECOND, found)):  # a size of None (overflow, part bytes) never equals
        return None
    if starts[0] != 0 or starts[1:] != ends[:-1]:  # not in the order of their offsets: sorted, they must still tile
        spans = sorted(zip(starts, ends))
        starts, ends = list(map(_FIRST, spans)), list(map(_SECOND, spans))
        if starts[0] != 0 or starts[1:] != ends[:-1]:
            return None
    if ends[-1] != data_size:  # tiled from 0 to the end of the file: every offset lies within it
        return None
    return dict(zip(data, map(_FIRST, found))), metadata


# --- the fastest path: a header byte for byte as the safetensors library writes it -----------------------------------
#
# The library (safetensors 0.8's serialize, behind ``safetensors.torch.save_file`` and diffusers' save_pretrained)
# writes the header compactly: ``{``, the metadata if any, then each tensor as
# ``"NAME":{"dtype":"F16","shape":[320,4,3,3],"data_offsets":[0,23040]}``, commas between, ``}``, spaces to pad. Such
# a header is read from its text with no JSON object built: split at its quotes (there is no backslash, so every
# quote opens or closes a string), each tensor is ten pieces in a fixed order, and every tenth piece from a given one
# on is one column: the names, the dtypes, the shapes as ``:[320,4,3,3],``, the offsets as ``:[0,23040]},``. The
# pieces between are constants, checked by counting them; a distinct shape is parsed once (and kept for the next
# header: the scan bench's 1,000 files hold 250 distinct ones), and only the offsets become integers. For those 1,000
# headers (168 MB, 1.2 million tensors) this takes 1.42 s against 1.73 s for one regular expression matching each
# entry (the reader before it) and 2.55 s for json.loads with the checks on its objects (medians of 6 alternated
# rounds in one process); the header is most of what `autopipe scan` spends.
#
# It accepts only what the JSON path accepts, read alike (tests/test_headers_fast.py compares the two on every case,
# tests/test_headers_oracle.py both against the library): every piece is checked for its whole form, so the pieces,
# which tile the text, are a run of well-formed entries; names and metadata hold no control character and are UTF-8,
# numbers have no leading zero, no name is given twice. The metadata may come first (the library's place) or last;
# anything else, and any doubt, is None and goes to the JSON path.

_LIBRARY_METADATA = re.compile(r'"__metadata__":\{((?:"[^"]*":"[^"]*",?)*)\}')  # commas counted by _library_metadata
_LIBRARY_PAIR = re.compile(r'"([^"]*)":"([^"]*)"')
_METADATA_KEY = '"__metadata__":'
#: Every tensor's offsets piece, each followed by a NUL (which no header library_header reads holds, so each piece must
#: be exactly one pair): no leading zero.
_LIBRARY_OFFSETS = re.compile(r"(?::\[(?:0|[1-9][0-9]*),(?:0|[1-9][0-9]*)\]\},\0)*")
_CONTROL_BYTES = [bytes([c]) for c in range(0x20)]  # not allowed unescaped in a JSON string; the library writes none outside strings either
#: (dtype, shape piece) -> (TensorInfo, bytes), or None for a piece that is no shape: shared by the headers one process
#: reads (a scan reads many of few layouts); emptied when it reaches _SHAPES_KEPT entries (about 300 bytes each).
_SHAPES: dict[tuple[str, str], tuple[TensorInfo, int | None] | None] = {}
_SHAPES_KEPT = 1024


def library_header(raw: bytes, data_size: int, text: str | None = None) -> tuple[dict[str, TensorInfo], dict[str, str]] | None:
    """The tensors and metadata of a header written byte for byte as the safetensors library writes it, or None.

    Read without ``json``; see the comment above. `raw` is the header's JSON bytes, holding no backslash (as
    :func:`plain_header` asks it), `text` the same decoded as UTF-8 (decoded here when not given), `data_size` the
    bytes after the header. Never raises for what `raw` holds.
    """
    try:
        if any(map(raw.__contains__, _CONTROL_BYTES)):  # 32 memchr passes: under half the time of one translate
            return None
        return _library_header(raw.decode("utf-8") if text is None else text, data_size)
    except ValueError:  # not UTF-8 (UnicodeDecodeError), an empty dimension, a number of more than 4,300 digits
        return None


def _library_header(raw: str, data_size: int) -> tuple[dict[str, TensorInfo], dict[str, str]] | None:
    tail = raw[-64:]
    close = len(raw) - (len(tail) - len(tail.rstrip(" "))) - 1
    if close < 1 or raw[0] != "{" or raw[close] != "}":  # "{" ... "}" and spaces
        return None
    start, end, metadata = 1, close, {}
    at = raw.find(_METADATA_KEY)
    if at != -1:
        found = _LIBRARY_METADATA.match(raw, at)
        if found is None:  # a tensor named __metadata__ before it, or members that are not strings
            return None
        if at == 1 and raw[found.end()] == ",":  # first, then ","
            start = found.end() + 1
        elif found.end() == close and raw[at - 1] == ",":  # "," then last
            end = at - 1
        else:
            return None
        metadata = _library_metadata(found.group(1))
        if metadata is None:
            return None
    # '"NAME":{"dtype":"F16","shape":[320,4,3,3],"data_offsets":[0,23040]},"NAME":...}' split at its quotes: "", then
    # per tensor NAME, ':{', 'dtype', ':', F16, ',', 'shape', ':[320,4,3,3],', 'data_offsets', ':[0,23040]},' (the
    # last tensor's without its comma).
    pieces = raw[start:end].split('"')
    count, extra = divmod(len(pieces) - 1, 10)
    if extra or not count or pieces[0] or any(
        pieces[first::10].count(constant) != count
        for first, constant in ((2, ":{"), (3, "dtype"), (4, ":"), (6, ","), (7, "shape"), (9, "data_offsets"))
    ):
        return None
    names, dtypes, shapes, offsets = pieces[1::10], pieces[5::10], pieces[8::10], pieces[10::10]
    del pieces
    offsets[-1] += ","
    joined = "\0".join(offsets) + "\0"
    if _LIBRARY_OFFSETS.fullmatch(joined) is None:
        return None
    numbers = joined.replace("]},\0", ",").replace(":[", "").split(",")
    starts, ends = numbers[0:-1:2], numbers[1::2]
    if not set(dtypes) <= _NAMES.keys() or max(map(len, names)) > MAX_TENSOR_NAME:
        return None  # a dtype the format does not have; a name too long
    only = dtypes[0] if len(set(dtypes)) == 1 else None
    keys: Any = shapes if only is not None else list(zip(dtypes, shapes))  # one dtype, as most files have: the shape alone
    known: dict[Any, tuple[TensorInfo, int | None] | None] = dict.fromkeys(keys)  # one TensorInfo and size per (dtype, shape)
    for key in known:
        known[key] = info = _shape_info(*((only, key) if only is not None else key))
        if info is None:
            return None
    found = list(map(known.__getitem__, keys))
    tensors = dict(zip(names, map(_FIRST, found)))
    if len(tensors) != count or "__metadata__" in tensors:  # a name given twice; a tensor under the metadata's key after it
        return None
    sizes = list(map(_SECOND, found))
    if None in sizes:  # an element count past 64 bits, or a dtype's bits that do not make whole bytes
        return None
    ends_at = list(map(int, ends))
    if starts[0] == "0" and starts[1:] == ends[:-1]:  # in offset order (equal digits, equal numbers: no leading 0)
        if ends_at != list(accumulate(sizes)):  # then each tensor spans its size exactly when the ends are the running sums
            return None
    else:
        spans = sorted(zip(map(int, starts), ends_at, sizes))
        starts_at, ends_at = list(map(_FIRST, spans)), list(map(_SECOND, spans))
        if starts_at[0] != 0 or starts_at[1:] != ends_at[:-1] or list(map(sub, ends_at, starts_at)) != [span[2] for span in spans]:
            return None
    if ends_at[-1] != data_size:
        return None
    return tensors, metadata


def _shape_info(dtype: str, piece: str) -> tuple[TensorInfo, int | None] | None:
    """The TensorInfo and byte size of a tensor of `dtype` whose shape piece is `piece` (``:[320,4,3,3],``), or None
    when the piece is no list of JSON integers under 2**64. Kept in _SHAPES for the next header."""
    key = (dtype, piece)
    kept = _SHAPES.get(key, _ABSENT)  # one lookup: another thread may empty the dict between two
    if kept is not _ABSENT:
        return kept
    text = piece[2:-2]
    info: tuple[TensorInfo, int | None] | None = None
    if piece[:2] == ":[" and piece[-2:] == "],":
        shape = tuple(map(int, text.split(","))) if text else ()  # "1,,2" or ",": int("") raises ValueError
        if ",".join(map(str, shape)) == text and min(shape, default=0) >= 0 and max(shape, default=0) < _USIZE:
            tensor = TensorInfo(_NAMES[dtype], shape)  # "02", " 2", "+2", "2_0", "١": not JSON, and not read back alike
            info = (tensor, _size(tensor))
    if len(_SHAPES) >= _SHAPES_KEPT:
        _SHAPES.clear()
    _SHAPES[key] = info
    return info


def _library_metadata(inner: str) -> dict[str, str] | None:
    """The metadata object's members, the text between its braces: string keys and values only, no key twice (the
    caller checked the header for control characters)."""
    if not inner:
        return {}
    pairs = _LIBRARY_PAIR.findall(inner)
    if 6 * len(pairs) - 1 + sum(len(k) + len(v) for k, v in pairs) != len(inner):
        return None
    metadata = dict(pairs)
    return metadata if len(metadata) == len(pairs) else None


def _entries(where: str, data: _Object) -> tuple[dict[str, Any], dict[str, str]]:
    """The decoded header as {name: (info, start, end, size)} and its metadata.

    A header as writers write it (every entry decoded as a tensor, no name twice, none too long) is taken in
    one C call; anything else is read entry by entry, in order, so the first thing wrong is the one named.
    """
    pairs = data.pairs
    entries: dict[str, Any] = dict(pairs)
    metadata_value = entries.pop("__metadata__", _ABSENT)
    if (
        len(entries) + (metadata_value is not _ABSENT) == len(pairs)
        and (not entries or (set(map(type, entries.values())) == {tuple} and max(map(len, entries)) <= MAX_TENSOR_NAME))
    ):
        return entries, _metadata(where, None if metadata_value is _ABSENT else metadata_value)
    entries = {}
    metadata: dict[str, str] | None = None
    for name, value in pairs:
        if name == "__metadata__":
            if metadata is not None:
                raise _fail(where, "its header has __metadata__ twice")
            metadata = _metadata(where, value)
            continue
        if type(value) is not tuple:
            value = _entry(where, name, value)
        if len(name) > MAX_TENSOR_NAME:
            raise _fail(where, f"a tensor name is {len(name)} characters long; autopipe reads names of at most {MAX_TENSOR_NAME}")
        entries[name] = value  # a name given twice keeps its last entry, as the library's HashMap does
    return entries, metadata or {}


# --- files that are not weight files ----------------------------------------------------------------------------


def _not_weights(where: str, first: bytes, f: BinaryIO) -> None:
    """Raise the error that names a JSON file given where a weight file was expected; return if it is not one.

    Only reached once the first 8 bytes failed as a header length. Those of a JSON file always do: its first
    byte is printable and so are the next seven, which makes a length over 2**32. Only a file whose first
    non-blank byte is ``{`` or ``[`` costs more: 4 KiB, to tell an index from another JSON file.
    """
    start = _WHITESPACE.match(first).end()
    if start < len(first) and first[start] not in b"{[":
        return  # a pickle, a zip, anything else: nothing more is read
    head = first + f.read(4096)
    text = head[_WHITESPACE.match(head).end():]
    if not text.startswith((b"{", b"[")):
        return
    name = os.path.basename(where)
    if name.endswith(".index.json") or b'"weight_map"' in head:
        said = f"{where} is the index of a sharded checkpoint (a JSON list of which shard holds each tensor), not a weight file"
        if os.path.isfile(os.path.join(os.path.dirname(where), "config.json")):
            raise InvalidModelError(
                f"{said}; its folder holds one diffusers model (it has a config.json). Pass the pipeline folder above it "
                "for a component such as unet/, or load the model from its folder with its class's from_pretrained."
            )
        raise InvalidModelError(f"{said}. `autopipe scan` classifies it with its shards; to load it, merge the shards into one .safetensors file.")
    if name == "model_index.json":
        raise InvalidModelError(f"{where} is a diffusers pipeline's model_index.json, not a weight file. Pass the folder that holds it instead of the file.")
    raise InvalidModelError(
        f"{where} is a JSON file, not a safetensors weight file (it starts with {text[:1].decode()!r}, not an 8-byte header length). "
        "Pass the .safetensors file itself, or the checkpoint folder that holds this JSON."
    )


def parse_header(f: BinaryIO, file_size: int, where: str) -> SafetensorsHeader:
    """Read and check the header from an open binary file positioned at its start; `where` names it in errors.

    Reads ``8 + header length`` bytes, the first MiB of the JSON before the rest, so a file that only claims a
    large header is refused after a MiB. Time and memory are linear in the header's size: about 2 s of CPU and
    4-5 times its size at the 100 MB limit (docs/reliability.md).
    """
    prefix = f.read(8)
    if len(prefix) < 8:
        _not_weights(where, prefix, f)
        raise _fail(where, f"it is {file_size} bytes long, shorter than the 8-byte header length")
    (length,) = struct.unpack("<Q", prefix)
    if length > MAX_HEADER_BYTES or 8 + length > file_size:
        _not_weights(where, prefix, f)
        if length > MAX_HEADER_BYTES:
            raise _fail(where, f"its header claims {length} bytes; autopipe reads at most {MAX_HEADER_BYTES}")
        raise _fail(where, f"its header claims {length} bytes but the file has only {file_size - 8} after the length")
    with _gc_paused():
        data = _load(where, f, length, file_size - 8 - length)
        if type(data) is tuple:  # checked whole by plain_header
            tensors, metadata = data
        else:
            entries, metadata = _entries(where, data)
            del data
            tensors = _tensors(where, entries, file_size - 8 - length)
    return SafetensorsHeader(where, file_size, 8 + length, MappingProxyType(tensors), MappingProxyType(metadata))


@contextmanager
def opened(path: str | os.PathLike[str], what: str) -> Iterator[BinaryIO]:
    """`path` open for reading, with the OS's errors as autopipe's typed ones (`what` names the file expected).

    Through :func:`autopipe_core.files.open_regular`: a FIFO, a device or a socket is refused at once instead of
    blocking or streaming forever.
    """
    try:
        with open_regular(path, what) as (f, _):
            yield f
    except FileNotFoundError:
        raise ModelNotFoundError(f"{path} does not exist. Check the path.") from None


def read_header(path: str | os.PathLike[str]) -> SafetensorsHeader:
    """The checked header of the safetensors file at `path`, reading only the header's bytes."""
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
        size = TensorInfo(dtype, tuple(shape)).nbytes
        entries[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    if metadata:
        entries["__metadata__"] = dict(metadata)
    raw = json.dumps(entries, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # the data section starts aligned, as the safetensors library writes it
    from pathlib import Path

    path = Path(path)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw)
        f.truncate(8 + len(raw) + offset)
    return path
