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

from . import snapshot
from .errors import PluginError, UnsupportedModelError
from .registry import Registry, get_registry

ENV_CACHE = snapshot.ENV_CACHE


def cache_root() -> Path:
    """autopipe's cache folder (see :func:`autopipe_core.snapshot.cache_root`), which the tiny checkpoints share."""
    return Path(snapshot.cache_root())


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
    """The cached tiny checkpoint of `family`, building it on first use. Returns (path, built_now).

    Built in a staging folder with an unpredictable name, created exclusively
    beside the target (``mkdtemp``), then renamed into place: an interrupted
    build never leaves a half-written checkpoint that a later run would trust,
    and the next run removes the staging folders of builds whose process is
    gone. A link planted where the checkpoint or a staging folder belongs is
    removed, never followed.
    """
    registry = registry or get_registry()
    owner = registry.families[family][1] if family in registry.families else "?"
    version = next((p.version for p in registry.plugins if p.distribution == owner), "0")
    name = family + (f"-{variant}" if variant else "")
    target = cache_root() / "tiny" / f"{name}-{owner}-{version}"
    if target.is_symlink():
        target.unlink()  # not ours: a checkpoint is a folder this function renamed into place
    if (target / "model_index.json").is_file():
        return target, False
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    remove_stale_staging(target.parent)
    staging = Path(tempfile.mkdtemp(prefix=f".staging-{os.getpid()}-", dir=target.parent))
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


def remove_stale_staging(folder: Path) -> list[Path]:
    """Remove the staging folders in `folder` whose building process no longer runs (killed mid-build); returns them.

    A staging folder is named ``.staging-<pid>-<random>``; one whose pid is
    alive is another build in progress and is left alone. Links are unlinked,
    never followed (``shutil.rmtree`` does not follow links inside a folder).
    """
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if not entry.name.startswith(".staging-"):
            continue
        pid = entry.name.split("-")[1]
        if pid.isdigit() and _alive(int(pid)):
            continue
        path = Path(entry.path)
        if entry.is_symlink() or not entry.is_dir(follow_symlinks=False):
            path.unlink(missing_ok=True)
        else:
            shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    except OSError:
        return False
    return True
