"""``autopipe scan`` over a model library: 1,000 single files with real headers, scanned cold in one process.

Issue 20's target: a model manager's start-up scan of 1,000 single files in
under 3 s, with memory bounded by the largest header, not the sum of them.

:func:`build` writes ``count`` distinct sparse ``.safetensors`` files (a
header and a hole: a few hundred KiB of disk each, whatever the model's size)
whose tensor names, dtypes and shapes are those of real checkpoints, taken
round-robin over :data:`LAYOUTS`: SD 1.5, SD 1.5 inpainting, SD 2.x (v),
SDXL base, refiner and inpainting, an SD 1.5 ControlNet (its identifying
tensors only), FLUX.1 [dev] both as Black Forest Labs' transformer file and
as ComfyUI's all-in-one file (transformer, CLIP-L, T5-XXL, VAE), FLUX.1
[schnell], Chroma, FLUX.2 [dev] and [klein] 4B transformers, and SD 3.5
Large and SD 3 medium all-in-one files. Why this mix: it is what a user's
library of single files holds (mostly SD 1.5 and SDXL fine-tunes, some FLUX
and SD 3), its headers run from a few tensors to SD 3.5 Large's
and ComfyUI FLUX's thousands, and every file is one a shipped plugin detects
(the ControlNet one is refused with its reason, as a scan must do). Each file
carries its own ``__metadata__`` (a title and an index), so no two headers are
the same bytes, as in a real library of fine-tunes.

The shapes come from the configs the plugins ship, built on the meta device by
the plugins' own layout code (autopipe_flux.layout, autopipe_flux2.layout),
autopipe-sd3's test layouts and tests/single_file_layouts.py; building them
imports torch once (a few seconds), before anything is timed.

``python bench/scan_library.py [COUNT]`` builds the tree in a temporary folder
and prints the median wall time of five cold ``autopipe scan DIR --json``
processes, their peak RSS, and the peak RSS of scanning the file with the
largest header alone: the ratio says whether memory follows the largest
header or the sum.
"""

from __future__ import annotations

import functools
import importlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = 5

#: name -> (what it is): the mix, in the round-robin's order.
LAYOUTS = {
    "sd15": "SD 1.5",
    "sdxl-base": "SDXL base",
    "sd15-inpainting": "SD 1.5 inpainting",
    "sdxl-refiner": "SDXL refiner",
    "sd2-v": "SD 2.x (v-prediction)",
    "sdxl-inpainting": "SDXL inpainting",
    "flux-dev": "FLUX.1 [dev], BFL's transformer file",
    "flux-dev-comfy": "FLUX.1 [dev], ComfyUI's all-in-one file",
    "flux-schnell": "FLUX.1 [schnell], BFL's transformer file",
    "chroma": "Chroma1-HD transformer",
    "flux2-dev": "FLUX.2 [dev] transformer",
    "flux2-klein-4b": "FLUX.2 [klein] 4B transformer",
    "sd35-large": "SD 3.5 Large, all-in-one",
    "sd3-medium": "SD 3 medium, all-in-one",
    "controlnet-sd15": "an SD 1.5 ControlNet (its identifying tensors; refused, as a component)",
}

Layout = dict[str, tuple[str, tuple[int, ...]]]


def describe() -> str:
    """The mix, in one line (for a results table)."""
    return f"{len(LAYOUTS)} real layouts round-robin, distinct headers: " + ", ".join(LAYOUTS.values())


def _import_path(folder: Path) -> None:
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))


def _configs(module: str, name: str) -> Path:
    return Path(importlib.import_module(module).__file__).parent / "configs" / name


@functools.lru_cache(maxsize=None)
def layout(name: str) -> tuple[tuple[str, tuple[str, tuple[int, ...]]], ...]:
    """The (tensor name, (dtype, shape)) pairs of one layout of :data:`LAYOUTS`, built on the meta device once."""
    _import_path(ROOT / "tests")
    import single_file_layouts as sd  # tests/single_file_layouts.py

    sd_names = {"sd15": "sd1", "sd15-inpainting": "sd1-inpainting", "sd2-v": "sd2-v", "sdxl-base": "xl-base",
                "sdxl-refiner": "xl-refiner", "sdxl-inpainting": "xl-inpainting"}
    if name in sd_names:
        out: Layout = sd.layout(sd_names[name])
    elif name == "controlnet-sd15":
        out = sd.controlnet_layout("controlnet-sd1")
    elif name in ("flux-dev", "flux-dev-comfy", "flux-schnell", "chroma"):
        from autopipe_flux.layout import single_file_layout

        folder = _configs("autopipe_flux", name.removesuffix("-comfy"))
        out = {k: ("BF16", s) for k, s in single_file_layout(folder, all_in_one=name.endswith("-comfy")).items()}
    elif name in ("flux2-dev", "flux2-klein-4b"):
        from autopipe_flux2.layout import single_file_layout

        out = {k: ("BF16", s) for k, s in single_file_layout(_configs("autopipe_flux2", name)).items()}
    elif name in ("sd35-large", "sd3-medium"):
        _import_path(ROOT / "plugins" / "autopipe-sd3" / "tests")
        import sd3_layouts  # autopipe-sd3's tests/sd3_layouts.py

        out = sd3_layouts.fullsize_layout(name)
    else:
        raise KeyError(name)
    return tuple(out.items())


def build(root: Path, count: int = 1000) -> Path:
    """Write `count` distinct sparse single files under `root` (made if missing), round-robin over :data:`LAYOUTS`.

    Deterministic: file ``i`` is ``NNNN-<layout>.safetensors`` with the layout's tensors and the metadata
    ``{"format": "pt", "modelspec.title": "library file NNNN"}``. Returns `root`.
    """
    from autopipe_core.headers import write_header

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    names = list(LAYOUTS)
    layouts = {name: dict(layout(name)) for name in names}
    for i in range(count):
        name = names[i % len(names)]
        write_header(root / f"{i:04d}-{name}.safetensors", layouts[name], {"format": "pt", "modelspec.title": f"library file {i:04d}"})
    return root


def _command() -> list[str]:
    script = Path(sys.executable).with_name("autopipe")
    return [str(script)] if script.exists() else [sys.executable, "-m", "autopipe_core.cli"]


def run_cold(target: Path) -> tuple[float, int, float]:
    """(wall seconds, peak RSS in bytes, CPU seconds) of one cold ``autopipe scan TARGET --json`` process (stdout
    discarded). The CPU time is what a shared machine's load disturbs least."""
    start = time.perf_counter()
    process = subprocess.Popen([*_command(), "scan", str(target), "--json"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
    if process.returncode != 0:
        raise RuntimeError(f"autopipe scan {target} failed ({process.returncode}): {stderr[-2000:]}")
    return wall, usage.ru_maxrss * 1024, usage.ru_utime + usage.ru_stime  # ru_maxrss is KiB on Linux


def largest(root: Path) -> Path:
    """The file under `root` whose header is largest (its first 8 bytes say how long)."""
    def header_length(path: Path) -> int:
        with open(path, "rb") as f:
            return int.from_bytes(f.read(8), "little")

    return max(sorted(root.glob("*.safetensors")), key=header_length)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--build"]:  # the child that builds: torch stays out of the measuring process
        build(Path(args[1]), int(args[2]))
        return 0
    count = int(args[0]) if args else 1000
    with tempfile.TemporaryDirectory(prefix="autopipe-scan-library-") as tmp:
        # Built in a child process: a scan forked from a process that imported torch would inherit its resident
        # pages, and ru_maxrss counts them (it survives exec).
        root = Path(tmp) / "library"
        subprocess.run([sys.executable, __file__, "--build", str(root), str(count)], check=True, stderr=subprocess.DEVNULL)
        big = largest(root)
        walls, peaks, cpus, alone = [], [], [], []
        for _ in range(RUNS):  # alternating: the whole library, then its largest file alone
            wall, peak, cpu = run_cold(root)
            walls.append(wall)
            peaks.append(peak)
            cpus.append(cpu)
            alone.append(run_cold(big)[1])
        mib = 1 << 20
        print(f"library: {count} single files; {describe()}")
        print(f"autopipe scan DIR --json, cold, median of {RUNS}: {statistics.median(walls):.2f} s "
              f"(runs: {', '.join(f'{w:.2f}' for w in walls)}); CPU time, median: {statistics.median(cpus):.2f} s")
        print(f"peak RSS, {count} files: {statistics.median(peaks) / mib:.1f} MiB; the largest header alone "
              f"({big.name.split('-', 1)[1]}, {big.stat().st_blocks * 512 // 1024} KiB on disk): {statistics.median(alone) / mib:.1f} MiB; "
              f"ratio {statistics.median(peaks) / statistics.median(alone):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
