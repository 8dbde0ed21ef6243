"""The benchmark's cases (issue 7): each a list of contenders run round-robin by bench/harness.py.

1  cold resolve of a folder               autopipe resolve / resolve() against diffusers' AutoPipeline
2  cold resolve of a single file          a small and a multi-GB .safetensors, against diffusers' infer_diffusers_model_type
3  from_pretrained, full size             autopipe against diffusers' AutoPipeline and the concrete class (time, peak RSS)
4  from_pipe, full size                   the three tasks: time per switch, extra memory, shared storage
5  plugin discovery                       cold resolve with 1, 10 and 100 installed plugins
6  import autopipe_core, autopipe --help  against the interpreter's own start-up
7  SDXL at full size                      cases 2-4 again

Standard library only; every contender is a command line.
"""

from __future__ import annotations

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
    "import sys, time, json; from autopipe_core import resolve; from autopipe_core.registry import get_registry; "
    "get_registry(); t = time.perf_counter(); "
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


def load(module: str, cls: str) -> str:
    return (
        f"import sys, torch; from {module} import {cls}; "
        f"print(type({cls}.from_pretrained(sys.argv[1], torch_dtype=torch.float16)).__name__)"
    )


def resolve_folder(folder: Path, expect: str, rounds: int, number: str = "1") -> Case:
    ap = autopipe_cli()
    return Case(
        number,
        "resolve a folder",
        "cold resolve of a diffusers folder: a fresh process printing the class",
        [
            Contender("python -c pass (start-up floor)", [PY, "-c", "pass"]),
            Contender("autopipe resolve (CLI)", [*ap, "resolve", str(folder), "--task", "text2img"], expect),
            Contender("autopipe resolve() (Python API)", [PY, "-c", AP_RESOLVE, str(folder)], expect),
            Contender("diffusers AutoPipeline (import, load_config, table)", [PY, "-c", DF_RESOLVE, str(folder)], expect),
        ],
        reference="autopipe resolve (CLI)",
        rounds=rounds,
        note="ratio: contender / `autopipe resolve`, so the diffusers row is autopipe's speed-up",
    )


SPARSE = "autopipe resolve FILE (CLI), SDXL-shaped sparse file (header only)"


def ap_cli(label: str) -> str:
    return f"autopipe resolve FILE (CLI), {label}"


def ap_api(label: str) -> str:
    return f"autopipe resolve(FILE) (Python API), {label}"


def df_classify(label: str) -> str:
    return f"diffusers load_single_file_checkpoint + infer_diffusers_model_type, {label}"


def resolve_files(files: list[tuple[str, Path, str, str]], rounds: int, number: str, sparse: Path | None = None) -> Case:
    """One case, every file round-robin: (label, file, autopipe's class, diffusers' model type) each."""
    ap = autopipe_cli()
    contenders = []
    for label, file, expect, diffusers_type in files:
        contenders += [
            Contender(ap_cli(label), [*ap, "resolve", str(file), "--task", "text2img"], expect, ratio_to=ap_cli(files[0][0])),
            Contender(ap_api(label), [PY, "-c", AP_RESOLVE_NET, str(file)], expect, ratio_to=ap_cli(label)),
            Contender(df_classify(label), [PY, "-c", DF_CLASSIFY, str(file)], diffusers_type, ratio_to=ap_cli(label)),
        ]
    if sparse is not None:
        # The issue-5 case: a multi-gigabyte header over a hole. Only autopipe can take it (diffusers would read the hole).
        contenders.append(Contender(SPARSE, [*ap, "resolve", str(sparse), "--task", "text2img"], "StableDiffusionXLPipeline", ratio_to=ap_cli(files[0][0])))
    contenders[0].ratio_to = None
    return Case(
        number,
        "resolve a file",
        "cold resolve of one .safetensors file: " + ", ".join(f[0] for f in files),
        contenders,
        reference=ap_cli(files[0][0]),
        rounds=rounds,
        metrics=[TIME, NET],
        note="each row's ratio names what it divides by: autopipe's rows of another file divide by the small file (the size "
        "target), diffusers' and the Python API's by `autopipe resolve` of the same file; the in-process rows time resolve() "
        "(after imports and plugin discovery) and diffusers' reading and classifying (after imports)",
    )


def from_pretrained(folder: Path, cls: str, rounds: int, number: str = "3", control: bool = True, warmup: int = 1) -> Case:
    contenders = [
        Contender(f"diffusers {cls} (concrete class)", [PY, "-c", load("diffusers", cls), str(folder)], cls),
        Contender("autopipe AutoPipelineForText2Image", [PY, "-c", load("autopipe_core", "AutoPipelineForText2Image"), str(folder)], cls),
        Contender("diffusers AutoPipelineForText2Image", [PY, "-c", load("diffusers", "AutoPipelineForText2Image"), str(folder)], cls),
    ]
    if control:
        # The reference's own command once more, in the last slot: the ratio it gets is what noise
        # (and the slot) alone give, the yardstick for a target as tight as 1.02.
        contenders.append(Contender(f"diffusers {cls} again (noise control)", [PY, "-c", load("diffusers", cls), str(folder)], cls))
    return Case(
        number,
        "from_pretrained",
        "from_pretrained in a fresh process, float16, full size",
        contenders,
        reference=f"diffusers {cls} (concrete class)",
        rounds=rounds,
        metrics=[TIME, RSS],
        warmup=warmup,
        note="ratio: contender / the concrete diffusers class",
    )


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


def plugins(pythons: dict[int, Path], folder: Path, expect: str, rounds: int, number: str = "5") -> Case:
    contenders = []
    for n, python in sorted(pythons.items()):
        contenders.append(
            Contender(
                f"{n} plugin{'s' if n != 1 else ''} installed",
                [str(python), "-m", "autopipe_core.cli", "resolve", str(folder), "--task", "text2img"],
                expect,
                shown=f'"$VENV_{n}/bin/python" -m autopipe_core.cli resolve "$SD_DIR" --task text2img',
            )
        )
    return Case(
        number,
        "plugin discovery",
        "cold resolve with 1, 10 and 100 installed plugins",
        contenders,
        reference=contenders[0].name,
        rounds=rounds,
        note="ratio: contender / 1 plugin; `$VENV_N` is a fresh virtual environment holding the core, autopipe-sd and N-1 dummy plugins",
    )


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
