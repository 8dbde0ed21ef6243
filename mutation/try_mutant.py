"""Run some tests against one or more mutants by hand, beside (not instead of) ``make mutate``.

    .venv/bin/python mutation/try_mutant.py NAME [NAME ...] -- TEST [TEST ...]

Each NAME is a mutant as ``mutation/run.py survivors`` prints it; each TEST a path or node id relative to the
repository (``tests/edges/test_planning_edges.py::test_x``). The test files named are copied first into the
mutated tree that ``make mutate`` built (``mutation/work/mutants/``), so a test written since that run is tried
as it is now; then, per mutant, pytest runs them there with the mutant switched on (mutmut's trampolines read
``MUTANT_UNDER_TEST``), and the script prints "killed" or "survived". A run with no mutant switched on comes
first: a test that fails unmutated kills nothing. mutmut's own verdicts (its ``.meta`` files) are left alone.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MUTANTS = HERE / "work" / "mutants"


def main(argv: list[str]) -> int:
    if "--" not in argv or not MUTANTS.is_dir():
        print(__doc__, file=sys.stderr)
        return 2
    names, tests = argv[: argv.index("--")], argv[argv.index("--") + 1:]
    for test in tests:
        source = ROOT / test.split("::")[0]
        (MUTANTS / source.relative_to(ROOT)).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, MUTANTS / source.relative_to(ROOT))
    command = [sys.executable, "-m", "pytest", "--rootdir=.", "-x", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", *tests]
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(MUTANTS), str(MUTANTS / "src")])}
    clean = subprocess.run(command, cwd=MUTANTS, env={**environment, "MUTANT_UNDER_TEST": ""}, capture_output=True, text=True)
    if clean.returncode != 0:
        print(clean.stdout[-3000:], clean.stderr[-2000:])
        print("the tests fail with no mutant switched on: fix them first")
        return 1
    survived = 0
    for name in names:
        run = subprocess.run(command, cwd=MUTANTS, env={**environment, "MUTANT_UNDER_TEST": name}, capture_output=True, text=True)
        verdict = "survived" if run.returncode == 0 else "killed"
        survived += verdict == "survived"
        print(f"{verdict:9} {name}")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
