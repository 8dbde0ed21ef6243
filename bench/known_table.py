"""Write autopipe_core/known.json, the install hints, from the registrations of the plugins this repository ships.

    .venv/bin/python bench/known_table.py --write

Without --write it prints the table. tests/test_known.py fails when the file is not what this writes.
"""

import json
import sys
from pathlib import Path

from autopipe_core import known
from autopipe_core.registry import build

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    shipped = sorted(p.parent.name for p in (ROOT / "plugins").glob("*/pyproject.toml"))
    text = known.dump(known.collect(build(allowed=frozenset(shipped))))
    if "--write" in sys.argv:
        known.DATA.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
