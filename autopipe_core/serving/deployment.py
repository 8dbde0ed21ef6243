"""The Ray Serve deployment: text2img, img2img and inpainting over HTTP, for one or more checkpoints per replica.

The only module of autopipe that imports ray. Each replica:

- holds up to ``models_per_replica`` checkpoints through Ray Serve's model
  multiplexing (``serve.multiplexed``): the model id comes with each request
  (the ``serve_multiplexed_model_id`` header, which Ray Serve also routes by,
  or the body's ``"model"``), a checkpoint not held is loaded on first use,
  and beyond the limit the least recently used one is unloaded;
- loads a checkpoint with ``placement="auto"`` and serves its other tasks
  through ``from_pipe`` on the same weights (:mod:`.replica`);
- checks every request before loading anything (:mod:`.protocol`) and
  refuses a task its checkpoint cannot do with the resolver's reason (422);
- runs one generation at a time, in a worker thread, so that the event loop
  keeps answering Ray's health checks, and a failing request is a 500 with
  its reason, never a dead replica.

Its resource request comes from :mod:`.resources`. :func:`application` builds
the application for ``serve.run`` (``autopipe serve``); :func:`build` is the
builder a ``serve run config.yaml`` names (``autopipe_core.serving:app``).
"""

from __future__ import annotations

import asyncio
import collections
import gc
import json
import logging
import time
from typing import Any, Sequence

from ray import serve
from starlette.requests import Request
from starlette.responses import Response

from ..specs import import_class
from ..tasks import Task
from .catalog import ModelEntry, catalog
from .options import ServeOptions
from .protocol import MODEL_HEADER, Limits, RequestError, error_json, parse_json, parse_request, png, task_of
from .replica import LoadedModel, check_strength, generate, load_model
from .resources import ReplicaResources, replica_resources

#: The deployment's name in Ray Serve (its replicas, logs and config-file ``deployments:`` entry).
DEPLOYMENT_NAME = "autopipe"

logger = logging.getLogger("ray.serve")


def _json(status: int, payload: Any) -> Response:
    return Response(json.dumps(payload).encode(), status_code=status, media_type="application/json")


def _error(status: int, message: str, kind: str) -> Response:
    return Response(error_json(status, message, kind), status_code=status, media_type="application/json")


def _out_of_memory(exc: BaseException) -> bool:
    return type(exc).__name__ == "OutOfMemoryError" or "out of memory" in str(exc).lower()


def _free_device_memory() -> None:
    """What an unloaded checkpoint held goes back: Python's references first, then torch's cached GPU blocks."""
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception:  # noqa: BLE001 - freeing is best effort; the next load plans against what is free
        pass


@serve.deployment(name=DEPLOYMENT_NAME)
class AutopipeServer:
    """One replica: the checkpoints it may serve, the ones it holds, and the HTTP handler."""

    def __init__(self, models: Sequence[ModelEntry], resources: ReplicaResources, limits: Limits, models_per_replica: int) -> None:
        self.models = {m.id: m for m in models}
        self.resources = resources
        self.limits = limits
        self.loads: collections.Counter[str] = collections.Counter()
        self.classes: dict[tuple[str, Task], type] = {}
        # One generation at a time: a pipeline's scheduler is state shared by every task derived from it, and a
        # device runs one call well. Loads take it too, so that an unloaded checkpoint's last call ends before
        # the next checkpoint's weights arrive.
        self.busy = asyncio.Lock()
        try:
            self.replica = serve.get_replica_context().replica_id.unique_id
        except Exception:  # noqa: BLE001 - outside a replica (a unit test calling the class directly)
            self.replica = "local"

        async def load(model_id: str) -> LoadedModel:
            return await self._load(model_id)

        # A plain function, not a bound method: serve.multiplexed keeps its LRU cache as an attribute of what it wraps.
        self.load = serve.multiplexed(max_num_models_per_replica=models_per_replica)(load)

    async def _load(self, model_id: str) -> LoadedModel:
        model = self.models[model_id]
        async with self.busy:
            _free_device_memory()
            loaded = await asyncio.to_thread(load_model, model, self.resources.budget(model_id))
        self.loads[model_id] += 1
        logger.info("autopipe: loaded %s (%s, %s, %s) in %.2f s, load %d on this replica", model_id, model.source,
                    loaded.dtype, loaded.placement, loaded.seconds, self.loads[model_id])
        return loaded

    def _pipeline_class(self, model: ModelEntry, task: Task) -> type:
        key = (model.id, task)
        if key not in self.classes:
            self.classes[key] = import_class(model.class_ref(task) or "")
        return self.classes[key]

    def _route(self, request: Request) -> str:
        path = request.url.path
        root = request.scope.get("root_path") or ""
        if root and path.startswith(root):
            path = path[len(root):]
        return path or "/"

    def _model_id(self, body_model: str | None) -> str:
        """The model id of a request: the header Ray Serve routed by, else the body's, else the only one served."""
        header = serve.get_multiplexed_model_id()
        if header and body_model and header != body_model:
            raise RequestError(400, f"the {MODEL_HEADER} header names {header!r} and \"model\" {body_model!r}: name one model")
        model_id = header or body_model
        if not model_id:
            if len(self.models) == 1:
                return next(iter(self.models))
            raise RequestError(400, f"name the model: the {MODEL_HEADER} header (which Ray Serve routes by) or \"model\"; served: {', '.join(self.models)}")
        if model_id not in self.models:
            raise RequestError(404, f"no model {model_id!r} is served here; served: {', '.join(self.models)} (GET /models lists them)", "UnknownModel")
        return model_id

    def describe(self) -> dict[str, Any]:
        return {"models": [m.to_json() for m in self.models.values()], "limits": self.limits.to_json(),
                "resources": self.resources.to_json(), "replica": self.replica}

    async def __call__(self, request: Request) -> Response:
        try:
            return await self._handle(request)
        except RequestError as exc:
            return _error(exc.status, str(exc), exc.kind)
        except Exception as exc:  # noqa: BLE001 - one request failed; the replica stays up for the next
            logger.exception("autopipe: request failed")
            if _out_of_memory(exc):
                _free_device_memory()
                return _error(503, f"out of memory running this request ({exc}); retry, or ask for a smaller size", "OutOfMemory")
            return _error(500, f"{type(exc).__name__}: {exc}", "InternalError")

    async def _handle(self, request: Request) -> Response:
        path = self._route(request)
        if request.method == "GET":
            if path in ("/", "/models"):
                return _json(200, self.describe())
            raise RequestError(404, f"no route GET {path}: GET /models, or POST /text2img, /img2img, /inpaint", "NotFound")
        if request.method != "POST":
            raise RequestError(405, f"{request.method} is not served: POST /text2img, /img2img or /inpaint, GET /models", "MethodNotAllowed")
        task = task_of(path)
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.limits.max_body_bytes:
            raise RequestError(413, f"the body is {int(declared):,} bytes; this deployment reads at most {self.limits.max_body_bytes:,}", "TooLarge")
        data = parse_json(await request.body(), self.limits)
        call = parse_request(task, data, self.limits)
        model_id = self._model_id(call.model)
        model = self.models[model_id]
        refusal = model.refusal(task)
        if refusal is not None:
            raise RequestError(422, refusal, "UnsupportedTask")
        check_strength(call, self._pipeline_class(model, task))
        try:
            loaded = await self.load(model_id)
        except Exception as exc:  # noqa: BLE001 - said as the request's answer; the next request tries the load again
            if _out_of_memory(exc):
                raise
            raise RequestError(500, f"{model_id} could not be loaded ({type(exc).__name__}: {exc})", "LoadFailed") from None
        async with self.busy:
            start = time.perf_counter()
            image = await asyncio.to_thread(generate, loaded, call)
            seconds = time.perf_counter() - start
        headers = {
            "X-Autopipe-Model": model_id,
            "X-Autopipe-Pipeline": type(loaded.pipelines[task]).__name__,
            "X-Autopipe-Replica": self.replica,
            "X-Autopipe-Loads": str(self.loads[model_id]),
            "X-Autopipe-Seconds": f"{seconds:.4f}",
        }
        return Response(png(image), media_type="image/png", headers=headers)


def cluster_device(device: str) -> str:
    """``device`` with "auto" made concrete: "cuda" when the connected Ray cluster has GPUs, else "cpu"."""
    if device != "auto":
        return device
    import ray

    return "cuda" if ray.is_initialized() and ray.cluster_resources().get("GPU", 0) > 0 else "cpu"


def resources_for(options: ServeOptions, models: Sequence[ModelEntry]) -> ReplicaResources:
    """The replica's resource request for `options` on the connected cluster (Ray initialized where device is "auto")."""
    return replica_resources(models, cluster_device(options.device), options.models_per_replica, options.max_size,
                             options.cpus_per_replica, options.gpu_memory)


def application(options: ServeOptions, models: Sequence[ModelEntry] | None = None, resources: ReplicaResources | None = None) -> Any:
    """The Ray Serve application for `options`: checkpoints resolved (refused here if unsupported), resources planned.

    `models` are the options' checkpoints already resolved and `resources`
    the request already planned (``autopipe serve`` does both before it
    deploys); Ray must be initialized when the device is "auto" so that the
    cluster's GPUs can be counted.
    """
    models = tuple(models) if models is not None else catalog(options.models)
    resources = resources or resources_for(options, models)
    limits = Limits(options.max_size, options.max_steps, options.default_steps, options.max_body_bytes)
    logger.info("autopipe: replica request %s: %s", resources.actor_options(), resources.reason)
    return AutopipeServer.options(
        num_replicas=options.replicas,
        ray_actor_options=resources.actor_options(),
        max_ongoing_requests=options.max_ongoing_requests,
    ).bind(models, resources, limits, options.models_per_replica)


def build(args: dict[str, Any]) -> Any:
    """The application a config file's ``args:`` describe (see :meth:`ServeOptions.from_args`)."""
    return application(ServeOptions.from_args(args))
