"""``autopipe serve``: the Ray Serve deployment of :mod:`autopipe_core.serving` on a single-node Ray, started here.

Every checkpoint is resolved (JSON only) and every option checked before Ray
starts: an unsupported checkpoint, a taken port or a missing ray is one
``autopipe: error:`` line. Ctrl-C stops Serve and Ray and exits 0. For a
cluster, the same deployment runs from a config file (docs/serving.md).
"""

from __future__ import annotations

import argparse
import signal
import socket
import sys
import time
from typing import TYPE_CHECKING

from . import UsageError

if TYPE_CHECKING:
    from ..serving.options import ServeOptions


def _note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def require_ray() -> None:
    """ray with Serve importable, or a UsageError that says how to install the extra."""
    from ..serving import INSTALL_HINT

    try:
        import ray  # noqa: F401
        from ray import serve  # noqa: F401
    except ImportError as exc:
        raise UsageError(f"autopipe serve needs Ray Serve, which is not installed ({exc}): {INSTALL_HINT}") from None


def check_port(host: str, port: int) -> None:
    """The port is free on `host`, or a UsageError, before Ray is started (its proxy would fail in a log no one reads)."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind((host, port))
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port} ({exc.strerror or exc}): pass another --port, or --host") from None


def options(args: argparse.Namespace) -> "ServeOptions":
    """The deployment's options from the command line, checked; a UsageError names the first wrong one."""
    from ..serving.options import ServeConfigError, ServeOptions, model_ids

    if args.steps > args.max_steps:
        raise UsageError(f"--steps {args.steps} is more than --max-steps {args.max_steps}: a request without \"steps\" would be refused")
    try:
        return ServeOptions(
            models=model_ids(args.model), replicas=args.replicas, models_per_replica=args.models_per_replica,
            device=args.device, gpu_memory=args.gpu_memory, max_size=args.max_size, max_steps=args.max_steps,
            default_steps=args.steps, cpus_per_replica=args.cpus_per_replica,
        )
    except ServeConfigError as exc:
        raise UsageError(str(exc)) from None


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def serve(args: argparse.Namespace) -> int:
    opts = options(args)
    require_ray()
    check_port(args.host, args.port)
    from ..serving.catalog import catalog

    models = catalog(opts.models)  # an unsupported checkpoint is refused here, before Ray starts
    for model in models:
        refused = f"; cannot {', '.join(t.value for t, _ in model.refused)}" if model.refused else ""
        _note(f"{model.id}: {model.source} ({model.family}, {model.plugin}): {', '.join(t.value for t in model.tasks)}{refused}")

    import logging

    import ray
    from ray import serve as ray_serve

    from ..serving.deployment import application, resources_for
    from ..serving.resources import unplaceable

    from ..tasks import Task

    level = logging.INFO if args.verbose else logging.WARNING
    _note("starting a local Ray instance and Ray Serve...")
    ray.init(address="local", include_dashboard=False, log_to_driver=args.verbose, logging_level=level)
    # SIGTERM (a service manager, a test) stops it as Ctrl-C does: Serve and Ray shut down, nothing is left running.
    # Set after ray.init, which installs a handler of its own that exits with status 15.
    signal.signal(signal.SIGTERM, _interrupt)
    logging.getLogger("ray.serve").setLevel(level)
    try:
        ray_serve.start(http_options={"host": args.host, "port": args.port}, logging_config={"log_level": logging.getLevelName(level)})
        resources = resources_for(opts, models)
        problem = unplaceable(resources, opts.replicas, ray.cluster_resources())
        if problem:  # Ray would keep them pending, and the deployment would wait for them without end
            raise UsageError(f"the replicas do not fit this machine: {problem}. (A replica's request: {resources.reason}.)")
        app = application(opts, models, resources)
        ray_serve.run(app, name="autopipe", route_prefix="/", blocking=False)
        url = f"http://{args.host if ':' not in args.host else f'[{args.host}]'}:{args.port}"
        _note(f"serving {len(models)} checkpoint(s) on {opts.replicas} replica(s) at {url} (docs/serving.md has the protocol)")
        _note(f"  GET  {url}/models")
        _note(f"  POST {url}/text2img, /img2img, /inpaint with a JSON body; the model id in the serve_multiplexed_model_id header")
        drawer = next((m for m in models if m.pipeline_class(Task.TEXT2IMG)), None)
        if drawer is not None:
            _note(f"  e.g. curl -s {url}/text2img -H 'serve_multiplexed_model_id: {drawer.id}' -d '{{\"prompt\": \"a lighthouse\"}}' -o out.png")
        _note("Ctrl-C stops it.")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            _note("stopping Ray Serve and Ray...")
    finally:
        try:
            ray_serve.shutdown()
        finally:
            ray.shutdown()
    return 0
