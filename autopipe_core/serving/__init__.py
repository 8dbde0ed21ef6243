"""Serving beyond one machine: autopipe as the loader inside a Ray Serve deployment.

autopipe grows no scheduler of its own. Ray Serve places replicas across
machines, routes HTTP requests, scales and multiplexes models; each replica
uses autopipe to decide its placement from headers before loading, to hold
one set of weights and serve text2img, img2img and inpainting from it through
``from_pipe``, and to refuse a checkpoint or a task it cannot serve before a
byte of weight is read.

Only :mod:`.deployment` imports ray (installed by the ``autopipe-core[serve]``
extra); the other modules are plain Python and can be used and tested without
it:

- :mod:`.options`: what a deployment is told (the checkpoints and their model
  ids, replicas, limits), from the command line or a Ray Serve config file;
- :mod:`.catalog`: each checkpoint resolved from its JSON, the tasks it serves
  and the reasons for those it does not;
- :mod:`.resources`: the replica's resource request (CPUs, GPUs, memory) from
  the planner's figures for the checkpoints it will hold;
- :mod:`.protocol`: HTTP requests checked and decoded before anything loads,
  the PNG and the JSON errors that answer them;
- :mod:`.replica`: loading a checkpoint and running one request on it;
- :mod:`.deployment`: the Ray Serve deployment and the application builder
  (``autopipe_core.serving:app`` in a ``serve run`` config file).

See docs/serving.md.
"""

from __future__ import annotations

from typing import Any

#: What ``pip`` installs ray with for autopipe, said wherever ray is missing.
INSTALL_HINT = "pip install 'autopipe-core[serve]' (from a clone of the repository: pip install '.[serve]')"


def app(args: dict[str, Any]) -> Any:
    """Ray Serve's application builder, for ``import_path: autopipe_core.serving:app`` in a config file.

    `args` is the config's ``args:`` mapping (see :meth:`.options.ServeOptions.from_args`).
    ray is imported here, not when the package is.
    """
    from .deployment import build

    return build(args)
