#!/usr/bin/env python
"""Serving throughput and latency: the Ray Serve deployment at 1, 2 and 4 replicas against one process calling the
pipelines directly, on the tiny SD checkpoint, on the CPU. Not run by `make test` or `make bench`.

    .venv/bin/python bench/serving.py                                  # print the table
    .venv/bin/python bench/serving.py --write docs/performance.md      # and (re)write its section of the page

The same requests for every contender: text2img, img2img and inpaint in turn, each with its own seed, `--steps`
steps at `--size` pixels, sent by `--concurrency` client threads at once. The contenders:

- one process calling the pipelines directly: each request's JSON decoded and checked, the pipeline called under
  a lock (one call at a time, as a replica runs them), the PNG encoded; with one torch thread (what each replica
  has) and with one per core;
- Ray Serve on a local Ray, `autopipe_core.serving` with one checkpoint, deployed three times side by side
  (1, 2 and 4 replicas, under their own route prefixes), each replica one torch thread.

All of them are up before the clock starts (every replica has loaded the checkpoint and answered), and they run
round-robin, `--rounds` batches each, so that a machine shared with other work slows them alike. Latency is
each request's time from send to the last byte of its answer, queueing included; requests per second is the
median of the rounds' (a batch's requests over its wall time), with the rounds' range beside it.

On a machine of a few cores this measures the shape of scaling (where replicas stop helping, what Ray's
routing and HTTP add per request), not a GPU deployment's figures: the tiny checkpoint's calls take a few tens
of milliseconds, so the per-request overhead is as visible as it will ever be.
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import datetime as _dt
import importlib.metadata as _md
import io
import json
import logging
import os
import platform
import re
import socket
import statistics
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

os.environ.setdefault("OMP_NUM_THREADS", "1")

START, END = "<!-- serving:start -->", "<!-- serving:end -->"
HEADING = "## Serving with Ray Serve"

Send = Callable[[str, dict], tuple[str, float]]  # (the replica that answered, or ""; the pipeline call's seconds)


@dataclass
class Contender:
    """A way of serving the requests, and what its rounds measured."""

    name: str
    send: Send
    before: Callable[[], None] = lambda: None
    rounds: list[float] = field(default_factory=list)  # requests per second, round by round
    latencies: list[float] = field(default_factory=list)
    calls: list[float] = field(default_factory=list)  # the pipeline call alone, as the replica (or this process) timed it
    replicas: set[str] = field(default_factory=set)

    @property
    def rps(self) -> float:
        return statistics.median(self.rounds)

    def percentile(self, p: int) -> float:
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[p - 1]


def workload(count: int, steps: int, size: int) -> list[tuple[str, dict]]:
    """(task, JSON body) for each request: the three tasks in turn, each request its own seed."""
    from PIL import Image

    def b64(image: Image.Image) -> str:
        out = io.BytesIO()
        image.save(out, format="PNG")
        return base64.b64encode(out.getvalue()).decode()

    start = Image.effect_noise((size, size), 64).convert("RGB")
    mask = Image.new("L", (size, size), 0)
    mask.paste(255, (size // 4, size // 4, 3 * size // 4, 3 * size // 4))
    image, masked = b64(start), b64(mask)
    bodies = {
        "text2img": {"size": size},
        "img2img": {"image": image, "strength": 0.75},
        "inpaint": {"image": image, "mask": masked},
    }
    tasks = list(bodies)
    return [(tasks[i % 3], {"prompt": "a lighthouse at dawn", "steps": steps, "seed": i, **bodies[tasks[i % 3]]}) for i in range(count)]


def post(url: str, body: dict) -> dict:
    """POST one request; the answer's headers (lower-case names). Anything but a PNG stops the benchmark."""
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json", "serve_multiplexed_model_id": "sd"})
    with urllib.request.urlopen(request, timeout=600) as answer:
        data = answer.read()
        if answer.status != 200 or data[:4] != b"\x89PNG":
            raise SystemExit(f"{url}: {answer.status} {data[:200]!r}")
        return {k.lower(): v for k, v in answer.headers.items()}


def batch(contender: Contender, jobs: list[tuple[str, dict]], concurrency: int) -> None:
    """Send `jobs` through the contender from `concurrency` threads: one round's requests per second, each latency."""
    lock = threading.Lock()

    def one(job: tuple[str, dict]) -> None:
        start = time.perf_counter()
        replica, call = contender.send(*job)
        elapsed = time.perf_counter() - start
        with lock:
            contender.latencies.append(elapsed)
            contender.calls.append(call)
            if replica:
                contender.replicas.add(replica)

    contender.before()
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, jobs))
    contender.rounds.append(len(jobs) / (time.perf_counter() - start))


def direct_contenders(checkpoint: str, jobs: list[tuple[str, dict]], size: int) -> list[Contender]:
    """The direct process, at one torch thread and at one per core."""
    import torch

    from autopipe_core.serving.catalog import catalog
    from autopipe_core.serving.protocol import Limits, parse_json, parse_request, png
    from autopipe_core.serving.replica import generate, load_model
    from autopipe_core.tasks import Task

    (model,) = catalog([("sd", checkpoint)])
    loaded = load_model(model)
    limits = Limits(max_size=size, max_steps=50)
    busy = threading.Lock()

    def send(task: str, body: dict) -> tuple[str, float]:
        call = parse_request(Task.parse(task), parse_json(json.dumps(body).encode(), limits), limits)
        with busy:
            start = time.perf_counter()
            image = generate(loaded, call)
            seconds = time.perf_counter() - start
        png(image)
        return "", seconds

    cores = os.cpu_count() or 1
    contenders = []
    for threads in sorted({1, cores}):
        torch.set_num_threads(threads)
        for job in jobs[:6]:  # warm-up: each pipeline's first calls
            send(*job)
        contenders.append(Contender(f"one process, direct calls, {threads} torch thread{'s' if threads > 1 else ''}", send,
                                    before=lambda n=threads: torch.set_num_threads(n)))
    return contenders


def start_serve(checkpoint: str, jobs: list[tuple[str, dict]], replica_counts: list[int], size: int) -> list[Contender]:
    """A local Ray with one application per replica count, every replica warmed up; the contenders that send to them."""
    import ray
    from ray import serve

    from autopipe_core.serving.deployment import application
    from autopipe_core.serving.options import ServeOptions

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {"OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", **({"AUTOPIPE_PLUGINS": os.environ["AUTOPIPE_PLUGINS"]} if "AUTOPIPE_PLUGINS" in os.environ else {})}
    replicas_in_all = sum(replica_counts)
    ray.init(address="local", num_cpus=os.cpu_count() or 2, include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": env})
    logging.getLogger("ray.serve").setLevel(logging.WARNING)
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    # Ray's CPUs are logical: the replicas of all three applications must fit them; each uses one torch thread whatever it asks.
    cpus = min(1.0, (os.cpu_count() or 2) / replicas_in_all)
    contenders = []
    for replicas in replica_counts:
        options = ServeOptions(models=(("sd", checkpoint),), replicas=replicas, device="cpu", max_size=size, max_steps=50,
                               cpus_per_replica=cpus, max_ongoing_requests=4)
        serve.run(application(options), name=f"r{replicas}", route_prefix=f"/r{replicas}")
        url = f"http://127.0.0.1:{port}/r{replicas}"

        def send(task: str, body: dict, url: str = url) -> tuple[str, float]:
            headers = post(f"{url}/{task}", body)
            return headers.get("x-autopipe-replica", ""), float(headers.get("x-autopipe-seconds", "nan"))

        seen: set[str] = set()
        tries = 0
        while len(seen) < replicas:  # every replica loads the checkpoint and answers before the clock starts
            with concurrent.futures.ThreadPoolExecutor(2 * replicas) as pool:
                seen |= {replica for replica, _ in pool.map(lambda job: send(*job), jobs[: 4 * replicas])}
            tries += 1
            if tries > 25:
                raise SystemExit(f"only {len(seen)} of {replicas} replicas answered during warm-up")
        contenders.append(Contender(f"Ray Serve, {replicas} replica{'s' if replicas > 1 else ''}", send))
    return contenders


def stop_serve() -> None:
    import ray
    from ray import serve

    serve.shutdown()
    ray.shutdown()


def machine() -> str:
    def version(name: str) -> str:
        try:
            return _md.version(name)
        except _md.PackageNotFoundError:
            return "not installed"

    cpu = platform.processor()
    if os.path.exists("/proc/cpuinfo"):
        cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), cpu)
    return (f"{cpu}, {os.cpu_count()} cores; Python {platform.python_version()}, torch {version('torch')}, diffusers {version('diffusers')}, "
            f"ray {version('ray')}, autopipe-core {version('autopipe-core')}, autopipe-sd {version('autopipe-sd')}")


def loadavg() -> str:
    return " ".join(open("/proc/loadavg").read().split()[:3]) if os.path.exists("/proc/loadavg") else "?"


def section(contenders: list[Contender], args: argparse.Namespace, command: str, started: str, wall: float,
            load: tuple[str, str], cpus: float) -> str:
    base = contenders[0]
    counts = [int(n) for n in args.replicas.split(",")]
    per_round = args.requests // args.rounds
    lines = [
        START, HEADING, "",
        f"Written by `{command}` on {started} ({wall:.0f} s in all). Run it again to refresh this section;",
        "`make bench` writes the rest of the page and keeps this section as it is (it does not run this script).",
        "",
        f"The same {per_round * args.rounds} requests for each contender (text2img, img2img and inpaint in turn, each its own seed, "
        f"{args.steps} steps at {args.size}x{args.size}",
        f"on the tiny SD checkpoint, random weights), sent by {args.concurrency} client threads at once, in {args.rounds} rounds of {per_round}. The contenders:",
        "one process that decodes and checks each request, calls the pipelines directly one call at a time and encodes the",
        f"PNG; and `autopipe_core.serving` on a local Ray Serve, deployed at {' and '.join([', '.join(map(str, counts[:-1])), str(counts[-1])] if len(counts) > 1 else [str(counts[0])])} replicas side by side (each",
        f"replica one torch thread, {cpus:.2f} of Ray's logical CPUs). Every replica had loaded the checkpoint and answered before the clock",
        "started, and the contenders ran round-robin, so a machine shared with other work slows them alike. Latency is from",
        "send to the last byte of the answer, queueing included; requests per second is the median of the rounds'; the call",
        "is the pipeline call alone, as the replica (the `X-Autopipe-Seconds` header) or the direct process timed it.",
        "",
        "| contender | requests/s | rounds (requests/s) | p50 latency | p99 latency | p50 call | requests/s, to the direct process at 1 thread |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for c in contenders:
        lines.append(f"| {c.name} | {c.rps:.1f} | {', '.join(f'{r:.1f}' for r in c.rounds)} | {c.percentile(50) * 1000:.0f} ms | "
                     f"{c.percentile(99) * 1000:.0f} ms | {statistics.median(c.calls) * 1000:.0f} ms | {c.rps / base.rps:.2f} |")
    lines += [
        "",
        f"Reading it: this machine has {os.cpu_count()} cores, shared with other work while this ran (the load averages below), so the "
        "figures show the shape of scaling on it, not what a GPU cluster does.",
    ]
    busiest = max((float(x.split()[0]) for x in load if x.split() and x.split()[0].replace(".", "", 1).isdigit()), default=0.0)
    if busiest > (os.cpu_count() or 1):
        lines.append(f"The one-minute load average reached {busiest:.1f} on {os.cpu_count()} cores: other work held the cores for much of "
                     "the run, and every figure here is lower and noisier for it.")
    served = {int(c.name.split(", ")[1].split()[0]): c for c in contenders if c.name.startswith("Ray")}
    cores = os.cpu_count() or 1
    if served:
        counts = sorted(served)
        steps = [f"{b} replicas gave {served[b].rps / served[a].rps:.2f}x the requests per second of {a}" for a, b in zip(counts, counts[1:])]
        best = max(served, key=lambda n: served[n].rps)
        text = (f"Through Ray Serve, {', and '.join(steps)}; " if steps else "Through Ray Serve, ") + (
            f"the most was {served[best].rps:.1f}/s with {best} replica{'s' if best > 1 else ''}, "
            f"{served[best].rps / base.rps:.2f}x the direct process at one thread.")
        if 1 in served and served[1].rps >= base.rps:
            text += (f" One replica and the direct process at one thread came out level or the replica ahead ({served[1].rps / base.rps:.2f}x): "
                     "on a machine this busy the cost of going through Ray (HTTP, the proxy, the router, a hop between processes) "
                     "did not show above the noise.")
        elif 1 in served:
            one, here = statistics.median(served[1].calls), statistics.median(base.calls)
            text += (f" One replica against the direct process at one thread ({served[1].rps / base.rps:.2f}x) is what going through "
                     f"Ray costs here: the call itself took {one * 1000:.0f} ms in the replica against {here * 1000:.0f} ms in the direct "
                     "process (the replica shares the cores with Ray's own processes: the proxy, the controller, the other "
                     "replicas' health checks), and each request also pays for HTTP, the proxy, the router and a hop between "
                     "processes. The tiny checkpoint's short calls make that cost as visible as it will ever be; with a real "
                     "checkpoint on a GPU a call takes seconds and it is a small share of one.")
        beyond = [n for n in counts if n > cores]
        within = [n for n in counts if n <= cores]
        calls = ", ".join(f"{statistics.median(served[n].calls) * 1000:.0f} ms at {n}" for n in counts)
        if beyond and within:
            w = max(within, key=lambda n: served[n].rps)
            b = max(beyond, key=lambda n: served[n].rps)
            rw, rb = served[w].rounds, served[b].rounds
            if min(rb) < max(rw) and min(rw) < max(rb):
                text += (f" {b} replicas and {w} were within the rounds' spread of each other: past {cores} (the cores) more replicas "
                         f"added no throughput this machine could tell apart, and each call took longer as they shared the cores "
                         f"(the call's median: {calls}).")
            elif served[w].rps > served[b].rps:
                text += (f" Each replica is a process running one call at a time on one torch thread: up to {cores} (the cores) they "
                         f"add throughput, and more than {cores} share the cores and add queueing instead (the call's median: {calls}).")
            else:
                text += (f" {b} replicas, more than the cores, came out ahead of {w} beyond the rounds' spread, while each call took "
                         f"longer ({calls}): the cores were the limit, and the likeliest reading is that with other work on the machine "
                         "the scheduler shares the cores among runnable threads, so more replicas took a larger share of them.")
        lines.append(text)
    threads = [c for c in contenders if c.name.startswith("one process")]
    if len(threads) > 1 and threads[1].rps < threads[0].rps:
        lines.append("")
        lines.append(f"The direct process was slower at {cores} torch threads than at one: the tiny checkpoint's operations are too "
                     "small to split, and while other work holds a core, each of torch's parallel regions waits for it.")
    lines += ["", f"Machine: {machine()}; load average {load[0]} at the start, {load[1]} at the end.", END]
    return "\n".join(lines) + "\n"


def write(page: Path, text: str) -> None:
    """Replace this benchmark's section of `page` (between its markers), or add it at the end; the rest is untouched."""
    old = page.read_text(encoding="utf-8") if page.exists() else ""
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END) + "\n?", re.S)
    new = pattern.sub(lambda _: text, old, count=1) if pattern.search(old) else old.rstrip("\n") + "\n\n" + text
    page.write_text(new, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=240, help="requests per contender, all rounds together (default: 240)")
    p.add_argument("--rounds", type=int, default=4, help="round-robin rounds (default: 4)")
    p.add_argument("--concurrency", type=int, default=8, help="client threads sending at once (default: 8)")
    p.add_argument("--replicas", default="1,2,4", help="replica counts, one application each (default: 1,2,4)")
    p.add_argument("--steps", type=int, default=4, help="denoising steps per request (default: 4)")
    p.add_argument("--size", type=int, default=64, help="image side in pixels (default: 64)")
    p.add_argument("--write", type=Path, metavar="PAGE", help="write the section into PAGE (e.g. docs/performance.md)")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the raw figures as JSON")
    args = p.parse_args(argv)
    argv = sys.argv[1:] if argv is None else argv
    if args.requests < args.rounds or args.rounds < 1:
        p.error("--requests must be at least --rounds, and --rounds at least 1")

    from autopipe_core.tiny import tiny_checkpoint

    started = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load_start = loadavg()
    begin = time.perf_counter()
    checkpoint = str(tiny_checkpoint("stable-diffusion")[0])
    jobs = workload(args.requests, args.steps, args.size)
    per_round = args.requests // args.rounds
    counts = [int(n) for n in args.replicas.split(",")]
    contenders = direct_contenders(checkpoint, jobs, args.size)
    cpus = min(1.0, (os.cpu_count() or 2) / sum(counts))
    try:
        contenders += start_serve(checkpoint, jobs, counts, args.size)
        for r in range(args.rounds):
            order = contenders[r % len(contenders):] + contenders[: r % len(contenders)]
            for contender in order:
                batch(contender, jobs[r * per_round:(r + 1) * per_round], args.concurrency)
            print(f"round {r + 1}: " + ", ".join(f"{c.name} {c.rounds[-1]:.1f}/s" for c in contenders), file=sys.stderr, flush=True)
    finally:
        stop_serve()
    for c in (c for c in contenders if c.name.startswith("Ray")):
        if len(c.replicas) < int(c.name.split(", ")[1].split()[0]):
            print(f"note: {c.name}: {len(c.replicas)} replicas answered timed requests", file=sys.stderr)
    wall = time.perf_counter() - begin
    command = ".venv/bin/python bench/serving.py" + "".join(f" {a}" for a in argv)
    text = section(contenders, args, command, started, wall, (load_start, loadavg()), cpus)
    print(text)
    if args.write:
        args.write.parent.mkdir(parents=True, exist_ok=True)
        write(args.write, text)
        print(f"wrote {args.write}", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps({c.name: {"rounds_rps": c.rounds, "latencies_s": c.latencies, "calls_s": c.calls, "replicas": sorted(c.replicas)}
                                         for c in contenders}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
