"""The shared runner of the benchmark: contenders, cases, runs in alternating slot order, per-process peak memory, the table.

Standard library only (the parent process never imports torch or diffusers).

A contender is one command, run as a fresh process and timed from the outside
(``time.perf_counter()`` around the child's whole life). Its peak resident
memory comes from ``os.wait4`` (the child's own ``ru_maxrss``, not the
maximum over all children), unless the child reads its own VmHWM: ``ru_maxrss``
starts from the forking parent's pages, so only a child larger than this
benchmark is measured by it. A contender may also report figures it measured
itself: a last stdout line ``BENCH {json}`` whose numbers are recorded beside
the wall time (e.g. a ``from_pipe`` call timed inside the process).

The contenders of a case run in alternating slot order after the warm-up
rounds: A, B, C in one round, C, B, A in the next, so slow drift of the
machine hits every contender alike and no contender always runs first (a
process started right after another one's exit finds the page cache and the
CPU's frequency in the state that one left them). Each figure is reported with
its spread: (max - min) / median of the timed rounds, in %.

Every process of a round gets the same ``PYTHONHASHSEED``, drawn afresh for each
round: the order of sets and dicts, and so what is allocated when, follows the
seed, and a full-size load's peak memory moves by about 30 MiB with it, alike
for every contender. Sharing the seed makes each round a pair whose difference
cancels that; a fresh seed per round keeps a run from measuring one layout.
"""

from __future__ import annotations

import json
import os
import random
import shlex
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

BENCH_PREFIX = "BENCH "


@dataclass(frozen=True)
class Metric:
    key: str  # "time", "rss" or a key of the BENCH json
    label: str
    unit: str  # shown after the figure
    scale: float = 1.0  # figure = value * scale
    digits: int = 3
    lower_is_better: bool = True


TIME = Metric("time", "wall time", "s")
RSS = Metric("rss", "peak RSS", "MiB", digits=0)


@dataclass
class Contender:
    name: str
    argv: list[str]
    expect: str | None = None  # the last stdout line (before a BENCH line) it must print; None: exit 0 is enough
    env: dict[str, str] | None = None  # added to the case's environment
    shown: str | None = None  # the command as the page shows it (default: argv with the placeholders)
    ratio_to: str | None = None  # the contender its ratio divides by (default: the case's reference)
    samples: dict[str, list[float]] = field(default_factory=dict)

    def values(self, key: str) -> list[float]:
        return self.samples.get(key, [])

    def median(self, key: str = "time") -> float:
        return statistics.median(self.samples[key])

    def min(self, key: str = "time") -> float:
        return min(self.samples[key])

    def spread(self, key: str = "time") -> float:
        """(max - min) / median of the timed rounds, in %: the band a rerun's median is expected in."""
        return spread(self.samples[key])


@dataclass
class Case:
    number: str  # "1", "2a", ...
    key: str
    title: str
    contenders: list[Contender]
    reference: str  # the contender the ratio column divides by
    rounds: int
    metrics: list[Metric] = field(default_factory=lambda: [TIME])
    warmup: int = 1
    note: str = ""  # one line under the table: what the ratio means here
    order: list[list[str]] = field(default_factory=list)  # the contenders' names in the order each round ran them
    seeds: list[int] = field(default_factory=list)  # each timed round's PYTHONHASHSEED, in the order of the samples

    def by(self, name: str) -> Contender:
        return next(c for c in self.contenders if c.name == name)

    @property
    def ref(self) -> Contender:
        return self.by(self.reference)


class Shower:
    """Turns real paths in argv into the page's short names (python, autopipe, "$CKPT", ...)."""

    def __init__(self, names: dict[str, str]):
        self.names = dict(sorted(names.items(), key=lambda kv: -len(kv[0])))

    def __call__(self, argv: list[str]) -> str:
        words = []
        for a in argv:
            for real, short in self.names.items():
                if a == real:
                    words.append(short)
                    break
            else:
                words.append(shlex.quote(a))
        return " ".join(words)


#: Variables a contender's process never inherits. PYTHONDONTWRITEBYTECODE (set in some sandboxes and CI images)
#: makes every run compile every imported module from source, as no installed package runs: pip writes the
#: bytecode at install. Without it the warm-up round writes the caches, as a user's first run does.
NOT_INHERITED = ("PYTHONDONTWRITEBYTECODE",)


def run_once(c: Contender, env: dict[str, str], timeout: float) -> dict[str, float]:
    full_env = {k: v for k, v in {**env, **(c.env or {})}.items() if k not in NOT_INHERITED}
    start = time.perf_counter()
    proc = _Popen(c.argv, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    # Read both pipes to the end, then reap the child with wait4 for its own rusage.
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        proc.kill()
        raise SystemExit(f"benchmark: {c.name} ran past {timeout:.0f} s: {shlex.join(c.argv)}") from exc
    elapsed = time.perf_counter() - start
    maxrss = getattr(proc, "_bench_maxrss", None)
    lines = [line.strip() for line in out.splitlines() if line.strip()]
    metrics: dict[str, float] = {}
    if lines and lines[-1].startswith(BENCH_PREFIX):
        metrics = {k: float(v) for k, v in json.loads(lines.pop()[len(BENCH_PREFIX):]).items() if isinstance(v, (int, float))}
    printed = lines[-1] if lines else ""
    if proc.returncode != 0 or (c.expect is not None and printed != c.expect):
        raise SystemExit(
            f"benchmark: {c.name} failed (exit {proc.returncode}, printed {printed!r}, expected {c.expect!r})\n"
            f"  command: {shlex.join(c.argv)}\n--- stdout ---\n{out[-4000:]}\n--- stderr ---\n{err[-4000:]}"
        )
    result = {"time": elapsed, **metrics}
    # wait4's ru_maxrss starts from the forking parent's pages (Linux carries the high-water mark across exec), so a
    # process smaller than this benchmark reads as the benchmark's size: where the child reads its own VmHWM ("hwm"),
    # that is its peak, and the parent's figure is not recorded as the child's.
    if maxrss is not None and "hwm" not in metrics:
        result["rss"] = maxrss
    return result


class _Popen(subprocess.Popen):
    """Popen that reaps its child with os.wait4, keeping the child's own peak RSS (ru_maxrss, KiB on Linux)."""

    def _try_wait(self, wait_flags):  # type: ignore[override]
        try:
            pid, sts, ru = os.wait4(self.pid, wait_flags)
        except ChildProcessError:
            return self.pid, 0
        if pid == self.pid:
            self._bench_maxrss = ru.ru_maxrss / 1024.0  # MiB
        return pid, sts


def slot_order(contenders: list[Contender], r: int) -> list[Contender]:
    """Round r's order: as listed in even rounds, reversed in odd ones (A, B, C then C, B, A), so every contender
    runs in the first and the last slot equally often over an even number of rounds."""
    return list(contenders) if r % 2 == 0 else list(reversed(contenders))


def spread(values: list[float]) -> float:
    """(max - min) / median, in %; 0 for one value or a zero median."""
    if len(values) < 2:
        return 0.0
    mid = statistics.median(values)
    return 0.0 if mid == 0 else (max(values) - min(values)) / abs(mid) * 100.0


def round_seed() -> int:
    """A round's PYTHONHASHSEED: 1 to 2**32 - 1 (0 would switch the randomisation off), from the system's entropy."""
    return random.SystemRandom().randrange(1, 2**32)


def run_case(case: Case, env: dict[str, str], timeout: float, log=sys.stderr, part: tuple[int, int] = (0, 1)) -> None:
    """Run `case`'s warm-up rounds, then its share of the timed rounds for pass `part` = (i, n): the i-th of n
    equal shares, so that n passes over a benchmark's cases spread every case's rounds over the whole run."""
    i, n = part
    first, stop = case.rounds * i // n, case.rounds * (i + 1) // n
    # Warm-up rounds run in the forward order, timed round t in the order of round warmup + t, whichever pass it falls
    # in: the alternation runs on across passes as in one.
    schedule = [(w, "warm-up") for w in range(case.warmup)]
    schedule += [(case.warmup + t, f"round {t + 1}/{case.rounds}") for t in range(first, stop)]
    for r, label in schedule:
        timed = label != "warm-up"
        parts = []
        ran = slot_order(case.contenders, r)
        seed = round_seed()
        case.order.append([c.name for c in ran])
        if timed:
            case.seeds.append(seed)
        for c in ran:
            res = run_once(c, {**env, "PYTHONHASHSEED": str(seed)}, timeout)
            if timed:
                for k, v in res.items():
                    c.samples.setdefault(k, []).append(v)
            parts.append(f"{res['time']:.3f}")
        way = "" if r % 2 == 0 else " (reversed order)"
        print(f"  {case.number:<3} {case.key:<24} {label:<12} " + "  ".join(parts) + way, file=log, flush=True)


def run_cases(cases: list[Case], env: dict[str, str], timeout: float, log=sys.stderr, passes: int = 1) -> None:
    """Every case's rounds in `passes` passes over the cases (each pass warms up again): with two, each figure's
    rounds come from both ends of the run, so its spread takes in the machine's drift over a run's length, which
    rounds taken back to back cannot show."""
    for i in range(passes):
        for case in cases:
            head = f"case {case.number}, {case.title}: {', '.join(c.name for c in case.contenders)}"
            print(head + (f" (pass {i + 1} of {passes})" if passes > 1 else ""), file=log, flush=True)
            run_case(case, env, timeout, log, (i, passes))


# --------------------------------------------------------------------------- the table


def fmt(value: float, m: Metric) -> str:
    v = value * m.scale
    if m.digits == 0:
        return f"{v:,.0f} {m.unit}"
    return f"{v:.{m.digits}f} {m.unit}"


def ratio(a: float, b: float) -> str:
    if b == 0:
        return "n/a" if a else "1.00"
    r = a / b
    if r >= 100:
        return f"{r:,.0f}"
    if r >= 10:
        return f"{r:.1f}"
    return f"{r:.3f}" if r < 2 else f"{r:.2f}"


def table(cases: list[Case], show: Shower) -> str:
    rows = [
        "| # | case | contender | measure | median | spread | min | ratio to reference (medians) | command |",
        "|---|---|---|---|---:|---:|---:|---:|---|",
    ]
    for case in cases:
        for c in case.contenders:
            ref = case.by(c.ratio_to) if c.ratio_to else case.ref
            for m in case.metrics:
                if not c.values(m.key):
                    continue
                if c is case.ref:
                    r = "reference"
                else:
                    r = ratio(c.median(m.key), ref.median(m.key)) if ref.values(m.key) else ""
                    if c.ratio_to:
                        r += f" (to {c.ratio_to.split(',')[-1].strip()})" if r else ""
                cmd = c.shown if c.shown is not None else show(c.argv)
                rows.append(
                    f"| {case.number} | {case.key} | {c.name} | {m.label} | {fmt(c.median(m.key), m)} | {c.spread(m.key):.1f} % "
                    f"| {fmt(c.min(m.key), m)} | {r} | `{cmd}` |"
                )
    return "\n".join(rows)


def raw(cases: list[Case]) -> str:
    lines = []
    for case in cases:
        for c in case.contenders:
            for m in case.metrics:
                vals = c.values(m.key)
                if vals:
                    lines.append(f"{case.number:<3} {case.key:<22} {c.name[:48]:<48} {m.key:<10} " + " ".join(f"{v * m.scale:.4g}" for v in vals))
        if case.seeds:
            who = "every contender: the round's PYTHONHASHSEED"
            lines.append(f"{case.number:<3} {case.key:<22} {who:<48} {'seed':<10} " + " ".join(map(str, case.seeds)))
    return "\n".join(lines)


def paired(a: list[float], b: list[float]) -> list[float]:
    """a/b round by round: the two ran back to back in each round, so machine drift cancels."""
    return [x / y for x, y in zip(a, b)]


def paired_ratio(a: "Contender", b: "Contender", key: str = "time") -> float:
    """The median of a/b round by round: how every ratio target is judged (bench/run.py), and the ratio its sentences quote."""
    return statistics.median(paired(a.values(key), b.values(key)))


def differences(a: list[float], b: list[float]) -> list[float]:
    """a - b round by round: the two ran in the same round, with the same hash seed, so what the seed moves cancels."""
    return [x - y for x, y in zip(a, b)]


def loadavg() -> str:
    try:
        one, five, fifteen = os.getloadavg()
        return f"{one:.2f} {five:.2f} {fifteen:.2f}"
    except OSError:
        return "unknown"


def mem_available_gib() -> float:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / (1 << 20)
    except OSError:
        pass
    return 0.0


#: A target line: (target, met: True, False, None (not measured) or READING (a figure with no target), detail).
READING = "reading"
Check = tuple[str, "bool | None | str", str]
CaseBuilder = Callable[..., list[Case]]
