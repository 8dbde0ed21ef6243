"""autopipe's header check against the safetensors library itself: the same files accepted, the same tensors read.

Every generated file is opened by ``read_header`` and by ``safetensors.safe_open``
(framework "numpy": opening runs only the library's framework-independent
``read_metadata``; numpy needs no dtype of its own to open a file, so every
dtype is tried). A file one accepts and the other refuses is a failure either
way: autopipe must not pass a file diffusers then refuses, nor refuse one it
loads. The generator writes the JSON text itself, so it can say what
``json.dumps`` cannot: duplicate keys, ``-0``, ``NaN``, ``1e400``, lone
surrogate escapes, nesting beyond serde_json's limit.

The one difference on purpose, left out here: autopipe refuses tensor names
longer than ``MAX_TENSOR_NAME`` (tests/test_headers.py).

CI runs 300 examples (a few seconds); AUTOPIPE_FUZZ_EXAMPLES sets more.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, event, find, given, settings
from hypothesis import strategies as st
from safetensors import safe_open

from autopipe_core import InvalidModelError
from autopipe_core.headers import DTYPE_BITS, read_header

EXAMPLES = int(os.environ.get("AUTOPIPE_FUZZ_EXAMPLES", "300"))
ORACLE = settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
USIZE = 2**64


@dataclass(frozen=True)
class Raw:
    """JSON text written as it is: what json.dumps will not write."""

    text: str


@dataclass(frozen=True)
class Obj:
    """A JSON object as (key, value) pairs, so a key may come twice."""

    pairs: tuple[tuple[Any, Any], ...]


def dump(value: Any) -> str:
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, Obj):
        return "{" + ",".join((k.text if isinstance(k, Raw) else json.dumps(k)) + ":" + dump(v) for k, v in value.pairs) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(dump(v) for v in value) + "]"
    return json.dumps(value)


def elements(shape: list[Any]) -> int | None:
    """The library's element count (checked usize multiplication, in order); None on overflow or a bad dimension."""
    n = 1
    for d in shape:
        if type(d) is not int or not 0 <= d < USIZE:
            return None
        n *= d
        if n >= USIZE:
            return None
    return n


# --- the generator -------------------------------------------------------------------------------------------------
#
# Two thirds of the files are valid by construction (every form the library accepts: key orders, unknown keys, the
# array form, {"F16": null}, zero-size and sub-byte tensors, huge dimensions after a 0, out-of-order offsets,
# padding); the others take, at each choice, a wrong option one time in four.

DTYPES = sorted(DTYPE_BITS)
SUB_BYTE = {d for d, bits in DTYPE_BITS.items() if bits % 8}
names = st.sampled_from(["a", "b", "w.0", "é", "", "😀"]) | st.text(max_size=6)
good_shapes = st.one_of(
    st.lists(st.integers(1, 4), max_size=4),
    st.lists(st.integers(0, 3), max_size=4),
    st.sampled_from([[0, USIZE - 1, 2], [USIZE - 1, 0], [2, 0, 2**63, 2**63]]),  # a 0 before the product overflows: 0 elements
)
bad_dims = st.sampled_from([-1, 1.0, True, Raw("-0"), Raw("2e0"), 2**63, USIZE, [1]])
benign = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=4),
        st.sampled_from([Raw("-0"), Raw("1" + "0" * 300), Raw("1e-400"), Raw('"\\ud83d\\ude00"'), Raw('"\\\\ud800"')]),
    ),
    lambda inner: st.lists(inner, max_size=3) | st.lists(st.tuples(st.sampled_from(["k", "dtype"]), inner), max_size=3).map(lambda p: Obj(tuple(p))),
    max_leaves=5,
)
risky = st.one_of(
    st.sampled_from([Raw("1e400"), Raw("-1e400"), Raw("NaN"), Raw("Infinity"), Raw("9" * 400), Raw('"\\ud800"'), Raw('"\\udc00x"'), Raw('"a\x01"')]),
    st.integers(122, 128).map(lambda d: Raw("[" * d + "]" * d)),  # opened at level 3: serde_json allows 127 levels in all
)
bad_dtypes = st.sampled_from(["f32", "Q4", "F8_E4M3FN", "C128", 5, None, ["F32"], Obj((("F32", None), ("F16", None))), Obj((("F32", []),)), Obj((("F32", Obj(())),))])


@st.composite
def headers(draw) -> tuple[bytes, int]:
    """(file bytes before the data, data size)."""
    faulty = draw(st.integers(0, 2)) == 0

    def pick(good, bad=st.nothing()):
        return draw(good | bad) if faulty and draw(st.integers(0, 3)) == 0 else draw(good)

    position = 0
    entries: list[tuple[Any, Any]] = []
    for i in range(draw(st.integers(0, 4))):
        dtype = pick(st.sampled_from(DTYPES) | st.sampled_from(DTYPES).map(lambda d: Obj(((d, None),))), bad_dtypes)  # serde's {"VARIANT": null}
        kind = dtype.pairs[0][0] if isinstance(dtype, Obj) else dtype if isinstance(dtype, str) else ""
        shape = pick(good_shapes, st.lists(st.integers(0, 4) | bad_dims, min_size=1, max_size=4))
        if kind in SUB_BYTE and isinstance(shape, list):
            shape = shape + [pick(st.just(4), st.integers(1, 3))]  # 4 elements of 4 or 6 bits make whole bytes
        n = elements(shape)
        bits = DTYPE_BITS.get(kind, 8)
        size = 0 if n is None or n * bits >= USIZE else n * bits // 8
        move = pick(st.just("next"), st.sampled_from(["gap", "overlap", "reversed", "long", "short"]))
        start = {"gap": position + 1, "overlap": max(0, position - 1)}.get(move, position)
        end = max(0, start + size + {"long": 1, "short": -1}.get(move, 0))
        offsets = pick(st.just([end, start] if move == "reversed" else [start, end]),
                       st.sampled_from([[start], [start, end, end], [-1, end], [Raw("-0"), end], [float(start), end], [start, USIZE]]))
        position = max(position, end)
        fields = [("dtype", dtype), ("shape", shape), ("data_offsets", offsets)]
        form = pick(st.sampled_from(["object"] * 4 + ["shuffled", "extra", "array", "again"]), st.sampled_from(["twice", "missing", "array2", "scalar"]))
        if form == "shuffled":
            fields = draw(st.permutations(fields))
        elif form == "extra":
            fields.insert(draw(st.integers(0, 3)), (draw(st.sampled_from(["x", "offsets", "Dtype"])), pick(benign, risky)))
        elif form == "twice":
            fields.append(draw(st.sampled_from(fields)))
        elif form == "missing":
            fields.pop(draw(st.integers(0, 2)))
        entry: Any = {"array": [dtype, shape, offsets], "array2": [dtype, shape]}.get(form, Obj(tuple(fields)))
        if form == "scalar":
            entry = draw(st.sampled_from([None, 3, "F32"]))
        entries.append((pick(names.map(lambda n: f"{n}.{i}"), st.sampled_from(["a", "b"])), entry))  # names repeat only when wrong
        if form == "again":  # the same name and entry twice: the library keeps the last, which is the same
            entries.append(entries[-1])
    entries = draw(st.permutations(entries)) if draw(st.booleans()) else entries  # the library sorts by offsets
    metadata = pick(st.sampled_from(["absent", "absent", "null", "strings"]), st.sampled_from(["not strings", "list", "twice"]))
    if metadata != "absent":
        strings = Obj(tuple(draw(st.lists(st.tuples(st.sampled_from(["a", "b", "format"]), st.text(max_size=3)), max_size=3))))  # repeated keys: the last wins
        value = {"null": None, "strings": strings, "twice": strings, "not strings": Obj((("a", 1),)), "list": []}[metadata]
        entries.insert(draw(st.integers(0, len(entries))), ("__metadata__", value))
        if metadata == "twice":
            entries.append(("__metadata__", None))
    text = dump(Obj(tuple(entries)))
    text = draw(st.sampled_from(["", "", " ", "\n\t", "\r\n  "])) + text + draw(st.sampled_from(["", "", " ", "  \n"]))
    text = pick(st.just(text), st.sampled_from(["\x0c" + text, "\ufeff" + text, "[]", '"x"', "", text + "x", text + "\x00"]))
    raw = text.encode("utf-8", "surrogatepass")
    length = len(raw) + pick(st.just(0), st.sampled_from([1, -1]))
    data = max(0, position + pick(st.just(0), st.sampled_from([1, -1, 4])))
    return struct.pack("<Q", max(length, 0)) + raw, data


# --- the two readers -------------------------------------------------------------------------------------------

_SCRATCH = Path(tempfile.mkdtemp(prefix="autopipe-oracle-")) / "oracle.safetensors"


def _write(head: bytes, data: int) -> Path:
    with open(_SCRATCH, "wb") as f:
        f.write(head)
        f.truncate(len(head) + data)
    return _SCRATCH


def library(path: Path) -> tuple[dict[str, tuple[str, tuple[int, ...]]], dict[str, str]] | None:
    """What safetensors reads from the file, or None where it refuses it."""
    try:
        with safe_open(str(path), framework="numpy") as f:
            tensors = {k: (f.get_slice(k).get_dtype(), tuple(f.get_slice(k).get_shape())) for k in f.keys()}
            return tensors, f.metadata() or {}
    except Exception:  # noqa: BLE001 - SafetensorError and the OSError of an mmap of nothing: both are "refused"
        return None


def autopipe(path: Path) -> tuple[dict[str, tuple[str, tuple[int, ...]]], dict[str, str]] | None:
    try:
        header = read_header(path)
    except InvalidModelError:
        return None
    return {k: (t.dtype, t.shape) for k, t in header.tensors.items()}, dict(header.metadata)


def both(case: tuple[bytes, int]) -> tuple[Any, Any]:
    path = _write(*case)
    return autopipe(path), library(path)


@ORACLE
@given(case=headers())
def test_autopipe_accepts_exactly_what_safetensors_accepts(case):
    ours, theirs = both(case)
    event("accepted" if theirs is not None else "refused")
    assert ours == theirs, f"autopipe: {ours}, safetensors: {theirs}, header: {case[0][8:]!r}, data: {case[1]}"


# Not vacuous: the same generator, searched for each kind of file the property must see accepted and refused.
FIND = settings(max_examples=2000, database=None, suppress_health_check=list(HealthCheck), phases=[Phase.generate])


def _header_text(case):
    return case[0][8:].decode("utf-8", "surrogatepass")


@pytest.mark.parametrize(
    "what, wanted",
    [
        ("accepted, two tensors or more", lambda ours, theirs, case: theirs is not None and len(theirs[0]) >= 2),
        ("accepted, with metadata", lambda ours, theirs, case: theirs is not None and theirs[1]),
        ("accepted, a sub-byte dtype", lambda ours, theirs, case: theirs is not None and any(d in ("F4", "F6_E2M3", "F6_E3M2") for d, _ in theirs[0].values())),
        ("accepted, a zero-size tensor", lambda ours, theirs, case: theirs is not None and any(0 in s for _, s in theirs[0].values())),
        ("accepted, leading whitespace", lambda ours, theirs, case: theirs is not None and _header_text(case)[:1] in (" ", "\n", "\r")),
        ("accepted, out of offset order", lambda ours, theirs, case: theirs is not None and _starts(case) != sorted(_starts(case))),
        ("accepted, an unknown key", lambda ours, theirs, case: theirs is not None and any(k in _header_text(case) for k in ('"x":', '"Dtype":'))),
        ("accepted, the array form", lambda ours, theirs, case: theirs is not None and ':["' in _header_text(case)),
        ("refused", lambda ours, theirs, case: theirs is None),
        ("refused, though well-formed JSON", lambda ours, theirs, case: theirs is None and _json_ok(case)),
    ],
)
def test_the_generator_reaches_both_outcomes(what, wanted):
    def found(case):
        ours, theirs = both(case)
        return wanted(ours, theirs, case)

    case = find(headers(), found, settings=FIND)
    assert both(case)[0] == both(case)[1]


def _starts(case) -> list[int]:
    """The tensors' start offsets in the order the header lists them (entries written as objects)."""
    pairs = json.loads(_header_text(case), object_pairs_hook=list)
    return [dict(e)["data_offsets"][0] for k, e in pairs if k != "__metadata__" and isinstance(e, list) and e and isinstance(e[0], tuple)]


def _json_ok(case) -> bool:
    try:
        json.loads(_header_text(case))
    except ValueError:
        return False
    return True
