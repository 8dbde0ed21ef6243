"""Property-based fuzzing of everything that reads a stranger's bytes: model_index.json, component configs, safetensors headers.

The property: whatever the bytes, the readers either answer or raise one of
the documented, typed errors (never a KeyError, a TypeError, a RecursionError,
a MemoryError, a hang), and nothing the bytes name is imported.

CI runs 200 examples per test (seconds). The long run sets
AUTOPIPE_FUZZ_EXAMPLES; bench/fuzz_long.sh runs each test with 100,000, niced
(docs/reliability.md records the figures of the last run):

    AUTOPIPE_FUZZ_EXAMPLES=100000 nice .venv/bin/python -m pytest tests/test_fuzz.py -q --hypothesis-show-statistics
"""

from __future__ import annotations

import io
import json
import os
import shutil
import struct
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autopipe_core import InvalidModelError, UnsupportedModelError, UntrustedCodeError, guard
from autopipe_core.headers import DTYPE_BITS, MAX_HEADER_BYTES, parse_header
from autopipe_core.registry import build
from autopipe_core.resolve import identify, resolve_identity
from autopipe_core.tasks import Task

#: Examples per test: a few hundred in CI, AUTOPIPE_FUZZ_EXAMPLES for the long run.
EXAMPLES = int(os.environ.get("AUTOPIPE_FUZZ_EXAMPLES", "200"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))

#: What reading a checkpoint folder may raise: the documented errors (UnsupportedTaskError is an UnsupportedModelError).
FOLDER_ERRORS = (InvalidModelError, UnsupportedModelError, UntrustedCodeError)

_REGISTRY = None


def _registry():
    """Every installed plugin's tables, built once for the module (resolution is what is fuzzed, not discovery)."""
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = build(allowed=None)
    return _REGISTRY


_FOLDER: Path | None = None


@pytest.fixture(scope="module", autouse=True)
def _scratch_removed():
    """The scratch folder goes with the module's tests: each run of the suite left one behind in the temporary folder."""
    global _FOLDER
    yield
    if _FOLDER is not None:
        shutil.rmtree(_FOLDER, ignore_errors=True)
        _FOLDER = None


def _folder() -> Path:
    """One scratch folder reused by every example (fixtures cannot be per-example under hypothesis)."""
    global _FOLDER
    if _FOLDER is None:
        _FOLDER = Path(tempfile.mkdtemp(prefix="autopipe-fuzz-"))
    for child in _FOLDER.iterdir():
        shutil.rmtree(child) if child.is_dir() else child.unlink()
    return _FOLDER


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
CLASS_NAMES = ["StableDiffusionPipeline", "StableDiffusionXLImg2ImgPipeline", "KandinskyV22Pipeline", "IFPipeline",
               "KandinskyPriorPipeline", "StableDiffusionControlNetPipeline", "ShapEPipeline", "os", "os.system", ""]
LIBRARIES = ["diffusers", "transformers", "kandinsky", "stable_diffusion", "os", "builtins", "autopipe_fuzz_probe", None]
COMPONENTS = ["unet", "vae", "text_encoder", "text_encoder_2", "tokenizer", "scheduler", "movq", "prior_prior", "safety_checker"]

component_entries = st.one_of(
    st.tuples(st.sampled_from(LIBRARIES) | st.text(max_size=12), st.sampled_from(["UNet2DConditionModel", "X", None]) | st.text(max_size=12)).map(list),
    json_values,
)
model_indexes = st.fixed_dictionaries(
    {},
    optional={
        "_class_name": st.sampled_from(CLASS_NAMES) | json_values | st.text(min_size=150, max_size=300),
        "_diffusers_version": json_values,
    },
).flatmap(lambda base: st.dictionaries(st.sampled_from(COMPONENTS) | st.text(max_size=8), component_entries, max_size=6).map(lambda c: {**base, **c}))
unet_configs = st.one_of(
    st.none(),
    st.binary(max_size=64),
    st.fixed_dictionaries({}, optional={"in_channels": st.sampled_from([4, 9, 8]) | json_values, "addition_embed_type": json_values}).map(json.dumps).map(str.encode),
)


def _resolve_folder(folder: Path, task: Task, kwargs: dict) -> None:
    """resolve(), then the pre-load check, as from_pretrained runs them; returns or raises a documented error."""
    registry = _registry()
    before = set(sys.modules)
    try:
        identity = identify(folder, registry)
        resolve_identity(identity, task, kwargs, registry)
        guard.check(identity, {})
    except FOLDER_ERRORS:
        pass
    assert set(sys.modules) - before == set(), "reading a checkpoint imported a module"


@FUZZ
@given(index=model_indexes, unet=unet_configs, task=st.sampled_from(list(Task)), pag=st.sampled_from([None, True, False]))
def test_model_index_and_component_configs_raise_only_documented_errors(index, unet, task, pag):
    folder = _folder()
    (folder / "model_index.json").write_text(json.dumps(index))
    if unet is not None:
        (folder / "unet").mkdir()
        (folder / "unet" / "config.json").write_bytes(unet)
    _resolve_folder(folder, task, {} if pag is None else {"enable_pag": pag})


@FUZZ
@given(raw=st.binary(max_size=512) | json_values.map(json.dumps).map(str.encode))
def test_model_index_bytes_raise_only_documented_errors(raw):
    folder = _folder()
    (folder / "model_index.json").write_bytes(raw)
    _resolve_folder(folder, Task.TEXT2IMG, {})


def _parse(data: bytes):
    """parse_header over bytes; on success, the header it returns must be consistent with them."""
    try:
        header = parse_header(io.BytesIO(data), len(data), "fuzz.safetensors")
    except InvalidModelError:
        return None
    assert header.header_bytes <= len(data) and header.header_bytes - 8 <= MAX_HEADER_BYTES
    assert header.header_bytes + header.data_bytes == len(data)  # the tensors cover the data section exactly, as the library requires
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in header.metadata.items())
    return header


@FUZZ
@given(data=st.binary(max_size=1024))
def test_header_reader_over_arbitrary_bytes(data):
    _parse(data)


tensors = st.fixed_dictionaries(
    {},
    optional={
        "dtype": st.sampled_from(sorted(DTYPE_BITS)) | json_values,
        "shape": st.lists(st.integers(min_value=-2, max_value=2**70), max_size=4) | json_values,
        "data_offsets": st.lists(st.integers(min_value=-2, max_value=2**70), max_size=3) | json_values,
    },
) | json_values
headers = st.dictionaries(st.text(max_size=12) | st.just("__metadata__"), tensors, max_size=5)


@FUZZ
@given(header=headers, length=st.none() | st.integers(min_value=0, max_value=2**64 - 1), tail=st.binary(max_size=64))
def test_header_reader_over_structured_headers(header, length, tail):
    raw = json.dumps(header).encode()
    _parse(struct.pack("<Q", len(raw) if length is None else length) + raw + tail)


def test_the_structured_strategy_reaches_valid_headers():
    # Not vacuous: a valid header built the way the strategy builds them parses.
    raw = json.dumps({"w": {"dtype": "F16", "shape": [2, 3], "data_offsets": [0, 12]}, "__metadata__": {"a": "b"}}).encode()
    header = _parse(struct.pack("<Q", len(raw)) + raw + b"\0" * 12)
    assert header is not None and header.parameters == 6
