"""The benchmark's cases (issue 7): each a list of contenders run in alternating slot order by bench/harness.py.

1  cold resolve of a folder               autopipe resolve / resolve() against diffusers' AutoPipeline
2  cold resolve of a single file          two files that differ only in size (SD 1.5's names, tiny shapes, against the
                                          2 GB file), against diffusers' infer_diffusers_model_type; and the header-size
                                          pair (SD 1.5's and SDXL's headers over holes, 1,130 against 2,513 tensors)
3  from_pretrained, full size             autopipe against diffusers' AutoPipeline and the concrete class (time, peak RSS),
                                          and autopipe's fixed overhead
4  from_pipe, full size                   the three tasks: time per switch, extra memory, shared storage
5  plugin discovery                       cold resolve with 1, 10 and 100 installed plugins (copies of a shipped one), and
                                          the registry's build in-process with those and with the 27 shipped plugins
6  import autopipe_core, autopipe --help  against the interpreter's own start-up
7  SDXL at full size                      cases 2-4 again
8  scan a library                         `autopipe scan DIR --json` over 1,000 single files, and over the largest alone

Standard library only; every contender is a command line.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from harness import RSS, TIME, Case, Contender, Metric

HERE = Path(__file__).resolve().parent
PY = sys.executable

NET = Metric("net", "in-process: classify the file", "ms", scale=1000.0, digits=1)
SWITCH = Metric("switch_ms", "from_pipe, median switch", "ms", digits=2)
FIRST = Metric("first_ms", "from_pipe, first switch (imports the class)", "ms", digits=2)
EXTRA = Metric("extra_mib", "extra RSS, 3 new pipelines alive", "MiB", digits=1)
SHARED = Metric("shared_pct", "tensors sharing storage", "%", digits=1, lower_is_better=False)
CAST = Metric("cast", "tensors cast to another dtype", "", digits=0)


def autopipe_cli() -> list[str]:
    """The `autopipe` console script next to the interpreter (as pip installs it), else `python -m`."""
    script = Path(PY).parent / "autopipe"
    return [str(script)] if script.is_file() else [PY, "-m", "autopipe_core.cli"]


# The Python snippets of the contenders: each prints what it found; BENCH lines carry in-process figures.
AP_RESOLVE = 'import sys; from autopipe_core import resolve; print(resolve(sys.argv[1], "text2img").pipeline_class)'
AP_RESOLVE_NET = (
    # Everything resolve() imports on a file's path (the registry and its plugins, the single-file and header readers)
    # is imported before the clock starts: the figure is the reading and classifying alone.
    "import sys, time, json; from autopipe_core import resolve; from autopipe_core.registry import get_registry; "
    "import autopipe_core.single_file, autopipe_core.headers; get_registry(); t = time.perf_counter(); "
    'c = resolve(sys.argv[1], "text2img").pipeline_class; d = time.perf_counter() - t; '
    'print(c); print("BENCH " + json.dumps({"net": d}))'
)
DF_RESOLVE = (
    "import sys; from diffusers import AutoPipelineForText2Image; "
    "from diffusers.pipelines.auto_pipeline import AUTO_TEXT2IMAGE_PIPELINES_MAPPING, _get_task_class; "
    "config = AutoPipelineForText2Image.load_config(sys.argv[1]); "
    'print(_get_task_class(AUTO_TEXT2IMAGE_PIPELINES_MAPPING, config["_class_name"]).__name__)'
)
DF_CLASSIFY = (
    "import sys, time, json; from diffusers.loaders.single_file_utils import load_single_file_checkpoint, infer_diffusers_model_type; "
    "t = time.perf_counter(); m = infer_diffusers_model_type(load_single_file_checkpoint(sys.argv[1])); d = time.perf_counter() - t; "
    'print(m); print("BENCH " + json.dumps({"net": d}))'
)


def load(module: str, cls: str, prelude: str = "") -> str:
    return (
        f"import sys, torch; {prelude}from {module} import {cls}; "
        f"print(type({cls}.from_pretrained(sys.argv[1], torch_dtype=torch.float16)).__name__)"
    )


#: A process's own peak resident memory (VmHWM, MiB), printed as a BENCH figure. ru_maxrss from wait4 cannot give it for a
#: small process: the child's count starts with the pages of the forking parent (this benchmark), so a bare interpreter
#: would read as the parent's size.
PRINT_PEAK = "print('BENCH ' + __import__('json').dumps({'hwm': int([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0]) / 1024}))"
OWN_PEAK = "print('ok'); " + PRINT_PEAK
#: `autopipe ARGS` as its console script runs it (cli.main() reading sys.argv), then its own peak: the scan's memory.
CLI_PEAK = "import sys; from autopipe_core.cli import main; rc = main(); " + PRINT_PEAK + "; sys.exit(rc)"
#: autopipe's fixed overhead: what importing the core and building the registry (every installed plugin) leaves resident.
OVERHEAD = "from autopipe_core.registry import get_registry; get_registry(); " + OWN_PEAK
HWM = Metric("hwm", "own peak RSS (VmHWM, read by the process)", "MiB", digits=1)
#: The registry's build in-process (BENCH "reg", seconds): importing and registering every installed plugin.
REGISTRY = (
    "import time, json; import autopipe_core.registry as r; t = time.perf_counter(); r.get_registry(); "
    "d = time.perf_counter() - t; print('ok'); print('BENCH ' + json.dumps({'reg': d}))"
)
REG = Metric("reg", "in-process: build the registry", "ms", scale=1000.0, digits=2)


#: Case 1's CLI contender without a registration snapshot (autopipe_core.snapshot): its cache folder cannot be made (a
#: path under a file), so it neither finds one nor saves one, and each run builds the registry from the plugins.
NO_SNAPSHOT_SHORT = "no registration snapshot"
NO_SNAPSHOT = f"autopipe resolve (CLI), {NO_SNAPSHOT_SHORT}"
UNWRITABLE = "/dev/null/autopipe"


def resolve_folder(folder: Path, expect: str, rounds: int, number: str = "1") -> Case:
    ap = autopipe_cli()
    return Case(
        number,
        "resolve a folder",
        "cold resolve of a diffusers folder: a fresh process printing the class",
        [
            Contender("python -c pass (start-up floor)", [PY, "-c", "pass"]),
            Contender("autopipe resolve (CLI)", [*ap, "resolve", str(folder), "--task", "text2img"], expect),
            # The same command with nowhere to keep its registration snapshot: every run discovers and registers the plugins,
            # as the first run in an environment (or after a plugin is installed) does.
            Contender(NO_SNAPSHOT, [*ap, "resolve", str(folder), "--task", "text2img"], expect, env={"AUTOPIPE_CACHE": UNWRITABLE}),
            Contender("autopipe resolve() (Python API)", [PY, "-c", AP_RESOLVE, str(folder)], expect),
            Contender("diffusers AutoPipeline (import, load_config, table)", [PY, "-c", DF_RESOLVE, str(folder)], expect),
        ],
        reference="autopipe resolve (CLI)",
        rounds=rounds,
        note=(
            "ratio: contender / `autopipe resolve`, so the diffusers row is autopipe's speed-up; the no-snapshot row runs "
            f"with `AUTOPIPE_CACHE={UNWRITABLE}`, a cache folder that cannot be made, so it neither reads nor saves one"
        ),
    )


def ap_cli(label: str) -> str:
    return f"autopipe resolve FILE (CLI), {label}"


def ap_api(label: str) -> str:
    return f"autopipe resolve(FILE) (Python API), {label}"


def df_classify(label: str) -> str:
    return f"diffusers load_single_file_checkpoint + infer_diffusers_model_type, {label}"


def header_floor(label: str) -> str:
    return f"python reading the header with json alone (the floor), {label}"


#: The least any cold answer about a single file costs: an interpreter that reads the 8-byte length and the header's
#: JSON with the standard library and nothing else (no check, no detection, no plugin).
READ_HEADER = (
    "import sys, json; f = open(sys.argv[1], 'rb'); n = int.from_bytes(f.read(8), 'little'); "
    "print('ok' if json.loads(f.read(n)) else 'empty')"
)


def resolve_files(
    small: tuple[str, Path], large: tuple[str, Path], expect: str, diffusers_type: str, rounds: int, number: str,
    headers: list[tuple[str, Path, str]] | None = None,
) -> Case:
    """The size pair (small: the large file's names and header length, tiny shapes) with diffusers' classifier on the large
    one; then the header-size pair, (label, sparse file, autopipe's class) each, read against the first of them."""
    ap = autopipe_cli()
    (s_label, s_file), (l_label, l_file) = small, large
    contenders = [
        Contender(ap_cli(s_label), [*ap, "resolve", str(s_file), "--task", "text2img"], expect),
        Contender(ap_cli(l_label), [*ap, "resolve", str(l_file), "--task", "text2img"], expect),
        Contender(ap_api(s_label), [PY, "-c", AP_RESOLVE_NET, str(s_file)], expect, ratio_to=ap_cli(s_label)),
        Contender(ap_api(l_label), [PY, "-c", AP_RESOLVE_NET, str(l_file)], expect, ratio_to=ap_cli(l_label)),
        Contender(df_classify(l_label), [PY, "-c", DF_CLASSIFY, str(l_file)], diffusers_type, ratio_to=ap_cli(l_label)),
        Contender(header_floor(l_label), [PY, "-c", READ_HEADER, str(l_file)], "ok", ratio_to=ap_cli(l_label)),
        # The same command with nowhere to keep its registration snapshot, as case 1's: every plugin discovered and registered.
        Contender(f"{ap_cli(l_label)}, {NO_SNAPSHOT_SHORT}", [*ap, "resolve", str(l_file), "--task", "text2img"], expect,
                  env={"AUTOPIPE_CACHE": UNWRITABLE}, ratio_to=ap_cli(l_label)),
    ]
    for i, (label, file, cls) in enumerate(headers or []):
        contenders.append(
            Contender(ap_cli(label), [*ap, "resolve", str(file), "--task", "text2img"], cls, ratio_to=ap_cli(headers[0][0]) if i else ap_cli(s_label))
        )
    return Case(
        number,
        "resolve a file",
        f"cold resolve of one .safetensors file: {s_label} against {l_label} (they differ only in size)"
        + (", and the header-size pair" if headers else ""),
        contenders,
        reference=ap_cli(s_label),
        rounds=rounds,
        metrics=[TIME, NET],
        note="each row's ratio names what it divides by: the large file's row divides by the small one (the size target, files "
        "that differ only in size), diffusers' and the Python API's by `autopipe resolve` of the same file, the second "
        "header-size row by the first (the header-size reading), the floor's and the no-snapshot row's (`AUTOPIPE_CACHE` "
        "a folder that cannot be made, as in case 1) by `autopipe resolve` of the same file; the in-process rows time resolve() (after imports and plugin "
        "discovery) and diffusers' reading and classifying (after imports)",
    )


#: The pair that measures what autopipe adds to a load apart from the weights: both classes loading the plugin's tiny
#: checkpoint (a few MB of weights), each process reading its own peak.
TINY_CC = "diffusers {cls} (concrete class), tiny checkpoint"
TINY_AP = "autopipe AutoPipelineForText2Image, tiny checkpoint"


def from_pretrained(folder: Path, cls: str, rounds: int, number: str = "3", control: bool = True, warmup: int = 1, tiny: Path | None = None) -> Case:
    contenders = [
        Contender(f"diffusers {cls} (concrete class)", [PY, "-c", load("diffusers", cls), str(folder)], cls),
        Contender("autopipe AutoPipelineForText2Image", [PY, "-c", load("autopipe_core", "AutoPipelineForText2Image"), str(folder)], cls),
        Contender("diffusers AutoPipelineForText2Image", [PY, "-c", load("diffusers", "AutoPipelineForText2Image"), str(folder)], cls),
    ]
    if control:
        # The reference's own command once more: the ratio it gets is what noise alone gives, the yardstick for a
        # target as tight as 1.02.
        contenders.append(Contender(f"diffusers {cls} again (noise control)", [PY, "-c", load("diffusers", cls), str(folder)], cls))
    contenders += [
        Contender(BARE, [PY, "-c", OWN_PEAK], "ok", ratio_to=BARE),
        Contender(OWN, [PY, "-c", OVERHEAD], "ok", ratio_to=BARE),
    ]
    if tiny is not None:
        cc = TINY_CC.format(cls=cls)
        contenders += [
            Contender(cc, [PY, "-c", load("diffusers", cls) + "; " + PRINT_PEAK, str(tiny)], cls, ratio_to=cc),
            Contender(TINY_AP, [PY, "-c", load("autopipe_core", "AutoPipelineForText2Image") + "; " + PRINT_PEAK, str(tiny)], cls, ratio_to=cc),
        ]
    return Case(
        number,
        "from_pretrained",
        "from_pretrained in a fresh process, float16, full size",
        contenders,
        reference=f"diffusers {cls} (concrete class)",
        rounds=rounds,
        metrics=[TIME, RSS, HWM],
        warmup=warmup,
        note="ratio: contender / the concrete diffusers class",
    )


FLOOR = "python -c pass (start-up floor)"
BARE = "python reading its own peak (the bare interpreter)"
OWN = "import autopipe_core + build the registry (autopipe's fixed overhead)"


def from_pipe(folder: Path, classes: str, rounds: int, number: str = "4", repeats: int = 5) -> Case:
    child = str(HERE / "child_from_pipe.py")
    return Case(
        number,
        "from_pipe",
        "from_pipe across the three tasks, full size, in one process after from_pretrained",
        [
            Contender("autopipe AutoPipelineFor*.from_pipe", [PY, child, "autopipe", str(folder), str(repeats)], classes),
            Contender("diffusers AutoPipelineFor*.from_pipe", [PY, child, "diffusers", str(folder), str(repeats)], classes),
        ],
        reference="diffusers AutoPipelineFor*.from_pipe",
        rounds=rounds,
        metrics=[SWITCH, FIRST, EXTRA, SHARED, CAST],
        note="ratio: autopipe / diffusers; one switch is `AutoPipelineFor<Task>.from_pipe(pipe)`, text2img -> img2img -> inpaint -> text2img, "
        f"{repeats} times per process",
    )


def plugins(pythons: dict[str, Path], folder: Path, expect: str, rounds: int, number: str = "5") -> Case:
    """pythons: label ("1", "10", "100", "27 shipped") -> that environment's python. Each runs the cold resolve (wall time)
    and the registry's in-process build (BENCH reg); only the numbered ones are the target's rows."""
    contenders = []
    for label, python in pythons.items():
        n = label.split()[0]
        venv = "$VENV_" + label.replace(" ", "_").upper()
        what = f"{label} plugin{'s' if n != '1' else ''} installed"
        contenders.append(
            Contender(
                what,
                [str(python), "-m", "autopipe_core.cli", "resolve", str(folder), "--task", "text2img"],
                expect,
                shown=f'"{venv}/bin/python" -m autopipe_core.cli resolve "$SD_DIR" --task text2img',
            )
        )
        contenders.append(
            Contender(
                f"{what}, registry in-process",
                [str(python), "-c", REGISTRY],
                "ok",
                shown=f'"{venv}/bin/python" -c {shlex.quote(REGISTRY)}',
                ratio_to="1 plugin installed, registry in-process",
            )
        )
    return Case(
        number,
        "plugin discovery",
        "cold resolve with 1, 10 and 100 installed plugins, and the registry's build in-process",
        contenders,
        reference=contenders[0].name,
        rounds=rounds,
        metrics=[TIME, REG],
        note="ratio: contender / 1 plugin; `$VENV_N` is a fresh virtual environment holding the core, autopipe-sd and N-1 renamed "
        "copies of autopipe-sd; `$VENV_27_SHIPPED` holds the core and the 27 shipped plugins",
    )


def scan(library: Path, largest: Path, rounds: int, number: str = "8") -> Case:
    ap = autopipe_cli()
    return Case(
        number,
        "scan a library",
        "cold `autopipe scan --json`: the whole library, and its largest header alone (the peak-memory yardstick)",
        [
            Contender(SCAN_ALL, [PY, "-c", CLI_PEAK, "scan", str(library), "--json"], shown=f'autopipe scan "$LIBRARY" --json    # {SHOWN_PEAK}'),
            Contender(SCAN_ONE, [PY, "-c", CLI_PEAK, "scan", str(largest), "--json"], shown=f'autopipe scan "$LARGEST" --json    # {SHOWN_PEAK}'),
        ],
        reference=SCAN_ONE,
        rounds=rounds,
        metrics=[TIME, HWM],
        note="ratio: contender / the scan of the largest file alone",
    )


SHOWN_PEAK = "run as python -c 'from autopipe_core.cli import main; rc = main(); <print VmHWM>', the console script's code"
SCAN_ALL = "autopipe scan LIBRARY --json"
SCAN_ONE = "autopipe scan LARGEST --json (the file with the largest header, alone)"


def imports(rounds: int, number: str = "6") -> Case:
    ap = autopipe_cli()
    return Case(
        number,
        "import and --help",
        "import autopipe_core and autopipe --help, against the interpreter's start-up",
        [
            Contender("python -c pass (start-up floor)", [PY, "-c", "pass"]),
            Contender("import autopipe_core", [PY, "-c", "import autopipe_core"]),
            Contender("autopipe --help", [*ap, "--help"]),
            Contender("from diffusers import AutoPipelineForText2Image", [PY, "-c", "from diffusers import AutoPipelineForText2Image"]),
        ],
        reference="python -c pass (start-up floor)",
        rounds=rounds,
        note="ratio: contender / the bare interpreter",
    )


# Case 6's module count: not timed, one probe process per command.
MODULES_PROBE = r"""
import sys, json
bare = set(sys.modules)
what = sys.argv[1]
if what == "import":
    import autopipe_core
else:
    import contextlib, io
    from autopipe_core.cli import main
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            main(["--help"])
        except SystemExit:
            pass
new = sorted(set(sys.modules) - bare)
top = sorted({m.split(".")[0] for m in new})
print(json.dumps({"modules": len(new), "third_party": [t for t in top if t not in sys.stdlib_module_names and not t.startswith("autopipe")],
                  "autopipe": [t for t in top if t.startswith("autopipe")],
                  "heavy": [m for m in ("torch", "diffusers", "transformers") if m in sys.modules]}))
"""
