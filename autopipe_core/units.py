"""Memory sizes as people write them, and as every reason autopipe gives prints them.

Binary units (KiB, MiB, GiB, TiB: powers of 1024) are what GPU memory is
counted in (``torch.cuda.mem_get_info``, ``nvidia-smi``'s MiB); decimal units
(KB, MB, GB, TB: powers of 1000) are what disk sizes and some spec sheets use.
Both are accepted, in any case, with decimals; a bare number is refused where
a unit is needed, because "8" could mean either.
"""

from __future__ import annotations

import re

from .errors import PlacementError

KiB, MiB, GiB, TiB = 1 << 10, 1 << 20, 1 << 30, 1 << 40

#: Every unit accepted, lower-cased, and its size in bytes.
UNITS = {
    "b": 1,
    "kib": KiB, "mib": MiB, "gib": GiB, "tib": TiB,
    "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
}

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*([A-Za-z]*)\s*$")

#: The most memory a budget may name: 1 EiB, far beyond any machine, well inside every integer type used.
MAX_BYTES = 1 << 60


def parse_memory(value: int | str, unit_required: bool = False) -> int:
    """Bytes from ``8GiB``, ``8 gib``, ``1.5GiB``, ``8GB`` (10**9), ``512MiB``, or an integer of bytes.

    A string without a unit is bytes, unless `unit_required` (the command
    line, where "8" is more likely a mistake than eight bytes). Raises
    :class:`~autopipe_core.errors.PlacementError` saying what is accepted.
    """
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise PlacementError(f"memory must be an integer of bytes or a string such as '8GiB', not {value!r}")
    if isinstance(value, int):
        if not 0 < value <= MAX_BYTES:
            raise PlacementError(f"memory must be a positive number of bytes, at most {MAX_BYTES}, not {value}")
        return value
    match = _SIZE.match(value)
    unit = match.group(2).lower() if match else ""
    if not match or unit not in UNITS and unit:
        raise PlacementError(
            f"memory {value[:40]!r} is not a size: write a number with a unit, e.g. 8GiB or 1.5GiB "
            "(KiB, MiB, GiB, TiB are powers of 1024, as GPU memory is counted; KB, MB, GB, TB are powers of 1000)"
        )
    if not unit and unit_required and float(match.group(1)) > 0:  # "0": no unit would make it fit, so it is said below
        raise PlacementError(f"memory {value!r} has no unit: write it with one, e.g. {value.strip()}GiB (GiB = 2**30 bytes, GB = 10**9)")
    nbytes = int(float(match.group(1)) * UNITS[unit or "b"])
    if not 0 < nbytes <= MAX_BYTES:
        raise PlacementError(f"memory {value!r} must be more than 0 bytes and at most 1 EiB")
    return nbytes


def gib(n: int) -> str:
    """Bytes as GiB with two decimals, the unit every reason speaks in."""
    return f"{n / GiB:.2f} GiB"


def human(n: int) -> str:
    """Bytes in the binary unit that reads best: GiB from 1 GiB, MiB from 1 MiB, KiB below."""
    for unit, size in (("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return f"{n} bytes"
