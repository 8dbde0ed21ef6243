"""What reading a safetensors header costs: CPU time and peak memory for large and hostile headers.

    .venv/bin/python bench/header_costs.py                       # autopipe_core/headers.py as it is
    .venv/bin/python bench/header_costs.py --module OLD/headers.py  # another version of the module, to compare

Each case is a sparse file (the header is real, the data a hole) read with
``read_header`` in a fresh interpreter: once for CPU time (``time.process_time``,
the best of three, so other work on the machine does not count) and once
under ``tracemalloc`` for the peak of Python allocations; the growth of the
peak resident size over the three plain reads is shown too (it counts what
the allocator kept). The figures in docs/reliability.md come from this script.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_CHILD = r"""
import importlib.util, json, sys, time, tracemalloc
path, module = sys.argv[1], sys.argv[2]
if module:
    spec = importlib.util.spec_from_file_location("autopipe_core._measured_headers", module)
    headers = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(headers)
else:
    from autopipe_core import headers

def once():
    try:
        return len(headers.read_header(path).tensors)
    except Exception as exc:
        return type(exc).__name__

def hwm():  # the process's peak resident size, KiB (VmHWM: reset by exec, unlike ru_maxrss)
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))

rss = hwm()
times = []
for _ in range(3):
    start = time.process_time()
    outcome = once()
    times.append(time.process_time() - start)
rss = hwm() - rss
tracemalloc.start()
once()
peak = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
print(json.dumps({"seconds": min(times), "peak": peak, "rss": rss * 1024, "outcome": outcome}))
"""


def _write(path: Path, header: bytes, data_size: int) -> Path:
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header)
        f.truncate(8 + len(header) + data_size)
    return path


def many_tensors(path: Path, count: int) -> Path:
    """`count` tensors named and shaped like a UNet's, float16, in file order."""
    entries, offset = {}, 0
    for i in range(count):
        size = 320 * 4 * 3 * 3 * 2
        entries[f"model.diffusion_model.input_blocks.{i}.0.weight"] = {"dtype": "F16", "shape": [320, 4, 3, 3], "data_offsets": [offset, offset + size]}
        offset += size
    return _write(path, json.dumps(entries, separators=(",", ":")).encode(), offset)


def sixteen_mib(path: Path) -> Path:
    """Small tensors until the header is 16 MiB (about 230,000 of them)."""
    parts, offset, size = [], 0, 2
    while True:
        part = f'"t.{len(parts)}":{{"dtype":"F32","shape":[2,2],"data_offsets":[{offset},{offset + 16}]}}'
        if size + len(part) + 1 > 16 * 2**20:
            break
        parts.append(part)
        offset, size = offset + 16, size + len(part) + 1
    raw = ("{" + ",".join(parts) + "}").encode()
    return _write(path, raw + b" " * (16 * 2**20 - len(raw)), offset)


def sixteen_mib_dense(path: Path) -> Path:
    """16 MiB of the smallest entries (short names, scalar shapes): about 250,000 tensors."""
    parts, offset, size = [], 0, 2
    while True:
        part = f'"{len(parts)}":{{"dtype":"F32","shape":[],"data_offsets":[{offset},{offset + 4}]}}'
        if size + len(part) + 1 > 16 * 2**20:
            break
        parts.append(part)
        offset, size = offset + 4, size + len(part) + 1
    raw = ("{" + ",".join(parts) + "}").encode()
    return _write(path, raw + b" " * (16 * 2**20 - len(raw)), offset)


def many_dims(path: Path, zero_first: bool = False) -> Path:
    """One tensor of 30,000 dimensions of 2**64-1 (600 KB): the library refuses it (overflow), or, with a 0 first, accepts it."""
    shape = ([0] if zero_first else []) + [2**64 - 1] * 30_000
    return _write(path, json.dumps({"w": {"dtype": "F32", "shape": shape, "data_offsets": [0, 0]}}).encode(), 0)


def giant_string(path: Path) -> Path:
    """A 95 MB header that is one metadata value (valid: the library accepts it)."""
    raw = b'{"__metadata__":{"x":"' + b"a" * 95_000_000 + b'"}}'
    return _write(path, raw, 0)


CASES = {
    "1k tensors": lambda p: many_tensors(p, 1_000),
    "100k tensors": lambda p: many_tensors(p, 100_000),
    "500k tensors": lambda p: many_tensors(p, 500_000),
    "16 MiB header": sixteen_mib,
    "16 MiB header, scalars": sixteen_mib_dense,
    "600 KB of huge dims": many_dims,
    "600 KB of huge dims after a 0": lambda p: many_dims(p, zero_first=True),
    "95 MB metadata string": giant_string,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--module", default="", help="a headers.py to measure instead of autopipe_core.headers")
    parser.add_argument("--case", action="append", choices=sorted(CASES), help="only these cases")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        print("| case | header | outcome | CPU s | peak MB (tracemalloc) | peak RSS growth MB |\n| --- | --- | --- | --- | --- | --- |")
        for name in args.case or CASES:
            path = CASES[name](Path(tmp) / "case.safetensors")
            length = struct.unpack("<Q", path.open("rb").read(8))[0]
            out = subprocess.run([sys.executable, "-c", _CHILD, str(path), args.module], capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
            if out.returncode:
                print(f"| {name} | {length / 1e6:.1f} MB | crashed: {out.stderr.strip().splitlines()[-1][:80]} | | | |")
                continue
            r = json.loads(out.stdout)
            print(f"| {name} | {length / 1e6:.1f} MB | {r['outcome']} | {r['seconds']:.2f} | {r['peak'] / 1e6:.0f} | {r['rss'] / 1e6:.0f} |", flush=True)
            path.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
