"""Issue 20, point 3, before and after in one run: header parsing, resolve's folder listing, from_pipe's components.

    .venv/bin/python bench/header_scaling.py                  # the core before point 3 (BEFORE below) against this tree
    .venv/bin/python bench/header_scaling.py --before REV     # against the core at another commit
    .venv/bin/python bench/header_scaling.py --quick          # the smaller headers only, no from_pipe

The core of the other commit is extracted (``git archive REV autopipe_core``) into a temporary folder and put first
on ``PYTHONPATH``; the installed plugins import whichever core comes first, so both sides run the same plugins.
Every figure is taken in a fresh interpreter, the two sides alternating (before, after, after, before, ...), and
each side's figure is the best (headers: CPU time, ``time.process_time``) or the median (resolve, from_pipe) of
its rounds, so that other work on the machine counts as little as it can.

- headers: sparse files of 1,130, 105,000 and 526,000 tensors with 4- and 6-dimensional shapes (the real data
  a hole), read with ``read_header``: CPU seconds, microseconds per tensor, the ``tracemalloc`` peak, and the floor:
  plain ``json.loads`` of the same text with the collector off, no hook and no check; then, on the
  parsed header (its index of names not yet built), autopipe-sdxl's ``detect`` alone and every installed plugin's
  detection as ``single_file.detect`` asks them (the index is built once and shared);
- resolve: ``resolve(folder, "text2img")`` of an SD folder with 1,000 more components, each in its folder: the
  directory listings it makes and its time, plugins already discovered;
- from_pipe: text2img -> img2img -> text2img on the built-in tiny SD checkpoint: reads of the source pipeline's
  ``components`` per switch and the time of a switch.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import struct
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: The last commit before point 3 touched the core (headers, sources, switch): the "before" of the published figures.
BEFORE = "e59fe9df0d25e835420fb2cb9619c84271dc152f"
SIZES = (1_130, 105_000, 526_000)

_HEADER = r"""
import json, sys, time, tracemalloc
import autopipe_core
from autopipe_core.headers import read_header
path = sys.argv[1]
times = []
for _ in range(3):
    start = time.process_time()
    header = read_header(path)
    times.append(time.process_time() - start)
    del header
import gc, struct
with open(path, "rb") as f:
    text = f.read(struct.unpack("<Q", f.read(8))[0]).decode()
floor = []
gc.disable()
for _ in range(3):
    start = time.process_time()
    json.loads(text)
    floor.append(time.process_time() - start)
gc.enable()
del text
tracemalloc.start()
header = read_header(path)
peak = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
from autopipe_sdxl.single_file import detect
from autopipe_core import single_file
from autopipe_core.registry import get_registry
registry = get_registry()
def best(ask):
    spent = []
    for _ in range(3):
        fresh = type(header)(header.path, header.file_size, header.header_bytes, header.tensors, header.metadata)  # no index yet
        start = time.process_time()
        found = ask(fresh)
        spent.append(time.process_time() - start)
    return min(spent), found
sdxl, found = best(detect)
every, _ = best(lambda h: single_file.detect(h, registry))
print(json.dumps({"core": autopipe_core.__file__, "seconds": min(times), "floor": min(floor), "peak": peak, "tensors": len(header.tensors),
                  "detect": sdxl, "every": every, "plugins": sum(p.ok for p in registry.plugins), "found": [d.variant for d in found]}))
"""

_RESOLVE = r"""
import json, os, sys, time
import autopipe_core
from autopipe_core import resolve
folder = sys.argv[1]
resolve(folder, "text2img")  # plugins discovered, caches warm
listings = []
scandir = os.scandir
def counted(path="."):
    listings.append(os.fspath(path))
    return scandir(path)
os.scandir = counted
resolve(folder, "text2img")
os.scandir = scandir
count = sum(1 for p in listings if p.startswith(folder))
times = []
for _ in range(15):
    start = time.perf_counter()
    resolve(folder, "text2img")
    times.append(time.perf_counter() - start)
print(json.dumps({"core": autopipe_core.__file__, "listings": count, "seconds": sorted(times)[len(times) // 2]}))
"""

_FROM_PIPE = r"""
import json, sys, time, warnings
warnings.simplefilter("ignore")
import autopipe_core
from autopipe_core import AutoPipelineForImage2Image, AutoPipelineForText2Image
from autopipe_core.tiny import tiny_checkpoint
from diffusers import DiffusionPipeline
folder, _ = tiny_checkpoint("stable-diffusion")
pipe = AutoPipelineForText2Image.from_pretrained(folder)
reads = []
prop = DiffusionPipeline.components
DiffusionPipeline.components = property(lambda self: (reads.append(type(self).__name__), prop.fget(self))[1])
img2img = AutoPipelineForImage2Image.from_pipe(pipe)  # imports the class's module
reads.clear()
img2img = AutoPipelineForImage2Image.from_pipe(pipe)
per_switch = reads.count("StableDiffusionPipeline")
DiffusionPipeline.components = prop
times = []
for _ in range(40):
    start = time.perf_counter()
    back = AutoPipelineForText2Image.from_pipe(AutoPipelineForImage2Image.from_pipe(pipe))
    times.append((time.perf_counter() - start) / 2)
print(json.dumps({"core": autopipe_core.__file__, "reads": per_switch, "seconds": sorted(times)[len(times) // 2]}))
"""


def _header_file(path: Path, count: int) -> Path:
    """`count` float16 tensors named like an SDXL refiner's UNet, 4- and 6-dimensional, in file order; a real label_emb."""
    entries, offset = {}, 0

    def add(name: str, shape: list[int]) -> None:
        nonlocal offset
        size = 2
        for d in shape:
            size *= d
        entries[name] = {"dtype": "F16", "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size

    add("model.diffusion_model.label_emb.0.0.weight", [1536, 2560])
    add("model.diffusion_model.input_blocks.0.0.weight", [384, 4, 3, 3])
    add("conditioner.embedders.0.model.token_embedding.weight", [49408, 1280])
    for i in range(count - 3):
        shape = [1280, 1280, 3, 3] if i % 3 else [4, 320, 2, 3, 3, 2]
        add(f"model.diffusion_model.output_blocks.{i // 40}.{i % 40}.transformer_blocks.0.attn1.to_k.weight", shape)
    raw = json.dumps(entries, separators=(",", ":")).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw)
        f.truncate(8 + len(raw) + offset)
    return path


def _big_folder(folder: Path, extra: int = 1000) -> Path:
    folder.mkdir()
    index = {"_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.35.0"}
    for name, library, cls in [("unet", "diffusers", "UNet2DConditionModel"), ("vae", "diffusers", "AutoencoderKL"),
                               ("text_encoder", "transformers", "CLIPTextModel"), ("tokenizer", "transformers", "CLIPTokenizer"),
                               ("scheduler", "diffusers", "PNDMScheduler")]:
        index[name] = [library, cls]
        (folder / name).mkdir()
        (folder / name / "config.json").write_text(json.dumps({"in_channels": 4, "sample_size": 64, "cross_attention_dim": 768}))
    for i in range(extra):
        index[f"extra_{i}"] = ["diffusers", "AutoencoderKL"]
        (folder / f"extra_{i}").mkdir()
        (folder / f"extra_{i}" / "config.json").write_text("{}")
    (folder / "model_index.json").write_text(json.dumps(index))
    return folder


def _extract(rev: str, into: Path) -> Path:
    data = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "autopipe_core"], check=True, capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(data)) as tar:
        tar.extractall(into, filter="data")
    return into


def _child(code: str, core: Path, *args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(core) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("AUTOPIPE_PLUGINS", None)  # every installed plugin, as a user has them
    done = subprocess.run([sys.executable, "-c", code, *args], env=env, cwd=core, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"a measuring process failed ({core}):\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert Path(result.pop("core")).resolve().is_relative_to(core.resolve()), "the child imported another core"
    return result


def _sides(code: str, cores: dict[str, Path], rounds: int, *args: str) -> dict[str, list[dict]]:
    """Each side `rounds` times, alternating which goes first."""
    out: dict[str, list[dict]] = {side: [] for side in cores}
    order = list(cores)
    for r in range(rounds):
        for side in (order if r % 2 == 0 else order[::-1]):
            out[side].append(_child(code, cores[side], *args))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default=BEFORE, help="the commit whose core is 'before' (default: %(default).12s)")
    parser.add_argument("--quick", action="store_true", help="headers of 1,130 and 105,000 tensors only, no from_pipe")
    parser.add_argument("--rounds", type=int, default=2, help="fresh processes per side and case (default: 2)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cores = {"before": _extract(args.before, tmp / "before"), "after": ROOT}
        print(f"before: the core at {args.before[:12]}; after: this tree. Best CPU time of 3 reads per process, {args.rounds} processes per side, alternating.")
        print()
        print("header tensors | before: s, us/tensor, peak MiB | after: s, us/tensor, peak MiB | after/before | json.loads alone, us/tensor | detect, ms: autopipe-sdxl; every plugin")
        for count in SIZES[:2] if args.quick else SIZES:
            path = _header_file(tmp / f"h{count}.safetensors", count)
            runs = _sides(_HEADER, cores, args.rounds, str(path))
            best = {side: min(rs, key=lambda r: r["seconds"]) for side, rs in runs.items()}
            detect = {side: min(r["detect"] for r in rs) for side, rs in runs.items()}
            every = {side: min(r["every"] for r in rs) for side, rs in runs.items()}
            floor = min(r["floor"] for rs in runs.values() for r in rs)
            b, a = best["before"], best["after"]
            assert b["tensors"] == a["tensors"] == count and b["found"] == a["found"] == ["xl-refiner"]
            cells = [f"{r['seconds']:.3f} s, {r['seconds'] / count * 1e6:.2f}, {r['peak'] / 2**20:.0f}" for r in (b, a)]
            print(f"{count:>14,} | {cells[0]:>31} | {cells[1]:>30} | {a['seconds'] / b['seconds']:12.2f} | {floor / count * 1e6:26.2f} | {detect['before'] * 1e3:.2f} -> {detect['after'] * 1e3:.2f}; {every['before'] * 1e3:.1f} -> {every['after'] * 1e3:.1f} ({a['plugins']} plugins)")
            path.unlink()
        print()
        folder = _big_folder(tmp / "big")
        runs = _sides(_RESOLVE, cores, args.rounds, str(folder))
        med = {side: statistics.median(r["seconds"] for r in rs) for side, rs in runs.items()}
        listings = {side: rs[0]["listings"] for side, rs in runs.items()}
        print(f"resolve, SD folder + 1,000 components: directory listings {listings['before']} -> {listings['after']}; "
              f"{med['before'] * 1e3:.2f} ms -> {med['after'] * 1e3:.2f} ms a resolve (median of 15, median of the processes)")
        if not args.quick:
            runs = _sides(_FROM_PIPE, cores, args.rounds)
            med = {side: statistics.median(r["seconds"] for r in rs) for side, rs in runs.items()}
            reads = {side: rs[0]["reads"] for side, rs in runs.items()}
            print(f"from_pipe, tiny SD text2img <-> img2img: reads of the source's components per switch {reads['before']} -> {reads['after']}; "
                  f"{med['before'] * 1e3:.2f} ms -> {med['after'] * 1e3:.2f} ms a switch (median of 80)")


if __name__ == "__main__":
    main()
