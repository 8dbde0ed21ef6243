"""make mutate: mutation testing (mutmut) of the core's and the plugins' detection, planning and guard code.

mutmut works in the folder it is started from and copies the sources it mutates into ``mutants/`` there. This
script gives it a folder of its own, ``mutation/work/`` (ignored by git), holding links to the repository's
sources and tests and mutmut's configuration (``mutation/setup.cfg``: the files mutated, the tests selected),
so that nothing is written at the repository's root; each plugin's package is linked as ``src/<package>``, the
layout mutmut names mutants by and puts first on ``sys.path`` (ahead of the editable installs). Then it runs
mutmut's command line with the arguments given (default ``run``):

    .venv/bin/python mutation/run.py                      # every mutant (make mutate)
    .venv/bin/python mutation/run.py run "autopipe_core.units*"   # one module's mutants
    .venv/bin/python mutation/run.py results              # the survivors
    .venv/bin/python mutation/run.py show NAME            # one mutant's diff
    .venv/bin/python mutation/run.py score                # killed / total, per module and overall
    .venv/bin/python mutation/run.py survivors "autopipe_core.units*"   # the diffs of the survivors not judged equivalent
    .venv/bin/python mutation/run.py retry                # the survivors again, against the tests as they are now
    .venv/bin/python mutation/run.py sample 500 1         # 500 mutants drawn at random (seed 1): a score with its margin

mutmut records which tests call each mutated function while it runs the selection once unmutated, then runs
for each mutant only those tests (narrowed to the module's own, setup.cfg's [focus]), each mutant in a forked
process; mutation/speedups.py keeps the tiny checkpoints and toy plugins built for the unmutated run.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections import Counter, defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / "work"
LINKED = ["autopipe_core", "plugins", "tests", "conftest.py", "pyproject.toml", "docs", "bench", "constraints"]


def prepare() -> None:
    WORK.mkdir(exist_ok=True)
    for name in LINKED:
        link = WORK / name
        if not link.is_symlink():
            link.symlink_to(ROOT / name)
    # Each plugin package under src/, as mutmut expects a src layout: it names a mutant by its import name
    # (src/autopipe_sd/single_file.py -> autopipe_sd.single_file, which the trampolines compare with __module__)
    # and puts mutants/src ahead of the editable installs on sys.path.
    (WORK / "src").mkdir(exist_ok=True)
    for package in sorted((ROOT / "plugins").glob("*/src/*/__init__.py")):
        link = WORK / "src" / package.parent.name
        if not link.is_symlink():
            link.symlink_to(package.parent)
    # setup.cfg, with every plugin's pyproject.toml added to also_copy: the tests that check the install-hint table
    # against the repository's plugins list them from plugins/*/pyproject.toml beside their own copy under mutants/.
    tomls = [p.relative_to(ROOT) for p in sorted(ROOT.glob("plugins/*/pyproject.toml"))]
    config = (HERE / "setup.cfg").read_text()
    (WORK / "setup.cfg").write_text(config.replace("also_copy =", "also_copy =" + "".join(f"\n    {p}" for p in tomls), 1))
    for toml in tomls:  # mutmut copies a file into a folder it expects to exist
        (WORK / "mutants" / toml.parent).mkdir(parents=True, exist_ok=True)
    os.chdir(WORK)
    refresh()


def refresh() -> None:
    """Bring mutants/ up to date with the files mutmut copies once and never again (the sources it does not mutate).

    mutmut regenerates a mutated file whose source changed, and copies the tests afresh on each run, but keeps
    its first copy of every other file under the source paths: a changed module it does not mutate would be run
    stale against current tests.
    """
    from configparser import ConfigParser

    parser = ConfigParser()
    parser.read("setup.cfg")
    mutated = set(parser["mutmut"]["only_mutate"].split())
    for root in parser["mutmut"]["source_paths"].split():
        for source in Path(root).rglob("*"):
            copy = Path("mutants") / source
            if source.is_file() and str(source) not in mutated and copy.exists() and copy.stat().st_mtime < source.stat().st_mtime:
                shutil.copy2(source, copy)


def score() -> int:
    """Each mutated file's mutants by mutmut's status, and the score: killed over all mutants but the equivalent ones.

    ``mutation/equivalent.txt`` lists the survivors judged equivalent (no observable behaviour can tell them from
    the original), one mutant name a line with its reason after ``#``.
    """
    from mutmut.stats import status_by_exit_code

    equivalent = {line.split("#")[0].strip() for line in (HERE / "equivalent.txt").read_text().splitlines() if line.split("#")[0].strip()}
    per_file: dict[str, Counter] = defaultdict(Counter)
    for meta in sorted(Path("mutants").rglob("*.py.meta")):
        for name, exit_code in json.loads(meta.read_text()).get("exit_code_by_key", {}).items():
            status = status_by_exit_code[exit_code]
            if status == "survived" and name in equivalent:
                status = "equivalent"
            per_file[str(meta.relative_to("mutants"))[: -len(".meta")]][status] += 1
    total: Counter = Counter()
    print(f"{'file':<44} {'killed':>7} {'survived':>9} {'no tests':>9} {'equivalent':>11} {'not run':>8} {'score':>7}")
    for path, counts in sorted(per_file.items()):
        total.update(counts)
        print(_row(path, counts))
    print(_row("overall", total))
    killed = total["killed"] + total["timeout"] + total["caught by type check"]
    judged = killed + total["survived"] + total["no tests"]
    if judged and total["not checked"]:
        low, high = _wilson(killed, judged)
        print(f"{total['not checked']} mutants not run: if those run are a uniform sample (run.py sample), the score over all "
              f"is {100 * low:.1f}-{100 * high:.1f} % (95 % Wilson interval)")
    print("score: killed / (killed + survived + no tests), over the mutants run, equivalent ones left out; a timeout counts as killed")
    return 0


def _wilson(successes: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a proportion: where the share over all lies, from a uniform sample of `trials`."""
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * ((p * (1 - p) / trials + z * z / (4 * trials * trials)) ** 0.5) / (1 + z * z / trials)
    return centre - half, centre + half


def _row(name: str, counts: Counter) -> str:
    killed = counts["killed"] + counts["timeout"] + counts["caught by type check"]
    survived, untested, equivalent, unrun = counts["survived"], counts["no tests"], counts["equivalent"], counts["not checked"]
    judged = killed + survived + untested
    rate = f"{100 * killed / judged:.1f} %" if judged else "-"
    return f"{name:<44} {killed:>7} {survived:>9} {untested:>9} {equivalent:>11} {unrun:>8} {rate:>7}"


def survivors(patterns: list[str]) -> int:
    """The diff of every surviving mutant not listed as equivalent, for the modules matching `patterns` (fnmatch)."""
    import fnmatch

    from mutmut.mutation.diff_apply import get_diff_for_mutant

    equivalent = {line.split("#")[0].strip() for line in (HERE / "equivalent.txt").read_text().splitlines()}
    for meta in sorted(Path("mutants").rglob("*.py.meta")):
        path = str(meta.relative_to("mutants"))[: -len(".meta")]
        for name, exit_code in sorted(json.loads(meta.read_text()).get("exit_code_by_key", {}).items()):
            if exit_code == 0 and name not in equivalent and (not patterns or any(fnmatch.fnmatch(name, p) for p in patterns)):
                print(f"# {name}")
                print(get_diff_for_mutant(name, path=path))
    return 0


def forget_survivors() -> int:
    """Clear the verdict of every survivor and every mutant with no tests, so that the next ``run`` tries them again.

    mutmut keeps a verdict until the mutated function's source changes: a test written since does not reach a
    survivor by itself (``run.py retry`` = this, then ``run``; new tests are mapped to functions first).
    """
    cleared = 0
    for meta in Path("mutants").rglob("*.py.meta"):
        data = json.loads(meta.read_text())
        verdicts = data.get("exit_code_by_key", {})
        for name, exit_code in verdicts.items():
            if exit_code in (0, 33):  # survived, no tests
                verdicts[name] = None
                cleared += 1
        meta.write_text(json.dumps(data, indent=4))
    print(f"{cleared} survivors and untested mutants to try again")
    return cleared


def sample(size: int, seed: int) -> list[str]:
    """`size` mutant names drawn uniformly at random (seeded) from every mutant mutmut generated, for a score with a
    known margin in a fraction of the whole run's time (``run.py sample 500 1``: these names, then ``score``).

    Drawn from all mutants alike, judged equivalent ones included (they are set aside when scored), so the share
    killed among the sample estimates the share over all; ``score`` gives its 95 % interval (Wilson).
    """
    import random

    names = sorted(name for meta in Path("mutants").rglob("*.py.meta") for name in json.loads(meta.read_text())["exit_code_by_key"])
    if not names:
        raise SystemExit("no mutants generated yet: mutmut generates them at the start of a run (make mutate, or run.py run NAME)")
    return sorted(random.Random(seed).sample(names, min(size, len(names))))


def focus_tests() -> None:
    """Run each mutant against its module's own tests: mutmut's per-test coverage, narrowed by setup.cfg's [focus].

    mutmut maps every mutated function to every selected test that called it, so a function every resolution
    passes through (the registry, identify) would run a survivor against a thousand tests. [focus] names, per
    module, the tests written about it; a function keeps the tests that called it among those. A function none
    of them calls keeps the 40 fastest that did.
    """
    from configparser import ConfigParser

    import mutmut.__main__ as cli_module
    from mutmut.state import state
    from mutmut.stats import save_stats
    from mutmut.utils.format_utils import get_module_from_key

    parser = ConfigParser()
    parser.read("setup.cfg")
    focus = {module: value.split() for module, value in parser["focus"].items()}
    collect = cli_module.collect_or_load_stats

    def collect_and_focus(*args, **kwargs):
        collect(*args, **kwargs)
        tests, durations = state().tests_by_mangled_function_name, state().duration_by_test
        for function, called in list(tests.items()):
            prefixes = [*focus.get(get_module_from_key(function), ()), *focus.get("all", ())]
            kept = {t for t in called if t.startswith(tuple(prefixes))}
            tests[function] = kept or set(sorted(called, key=lambda t: durations.get(t, 0.0))[:40])
        save_stats()

    cli_module.collect_or_load_stats = collect_and_focus


def main(argv: list[str]) -> int:
    prepare()
    if argv[:1] == ["score"]:
        return score()
    if argv[:1] == ["survivors"]:
        return survivors(argv[1:])
    if argv[:1] == ["sample"]:
        argv = ["run", *sample(int(argv[1]), int(argv[2]) if len(argv) > 2 else 1)]
    if argv[:1] == ["retry"]:
        forget_survivors()
        argv = ["run"]
    from mutmut.__main__ import cli

    focus_tests()
    sys.path.insert(0, str(HERE))  # mutation/speedups.py, the pytest plugin setup.cfg loads with -p
    return cli.main(args=argv or ["run"], prog_name="mutmut", standalone_mode=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
