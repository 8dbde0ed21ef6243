"""The built-in tiny checkpoints: each family's random-weight pipeline, built once into a cache folder.

Built by the family's own ``autopipe_build_tiny`` hook into a temporary
folder beside the target and renamed into place, so an interrupted build never
leaves a half-written checkpoint that a later run would trust.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from .errors import PluginError, UnsupportedModelError
from .registry import Registry, get_registry

ENV_CACHE = "AUTOPIPE_CACHE"


def cache_root() -> Path:
    root = os.environ.get(ENV_CACHE)
    if root:
        return Path(root).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "autopipe"


def build_tiny(family: str, path: Path, variant: str | None = None, registry: Registry | None = None) -> Path:
    """Ask the family's plugin to write its tiny checkpoint to `path` (which must not exist yet)."""
    registry = registry or get_registry()
    if family not in registry.families:
        known = ", ".join(sorted(registry.families)) or "none"
        raise UnsupportedModelError(f"no installed plugin registers the family {family!r} (installed: {known})")
    owner = registry.families[family][1]
    registry.call(owner, "autopipe_build_tiny", family=family, path=Path(path), variant=variant)
    if not (Path(path) / "model_index.json").is_file():
        raise PluginError(f"{owner} has no tiny checkpoint builder for {family!r} (its autopipe_build_tiny wrote no model_index.json)")
    return Path(path)


def tiny_checkpoint(family: str, variant: str | None = None, registry: Registry | None = None) -> tuple[Path, bool]:
    """The cached tiny checkpoint of `family`, building it on first use. Returns (path, built_now)."""
    registry = registry or get_registry()
    owner = registry.families[family][1] if family in registry.families else "?"
    version = next((p.version for p in registry.plugins if p.distribution == owner), "0")
    name = family + (f"-{variant}" if variant else "")
    target = cache_root() / "tiny" / f"{name}-{owner}-{version}"
    if (target / "model_index.json").is_file():
        return target, False
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
    try:
        build_tiny(family, staging / "checkpoint", variant, registry)
        try:
            os.replace(staging / "checkpoint", target)
        except OSError:
            if not (target / "model_index.json").is_file():  # not a concurrent build that won the race
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target, True
