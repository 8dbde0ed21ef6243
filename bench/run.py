#!/usr/bin/env python
"""Side-by-side cold-process benchmark of autopipe against diffusers, at full size; writes docs/performance.md.

    make bench                                   # = .venv/bin/python bench/run.py --write docs/performance.md
    python bench/run.py                          # print the table only
    python bench/run.py --quick --cases 1,6      # few rounds, some cases (while writing the benchmark)

Cases (bench/cases.py): 1 cold resolve of a folder; 2 cold resolve of a single
.safetensors file, small and multi-GB; 3 from_pretrained at full size (time
and peak memory); 4 from_pipe at full size across the three tasks; 5 plugin
discovery with 1, 10 and 100 plugins; 6 `import autopipe_core` and
`autopipe --help`; 7 cases 2-4 for SDXL at full size, when the machine's
memory allows.

Every figure is a fresh process timed from outside, contenders round-robin
(bench/harness.py); every row has its ratio to the case's reference and its
command. The full-size random-weight checkpoints are built once by
bench/checkpoints.py into $AUTOPIPE_BENCH_DIR (default ~/.cache/autopipe/bench).
Standard library only: torch and diffusers are imported by the child
processes, never by this one.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib.metadata as _md
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cases as C  # noqa: E402
import checkpoints  # noqa: E402
import plugin_site  # noqa: E402
from harness import Case, Check, Shower, loadavg, mem_available_gib, paired, raw, run_case, table  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ALL = ("1", "2", "3", "4", "5", "6", "7")

# Targets (issue 7).
RESOLVE_SPEEDUP = 30.0
RESOLVE_SECONDS = 0.15
FILE_SIZE_RATIO = 1.2
SPARSE_RATIO = 1.10  # issue 5's own target for its sparse multi-GB file against the small one
FILE_SPEEDUP = 100.0
LOAD_RATIO = 1.02
SWITCH_MS = 5.0
EXTRA_MIB = 1.0  # "no extra memory": less than one MiB of resident memory (page and allocator granularity)
RSS_SLACK = 0.01  # "peak memory no higher", read at 1 % of a peak that moves by several % from run to run
PLUGINS_RATIO = 1.5
IMPORT_SECONDS = 0.1
# SDXL (case 7): building it peaked at 7.3 GB resident (the UNet, 5.1 GB in float16, and what
# save_pretrained serialises); loading maps the 7 GB of weights. The machine is shared with others.
SDXL_BUILD_GIB = 10.0
SDXL_RUN_GIB = 12.0

# Rounds: (warm-up, timed) per case, full run and --quick.
ROUNDS = {
    "1": (1, 7), "2": (1, 5), "3": (1, 9), "4": (1, 3), "5": (2, 10), "6": (1, 8),
    "7-2": (1, 3), "7-3": (1, 4), "7-4": (1, 2),
}
QUICK = {k: (1, 2) for k in ROUNDS}


def _version(dist: str) -> str:
    try:
        return _md.version(dist)
    except _md.PackageNotFoundError:
        return "not installed"


def machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 0
    mem = ""
    try:
        mem = f"{os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE') / (1 << 30):.0f} GiB"
    except (ValueError, OSError, AttributeError):
        pass
    return {
        "cpu": cpu,
        "cores (nproc)": str(cores),
        "memory": mem,
        "os": platform.platform(),
        "python": platform.python_version() + f" ({platform.python_implementation()})",
        **{d: _version(d) for d in ("torch", "diffusers", "transformers", "safetensors", "autopipe-core", "autopipe-sd", "autopipe-sdxl")},
    }


def _met(ok: bool | None) -> str:
    return "**not measured**" if ok is None else ("**met**" if ok else "**missed**")


def _series(xs: list[float], digits: int = 3) -> str:
    return ", ".join(f"{x:.{digits}f}" for x in xs)


# --------------------------------------------------------------------------- targets


def check_resolve(case: Case) -> list[Check]:
    ap, api = case.by("autopipe resolve (CLI)"), case.by("autopipe resolve() (Python API)")
    df = case.by("diffusers AutoPipeline (import, load_config, table)")
    floor = case.by("python -c pass (start-up floor)")
    s = df.median() / ap.median()
    return [
        (
            f"1. cold resolve of a folder at least {RESOLVE_SPEEDUP:.0f}x faster than diffusers",
            s >= RESOLVE_SPEEDUP,
            f"{s:.1f}x (`autopipe resolve` {ap.median():.3f} s, diffusers {df.median():.3f} s, medians; round by round "
            f"{_series(paired(df.values('time'), ap.values('time')), 1)})",
        ),
        (
            f"1. cold resolve under {RESOLVE_SECONDS} s per process",
            max(ap.median(), api.median()) < RESOLVE_SECONDS,
            f"`autopipe resolve` {ap.median():.3f} s, `resolve()` {api.median():.3f} s (medians; the bare interpreter takes "
            f"{floor.median():.3f} s)",
        ),
    ]


def check_files(case: Case, small: str, large: str, prefix: str = "2") -> list[Check]:
    a_s, a_l = case.by(C.ap_cli(small)), case.by(C.ap_cli(large))
    d_l, api_s, api_l = case.by(C.df_classify(large)), case.by(C.ap_api(small)), case.by(C.ap_api(large))
    r = max(a_s.median(), a_l.median()) / min(a_s.median(), a_l.median())
    s = d_l.median() / a_l.median()
    net = d_l.median("net") / api_l.median("net")
    out = []
    if any(c.name == C.SPARSE for c in case.contenders):
        sp = case.by(C.SPARSE)
        rs = sp.median() / a_s.median()
        out.append(
            (
                f"{prefix}. single file: the sparse SDXL-shaped file / the small one <= {SPARSE_RATIO} (issue 5's target)",
                rs <= SPARSE_RATIO,
                f"{rs:.3f} ({sp.median():.3f} s against {a_s.median():.3f} s)",
            )
        )
    return out + [
        (
            f"{prefix}. single file: the two sizes within {FILE_SIZE_RATIO} of each other",
            r <= FILE_SIZE_RATIO,
            f"{r:.3f} (`autopipe resolve FILE`: {small} {a_s.median():.3f} s, {large} {a_l.median():.3f} s; in-process resolve(): "
            f"{api_s.median('net') * 1000:.1f} ms against {api_l.median('net') * 1000:.1f} ms)",
        ),
        (
            f"{prefix}. single file: {FILE_SPEEDUP:.0f}x faster than diffusers on the {large} file",
            s >= FILE_SPEEDUP,
            f"cold processes {s:.1f}x ({d_l.median():.3f} s against {a_l.median():.3f} s); in-process {net:,.1f}x "
            f"(diffusers reading and classifying the file {d_l.median('net') * 1000:.1f} ms after its imports, resolve() "
            f"{api_l.median('net') * 1000:.1f} ms after imports and plugin discovery)",
        ),
    ]


def check_load(case: Case, cls: str, prefix: str = "3") -> list[Check]:
    cc, ap = case.by(f"diffusers {cls} (concrete class)"), case.by("autopipe AutoPipelineForText2Image")
    df = case.by("diffusers AutoPipelineForText2Image")
    ctl = next((c for c in case.contenders if c.name.endswith("(noise control)")), None)
    # Judged on the median of the round-by-round ratios: a process of several seconds drifts with the machine's load
    # over a run, and within a round the two ran back to back, so each round's ratio cancels the drift.
    pr = paired(ap.values("time"), cc.values("time"))
    t = statistics.median(pr)
    m = ap.min("rss") / cc.min("rss")  # a peak only grows with noise (allocator arenas, when collections run): the least round is the need
    noise = f"; the noise control (the concrete class's command again) gets {ctl.median() / cc.median():.3f}" if ctl else ""
    return [
        (
            f"{prefix}. from_pretrained no slower than the concrete class (ratio <= {LOAD_RATIO})",
            t <= LOAD_RATIO,
            f"{t:.3f}, the median of the round-by-round ratios {_series(pr)} (ratio of the medians {ap.median() / cc.median():.3f}: "
            f"{ap.median():.3f} s against {cc.median():.3f} s){noise}; diffusers' AutoPipeline {df.median() / cc.median():.3f}",
        ),
        (
            f"{prefix}. from_pretrained peak memory no higher than the concrete class",
            m <= 1.0 + RSS_SLACK,
            f"{m:.3f} on the least peak of the rounds ({ap.min('rss'):,.0f} MiB against {cc.min('rss'):,.0f} MiB; medians "
            f"{ap.median('rss'):,.0f} and {cc.median('rss'):,.0f} MiB, {ap.median('rss') / cc.median('rss'):.3f}"
            f"{', the noise control ' + format(ctl.median('rss') / cc.median('rss'), '.3f') if ctl else ''}; read at "
            f"{RSS_SLACK:.0%}); diffusers' AutoPipeline "
            f"{df.min('rss') / cc.min('rss'):.3f}",
        ),
    ]


def check_from_pipe(case: Case, prefix: str = "4") -> list[Check]:
    ap, df = case.by("autopipe AutoPipelineFor*.from_pipe"), case.by("diffusers AutoPipelineFor*.from_pipe")
    return [
        (
            f"{prefix}. from_pipe under {SWITCH_MS:.0f} ms",
            ap.median("switch_ms") < SWITCH_MS,
            f"{ap.median('switch_ms'):.2f} ms a switch (diffusers {df.median('switch_ms'):.2f} ms); the first switch, which imports "
            f"the new class's module, {ap.median('first_ms'):.2f} ms (diffusers {df.median('first_ms'):.2f} ms, its classes "
            "imported with the AutoPipeline module)",
        ),
        (
            f"{prefix}. from_pipe: no extra memory",
            max(ap.values("extra_mib")) < EXTRA_MIB,
            f"{max(ap.values('extra_mib')):.1f} MiB at most with three new pipelines alive (diffusers {max(df.values('extra_mib')):.1f} MiB)",
        ),
        (
            f"{prefix}. from_pipe: every parameter shared, none cast",
            min(ap.values("shared_pct")) == 100.0 and max(ap.values("cast")) == 0,
            f"{min(ap.values('shared_pct')):.1f} % of {ap.median('tensors'):,.0f} tensors share storage, {max(ap.values('cast')):.0f} cast",
        ),
    ]


def check_plugins(case: Case) -> list[Check]:
    one, hundred = case.contenders[0], case.contenders[-1]
    r = hundred.median() / one.median()
    return [
        (
            f"5. 100 plugins cost less than {PLUGINS_RATIO} times 1 plugin",
            r < PLUGINS_RATIO,
            f"{r:.3f} ({hundred.median():.3f} s against {one.median():.3f} s; 10 plugins {case.contenders[1].median() / one.median():.3f})",
        )
    ]


def check_imports(case: Case, modules: dict[str, dict]) -> list[Check]:
    floor = case.by("python -c pass (start-up floor)")
    imp, hlp = case.by("import autopipe_core"), case.by("autopipe --help")
    heavy = sorted({h for m in modules.values() for h in m["heavy"]})
    d_imp, d_hlp = imp.median() - floor.median(), hlp.median() - floor.median()
    return [
        (
            f"6. `import autopipe_core` and `autopipe --help` under {IMPORT_SECONDS} s beyond the interpreter's start-up",
            max(d_imp, d_hlp) < IMPORT_SECONDS,
            f"+{d_imp:.3f} s and +{d_hlp:.3f} s over `python -c pass` ({floor.median():.3f} s), medians",
        ),
        (
            "6. no torch, diffusers or transformers imported",
            not heavy,
            ("none; " if not heavy else f"imported: {', '.join(heavy)}; ")
            + "; ".join(f"{k}: {v['modules']} modules, third-party {', '.join(v['third_party']) or 'none'}" for k, v in modules.items()),
        ),
    ]


def closing(by: dict[str, Case], checks: list[Check], footprint: float | None = None, load: tuple[str, str] = ("", "")) -> list[str]:
    """The closing note: each case's figures in a sentence, and why a target is met or missed."""
    out: list[str] = []

    def missed(prefix: str, word: str = "") -> bool:
        return any(t.startswith(prefix) and word in t and m is False for t, m, _ in checks)

    misses = [text for text, met, _ in checks if met is False]
    out.append(
        f"{sum(1 for _, m, _ in checks if m)} of {len(checks)} targets met"
        + (f"; missed: {'; '.join(misses)}." if misses else ".")
    )
    imp = by.get("6")
    df_import = imp.by("from diffusers import AutoPipelineForText2Image").median() if imp else None
    if "1" in by:
        c = by["1"]
        ap, floor = c.by("autopipe resolve (CLI)").median(), c.by("python -c pass (start-up floor)").median()
        df = c.by("diffusers AutoPipeline (import, load_config, table)").median()
        out.append(
            f"- **1, resolve a folder.** `autopipe resolve` takes {ap:.3f} s, of which {floor:.3f} s is the interpreter starting; "
            "the rest is importing the core and pluggy, reading the entry points from the `.dist-info` folders, importing and registering "
            f"the five plugins, and reading `model_index.json` and `unet/config.json`. diffusers takes {df:.3f} s"
            + (f", nearly all of it the import (`from diffusers import AutoPipelineForText2Image` alone: {df_import:.3f} s, case 6)" if df_import else "")
            + f": {df / ap:.1f}x."
            + (
                f" Under {RESOLVE_SECONDS} s was missed in this run: the load average was {load[0]} at the start and {load[1]} at "
                f"the end on {os.cpu_count()} cores, and the bare interpreter itself took {floor:.3f} s."
                if missed("1.", "under")
                else ""
            )
        )
    if "2" in by:
        c = by["2"]
        a_s, a_l = c.by(C.ap_cli("small")).median(), c.by(C.ap_cli("SD 1.5 2 GB")).median()
        d_l = c.by(C.df_classify("SD 1.5 2 GB"))
        n_l = c.by(C.ap_api("SD 1.5 2 GB")).median("net")
        line = (
            f"- **2, resolve a file.** autopipe reads the safetensors header alone (the byte count is a test: "
            f"tests/test_headers.py), so the 2 GB file answers like the small one ({a_l:.3f} s against {a_s:.3f} s; its larger "
            f"header, about 1,100 tensors, is parsed and checked in a few ms). In-process, resolve() classifies the 2 GB file in "
            f"{n_l * 1000:.1f} ms and diffusers' `load_single_file_checkpoint` + `infer_diffusers_model_type` in "
            f"{d_l.median('net') * 1000:.1f} ms: safetensors maps the file rather than reading it, so diffusers' classifier is not "
            "slow because of the file's size either; it is slow because of its imports."
        )
        if any(t.startswith("2. single file:") and "faster" in t and m is False for t, m, _ in checks):
            line += (
                f" The cold-process ratio, {d_l.median() / a_l:.1f}x, cannot reach 100 while importing diffusers takes "
                + (f"{df_import:.2f} s (case 6)" if df_import else "several seconds")
                + f" and a whole autopipe process {a_l:.3f} s, the interpreter's start-up included: 100x would need an autopipe "
                "process of a few tens of ms. The import is diffusers' own (`python -X importtime` puts it in torch, transformers "
                "and diffusers' module bodies), not autopipe's, and diffusers' classifier cannot run without it."
            )
        out.append(line)
    if "3" in by:
        c = by["3"]
        cls = c.reference.split()[1]
        cc, ap = c.by(c.reference), c.by("autopipe AutoPipelineForText2Image")
        ctl = next((x for x in c.contenders if x.name.endswith("(noise control)")), None)
        out.append(
            f"- **3, from_pretrained.** Both load the same 2 GB float16 folder through the same diffusers code, the weights "
            f"memory-mapped (peak RSS {cc.median('rss'):,.0f} MiB, far below the 2 GB on disk, for both); autopipe's process "
            f"takes {ap.median():.3f} s against {cc.median():.3f} s for `{cls}.from_pretrained` (medians; round by round, "
            f"{statistics.median(paired(ap.values('time'), cc.values('time'))):.3f})"
            + (f", within the spread of the concrete class against itself ({ctl.median() / cc.median():.3f})" if ctl else "")
            + ". autopipe's own share is importing the core and the plugins and reading the JSON, about the `resolve()` row of case 1 "
            "less the start-up, and the class import runs with the cyclic collector paused (see the findings below). In memory, "
            + (f"autopipe's own modules and tables take at most {footprint:.1f} MiB (a resolve process's peak less the bare "
               "interpreter's, standard-library modules diffusers imports too included); " if footprint is not None else "")
            + "the peak of a whole process moves by more than that from run to run (the noise control's ratio of medians shows by "
            "how much) and only upwards, so the target is read on the least peak of the rounds, at 1 %."
            + (
                " The time target was missed in this run; the noise control's ratio above is the yardstick: a miss smaller than "
                "the control's distance from 1.00 is the machine, not autopipe."
                if missed("3.", "slower")
                else ""
            )
        )
    if "4" in by:
        c = by["4"]
        ap = c.by("autopipe AutoPipelineFor*.from_pipe")
        out.append(
            f"- **4, from_pipe.** A switch builds the new class on the same component objects: {ap.median('switch_ms'):.2f} ms, "
            f"no tensor copied or cast ({min(ap.values('shared_pct')):.0f} % shared), {max(ap.values('extra_mib')):.1f} MiB more "
            f"resident. The first switch to a class, {ap.median('first_ms'):.1f} ms, imports that pipeline class's module, which "
            "diffusers' AutoPipeline imported with itself."
        )
    if "5" in by:
        c = by["5"]
        one, ten, hundred = (x.median() for x in c.contenders)
        out.append(
            f"- **5, plugins.** Each plugin costs {(hundred - one) / 99 * 1000:.2f} ms: finding its entry point, importing its module, "
            "registering its hooks with pluggy and adding its rows to the tables. Four costs of ours were removed while writing "
            "this case: reading each distribution's name and version parsed its METADATA with the email parser three times per "
            "plugin (now once, from the `.dist-info` folder's name); pluggy looked every name of a plugin module up with "
            "`inspect.getattr_static` (now the module's dict); listing a plugin's hooks with pluggy's `get_hookcallers` and "
            "finding one plugin's hook to call both walked every plugin's implementations, which made 100 plugins cost 100 "
            "times 100 (now the module itself, and an index)."
            + (
                f" The target was missed: a whole 1-plugin process is {one:.3f} s, so 99 more plugins at "
                f"{(hundred - one) / 99 * 1000:.2f} ms each add more than half of it. What remains per plugin is mostly not ours: "
                "CPython importing the plugin's module from its .pyc (about 0.23 ms of the 0.5 ms, timed in-process on a 100-plugin "
                "environment: reading the entry points 0.05 ms, pluggy registering the module 0.08 ms, calling its three "
                "registration hooks and filling the tables 0.1 ms). Making the 1-plugin process faster (importlib.metadata is no "
                "longer imported, the package's names load on first use) made this ratio harder, not the 100 plugins slower; "
                "what would meet it is not importing plugins at all to resolve, i.e. a cache of their registrations, which is "
                "left for later."
                if missed("5.")
                else ""
            )
        )
    if "6" in by:
        c = by["6"]
        floor = c.by("python -c pass (start-up floor)").median()
        out.append(
            f"- **6, import and --help.** `import autopipe_core` adds {c.by('import autopipe_core').median() - floor:.3f} s to the "
            f"interpreter's start-up and `autopipe --help` {c.by('autopipe --help').median() - floor:.3f} s: the package's names are "
            "imported on first use (PEP 562), so neither imports the registry, the loading or the placement code, let alone torch."
        )
    if "7-3" in by:
        c = by["7-3"]
        cc, ap = c.by(c.reference), c.by("autopipe AutoPipelineForText2Image")
        f2 = by.get("7-2")
        file_part = (
            f"resolving the 7 GB file takes {f2.by(C.ap_cli('SDXL 7 GB')).median():.3f} s against {f2.by(C.ap_cli('small')).median():.3f} s "
            f"for the small one, diffusers {f2.by(C.df_classify('SDXL 7 GB')).median():.3f} s; "
            if f2
            else ""
        )
        out.append(
            f"- **7, SDXL (7 GB).** The same shape as SD 1.5: {file_part}from_pretrained "
            f"{ap.median() / cc.median():.3f} of the concrete class (peak RSS {ap.median('rss') / cc.median('rss'):.3f}); from_pipe "
            f"{by['7-4'].by('autopipe AutoPipelineFor*.from_pipe').median('switch_ms'):.2f} ms a switch, nothing copied."
        )
    return out


# --------------------------------------------------------------------------- the page


def page(ctx: dict) -> str:
    lines = [
        "# Performance",
        "",
        "autopipe against diffusers, side by side in one run, at full size: finding the class, loading, switching tasks,",
        "discovering plugins and starting up. Written by `bench/run.py` (`make bench`); do not edit the figures by",
        "hand, run it again. Every claim is a ratio of two figures taken in the same run.",
        "",
        "## Targets",
        "",
    ]
    for text, ok, detail in ctx["checks"]:
        lines.append(f"- {text}: {_met(ok)}, {detail}.")
    lines += ["", *ctx["notes"], "", "## Closing note", "", *ctx["closing"], "", "## Results", "", ctx["table"], ""]
    lines += [f"- case {c.number}: {c.note}." for c in ctx["cases"] if c.note]
    lines += [
        "",
        "Rounds (warm-up + timed): " + ", ".join(f"{c.number} {c.warmup}+{c.rounds}" for c in ctx["cases"]) + ".",
        "",
        "## Reproduce",
        "",
        "```sh",
        ctx["rerun"],
        "```",
        "",
        "`python bench/run.py --help` for the options (`--quick`, `--cases`, `--sdxl`/`--no-sdxl`, `--json`);",
        "`python bench/checkpoints.py sd15 sdxl small sparse-xl` builds the checkpoints alone.",
        "",
        "## Method",
        "",
        "- Every wall time is one fresh interpreter, timed from outside with `time.perf_counter()` around the",
        "  child's whole life: start-up, imports, reading the model and, for case 3, mapping the weights (safetensors",
        "  memory-maps them; float16 on disk and asked for, nothing is converted). Peak memory is the child's own",
        "  `ru_maxrss` (from `os.wait4`).",
        "- The contenders of a case run round-robin (A, B, C, A, B, C, ...) after the warm-up rounds (which warm the",
        "  file cache and write `.pyc` files); the table gives the median and the minimum of the timed rounds, and the",
        "  ratio of medians to the case's reference row (or to the row it names). Timing targets are judged on",
        "  medians, except from_pretrained's 1.02, judged on the median of the round-by-round ratios (a process of",
        "  several seconds drifts with the machine's load over a run; within a round the two ran back to back);",
        "  peak memory, which noise only ever raises, on the least peak of the rounds.",
        "- Case 2's and 4's in-process figures come from the child itself (a `BENCH {json}` line): `resolve()` or",
        "  diffusers' `load_single_file_checkpoint` + `infer_diffusers_model_type` timed after the imports (and,",
        "  for autopipe, after plugin discovery, which diffusers' tables have no counterpart of to time); each",
        "  `from_pipe` call, resident memory (`VmRSS`) before and after the switches, and which tensors'",
        "  `data_ptr()` are the loaded pipeline's.",
        "- Case 5 runs the `python` of a fresh virtual environment whose site-packages hold the core, `autopipe-sd`",
        "  and N-1 dummy plugins (each a distribution with an entry point and a module registering a family, a",
        "  three-task row and a variant; `bench/plugin_site.py`), so the process sees exactly N plugins.",
        "- Each process must exit 0 and print the expected answer (the class; `v1`/`xl_base` for diffusers'",
        "  classifier), or the benchmark stops. `HF_HUB_OFFLINE=1`, `HF_HUB_DISABLE_TELEMETRY=1`, no",
        "  `PYTHONDONTWRITEBYTECODE` (every module loads from its `.pyc`, as after a pip install).",
        "- In the commands `python` and `autopipe` are the virtual environment's; the paths are named below.",
        "",
        "## Checkpoints",
        "",
        *ctx["checkpoints"],
        "",
        "## Machine",
        "",
        *[f"- {k}: {v}" for k, v in ctx["machine"].items() if v],
        f"- run: {ctx['started']}, {ctx['wall']:.0f} s in all (checkpoint builds included: {ctx['build_s']:.0f} s)",
        f"- load average (1, 5, 15 min): {ctx['load_start']} at the start, {ctx['load_end']} at the end",
        "",
        "## GPU",
        "",
        "Not measured yet: no GPU machine was lent to the session that wrote this benchmark. Every figure above is CPU",
        "(weights loaded to CPU memory); the rows to add on a GPU are case 3 and 7-3 with `.to(\"cuda\")` and the",
        "placement of `autopipe generate`.",
        "",
        "## Raw figures, in round order",
        "",
        "```",
        ctx["raw"],
        "```",
        "",
        FINDINGS,
    ]
    return "\n".join(lines) + "\n"


# What the from_pretrained gap was made of, found while the first version of this benchmark was written
# (tiny checkpoint); kept so the next reader knows why the code is as it is.
FINDINGS = """## What autopipe pays in from_pretrained, and what was done about it

autopipe's own work in a cold `from_pretrained` is importing `autopipe_core`,
discovering and registering the plugins, and reading the JSON. Three further
costs were found by counting rather than timing (first version of this
benchmark, tiny checkpoint):

1. **The importlib_metadata backport.** Importing it appends a second
   `MetadataPathFinder` to `sys.meta_path`, after which every metadata lookup
   diffusers makes on import walks site-packages twice (its
   `packages_distributions()` went from 55 to 110 ms). Fixed: autopipe reads
   entry points with the standard library's `importlib.metadata`.
2. **One more full garbage collection.** Counted with `gc.callbacks`: the
   concrete class's process runs 6 full collections while torch, transformers
   and diffusers import (about 350 ms), autopipe's ran 7 (about 520 ms): its
   own allocations moved the collector's schedule. Fixed: `import_class`
   pauses the cyclic collector while the pipeline class is imported and
   restores it after, which is why autopipe can come out slightly ahead of the
   concrete class.
3. **CPython 3.11 frame-chunk churn.** Importing diffusers three calls deeper
   than a plain script does makes the interpreter allocate and free a 16 KiB
   frame chunk at a boundary over and over (`strace`: 20.2k `munmap` calls
   against 6.0k; about 14k more page faults); the concrete class shows the
   same when called from 3-5 nested functions. That is an interpreter bug
   (python/cpython issue 142183, fixed upstream by caching one chunk; not in
   3.11), not ours, and it depends on the caller's depth, so it is left alone;
   it costs up to about 2 %.
"""


# --------------------------------------------------------------------------- main


def own_footprint(folder: Path, env: dict[str, str]) -> float:
    """autopipe's own resident memory, MiB, at most: a resolve process's peak less the bare interpreter's (some of the
    standard library it imports, diffusers imports too). Each process reports its own VmHWM (ru_maxrss would keep the
    forking parent's high-water mark); the least of three runs each."""
    hwm = "; print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])"

    def peak(code: str) -> float:
        best = float("inf")
        for _ in range(3):
            out = subprocess.run([sys.executable, "-c", code + hwm, str(folder)], env=env, capture_output=True, text=True, check=True)
            best = min(best, int(out.stdout.split()[-1]) / 1024)
        return best

    return peak('import sys; from autopipe_core import resolve; resolve(sys.argv[1], "text2img")') - peak("pass")


def modules_probe(env: dict[str, str]) -> dict[str, dict]:
    out = {}
    for what, label in (("import", "import autopipe_core"), ("help", "autopipe --help")):
        res = subprocess.run([sys.executable, "-c", C.MODULES_PROBE, what], env=env, capture_output=True, text=True, check=True)
        out[label] = json.loads(res.stdout.strip().splitlines()[-1])
    return out


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(prog="bench/run.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", default=",".join(ALL), help="comma-separated case numbers (default: all, 1-7)")
    p.add_argument("--quick", action="store_true", help="1 warm-up and 2 timed rounds per case (for writing the benchmark)")
    sx = p.add_mutually_exclusive_group()
    sx.add_argument("--sdxl", action="store_true", help="run case 7 whatever the free memory says")
    sx.add_argument("--no-sdxl", action="store_true", help="leave case 7 out")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds one process may take")
    p.add_argument("--write", type=Path, metavar="PAGE", help="write the markdown page (e.g. docs/performance.md)")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the raw figures as JSON")
    p.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = p.parse_args(argv)
    wanted = {c.strip() for c in args.cases.split(",") if c.strip()}
    if not wanted or wanted - set(ALL):
        p.error(f"--cases takes numbers among {', '.join(ALL)}, not {args.cases!r}")
    rounds = QUICK if args.quick else ROUNDS

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1", "TOKENIZERS_PARALLELISM": "false"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    for var in ("AUTOPIPE_PLUGINS", "AUTOPIPE_PREFER", "AUTOPIPE_STRICT", "PYTHONPATH"):
        env.pop(var, None)
    started = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load_start = loadavg()
    t0 = time.perf_counter()
    log = sys.stderr

    # Checkpoints.
    build_s = 0.0
    notes: list[str] = []
    need = {"sd15"} if wanted & {"1", "2", "3", "4", "5"} else set()
    if "2" in wanted or "7" in wanted:
        need.add("small")
    if "2" in wanted:
        need.add("sparse-xl")
    sdxl = "7" in wanted and not args.no_sdxl
    if sdxl and not args.sdxl:
        avail = mem_available_gib()
        want = SDXL_RUN_GIB if checkpoints.ready("sdxl") else SDXL_BUILD_GIB
        if avail < want:
            sdxl = False
            notes.append(
                f"Case 7 (SDXL at full size) was left out: {avail:.1f} GiB of memory was available and building or loading it "
                f"needs about {want:.0f} GiB (`--sdxl` forces it)."
            )
    if sdxl:
        notes.append(
            f"Case 7 (SDXL at full size) ran: {mem_available_gib():.1f} GiB of memory was available at the start; building the "
            f"checkpoint needs about {SDXL_BUILD_GIB:.0f} GiB (it peaked at 7.3 GB resident) and the run about {SDXL_RUN_GIB:.0f} GiB "
            "with the page cache holding the 7 GB being read."
        )
    if "7" in wanted and args.no_sdxl:
        notes.append("Case 7 (SDXL at full size) was left out with `--no-sdxl`.")
    if sdxl:
        need.add("sdxl")
    for kind in ("small", "sparse-xl", "sd15", "sdxl"):
        if kind in need:
            _, seconds = checkpoints.ensure(kind, env, log)
            build_s += seconds
    sd_folder, sd_file = checkpoints.paths("sd15")
    _, small_file = checkpoints.paths("small")
    _, sparse_file = checkpoints.paths("sparse-xl")
    xl_folder, xl_file = checkpoints.paths("sdxl")

    sd_cls, xl_cls = "StableDiffusionPipeline", "StableDiffusionXLPipeline"
    sd_classes = f"{sd_cls} StableDiffusionImg2ImgPipeline StableDiffusionInpaintPipeline {sd_cls}"
    xl_classes = f"{xl_cls} StableDiffusionXLImg2ImgPipeline StableDiffusionXLInpaintPipeline {xl_cls}"

    def mk(case: Case, key: str) -> Case:
        case.warmup, case.rounds = rounds[key]
        return case

    plan: list[Case] = []
    site_root = None
    if "1" in wanted:
        plan.append(mk(C.resolve_folder(sd_folder, sd_cls, 0), "1"))
    if "2" in wanted:
        files = [("small", small_file, sd_cls, "v1"), ("SD 1.5 2 GB", sd_file, sd_cls, "v1")]
        plan.append(mk(C.resolve_files(files, 0, "2", sparse=sparse_file), "2"))
    if "3" in wanted:
        plan.append(mk(C.from_pretrained(sd_folder, sd_cls, 0), "3"))
    if "4" in wanted:
        plan.append(mk(C.from_pipe(sd_folder, sd_classes, 0), "4"))
    if "5" in wanted:
        site_root = Path(tempfile.mkdtemp(prefix="autopipe-bench-plugins-"))
        pythons = {n: plugin_site.make_venv(site_root / f"venv{n}", n) for n in (1, 10, 100)}
        plan.append(mk(C.plugins(pythons, sd_folder, sd_cls, 0), "5"))
    if "6" in wanted:
        plan.append(mk(C.imports(0), "6"))
    if sdxl:
        files = [("small", small_file, sd_cls, "v1"), ("SDXL 7 GB", xl_file, xl_cls, "xl_base")]
        plan.append(mk(C.resolve_files(files, 0, "7-2"), "7-2"))
        plan.append(mk(C.from_pretrained(xl_folder, xl_cls, 0, number="7-3"), "7-3"))
        plan.append(mk(C.from_pipe(xl_folder, xl_classes, 0, number="7-4", repeats=3), "7-4"))

    try:
        for case in plan:
            print(f"case {case.number}, {case.title}: {', '.join(c.name for c in case.contenders)}", file=log, flush=True)
            run_case(case, env, args.timeout, log)
    finally:
        if site_root is not None:
            shutil.rmtree(site_root, ignore_errors=True)

    by = {c.number: c for c in plan}
    checks: list[Check] = []
    modules = modules_probe(env) if "6" in wanted else {}
    footprint = own_footprint(sd_folder, env) if "3" in wanted else None
    if "1" in by:
        checks += check_resolve(by["1"])
    if "2" in by:
        checks += check_files(by["2"], "small", "SD 1.5 2 GB")
    if "3" in by:
        checks += check_load(by["3"], sd_cls)
    if "4" in by:
        checks += check_from_pipe(by["4"])
    if "5" in by:
        checks += check_plugins(by["5"])
    if "6" in by:
        checks += check_imports(by["6"], modules)
    if "7-2" in by:
        checks += check_files(by["7-2"], "small", "SDXL 7 GB", "7-2")
        checks += check_load(by["7-3"], xl_cls, "7-3")
        checks += check_from_pipe(by["7-4"], "7-4")
    elif "7" in wanted:
        checks.append(("7. SDXL at full size, cases 2-4", None, notes[-1] if notes else "left out"))

    wall = time.perf_counter() - t0
    load_end = loadavg()
    names = {sys.executable: "python", C.autopipe_cli()[0]: "autopipe"}
    paths = {
        "$SD_DIR": sd_folder, "$SD_FILE": sd_file, "$SMALL_FILE": small_file, "$SPARSE_FILE": sparse_file, "$XL_DIR": xl_folder, "$XL_FILE": xl_file,
        "$BENCH": Path(__file__).resolve().parent,
    }
    for short, real in paths.items():
        names[str(real)] = f'"{short}"'
    names[str(Path(__file__).resolve().parent / "child_from_pipe.py")] = "bench/child_from_pipe.py"
    shower = Shower(names)
    tbl = table(plan, shower)

    print(tbl)
    print()
    for text, ok, detail in checks:
        print(f"{text}: {'not measured' if ok is None else 'met' if ok else 'MISSED'}, {detail}")
    print(f"\n{wall:.0f} s in all; load average {load_start} -> {load_end}", file=log)

    if args.write:
        def size(path: Path | None) -> str:
            if not path or not path.exists():
                return "not built"
            n = checkpoints.size_on_disk(path)
            return f"{n / 1e9:.2f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB"

        ckpts = [
            "Random weights at the real architectures, built once by `bench/checkpoints.py` from the full-size configs the",
            "plugins ship, in float16, into `$AUTOPIPE_BENCH_DIR` (default `~/.cache/autopipe/bench`), and reused:",
            "",
            f"- `$SD_DIR` = `{sd_folder}`: SD 1.5 (`autopipe_sd/configs/sd1`: UNet 860M, VAE 84M, CLIP ViT-L text encoder 123M "
            f"parameters; the real CLIP BPE tokenizer; no safety checker), `save_pretrained`, {size(sd_folder)}.",
            f"- `$SD_FILE` = `{sd_file}`: the same weights as one file in the original (LDM) layout, {size(sd_file)}.",
            f"- `$SMALL_FILE` = `{small_file}`: the tiny SD checkpoint of `autopipe_sd.tiny.build_single_file` in the same layout, "
            f"{size(small_file)}.",
            f"- `$SPARSE_FILE` = `{sparse_file}`: SDXL base's UNet and VAE tensor names and shapes (`autopipe_sd.ldm.meta_layout`) "
            f"written as a true safetensors header over a hole (`autopipe_core.headers.write_header`): "
            f"{sparse_file.stat().st_size / 1e9 if sparse_file.exists() else 0:.1f} GB on paper, a few KB on disk (issue 5's case).",
            f"- `$XL_DIR` = `{xl_folder}`: SDXL base 1.0 (`autopipe_sdxl/configs/xl-base`: UNet 2.6B, two text encoders), "
            f"{size(xl_folder)}; `$XL_FILE` = `{xl_file}`, the same weights as one SGM-layout file, {size(xl_file)}.",
            "- Built once, when first needed (bench/checkpoints.py): on this machine, shared with other work, SD 1.5 took "
            "about 26 s and SDXL about 4.6 min (7.3 GB peak resident), so a first `make bench` takes that much longer.",
            "- `$VENV_N` (case 5): fresh virtual environments (`python -m venv --without-pip`) whose site-packages hold the core, "
            "autopipe-sd and N-1 generated dummy plugins (`bench/plugin_site.py`), in a temporary folder removed after the run.",
        ]
        rerun = ".venv/bin/python bench/run.py " + " ".join(shlex.quote(a) for a in argv)
        if argv == ["--write", "docs/performance.md"]:
            rerun = f"make bench    # the same as: {rerun}"
        ctx = {
            "checks": checks, "notes": notes, "table": tbl, "cases": plan, "rerun": rerun, "checkpoints": ckpts,
            "machine": machine(), "started": started, "wall": wall, "build_s": build_s, "load_start": load_start,
            "load_end": load_end, "raw": raw(plan), "closing": closing(by, checks, footprint, (load_start, load_end)),
        }
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text(page(ctx))
        print(f"wrote {args.write}", file=log)
    if args.json:
        data = {
            "machine": machine(),
            "load": [load_start, load_end],
            "wall_s": wall,
            "cases": {c.number: {x.name: {"argv": x.argv, "env": x.env, "samples": x.samples} for x in c.contenders} for c in plan},
            "modules": modules,
            "targets": [{"target": t, "met": ok, "detail": d} for t, ok, d in checks],
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(data, indent=2))
    return 1 if args.check and any(ok is False for _, ok, _ in checks) else 0


if __name__ == "__main__":
    sys.exit(main())
