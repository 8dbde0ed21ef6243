"""Toy plugins laid out on sys.path as pip lays out a wheel: the module beside a ``.dist-info`` folder with its entry point.

The same discovery finds them as any installed plugin (autopipe_core.plugins reads the ``.dist-info`` folders on
sys.path), without running pip: cheap enough for a test to make its own.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path


def install(site: Path, dist: str, source: str, version: str = "1.0", requires: tuple[str, ...] = ()) -> str:
    """Lay out the distribution `dist` whose plugin module (named after it) is `source`, requiring `requires` (PEP 508
    lines, as its METADATA's Requires-Dist); returns `dist`."""
    module = dist.replace("-", "_")
    sys.modules.pop(module, None)  # a toy of the same name from another test, imported already
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{module}-{version}.dist-info"
    info.mkdir()
    needs = "".join(f"Requires-Dist: {r}\n" for r in requires)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n{needs}\n")
    (info / "entry_points.txt").write_text(f"[autopipe.plugins]\n{module} = {module}\n")
    return dist
