"""A pytest plugin for make mutate only (mutation/setup.cfg loads it with ``-p speedups``): tiny checkpoints built once.

mutmut runs each mutant's tests in a new pytest session forked from its own process, and the ``tiny_checkpoint``
fixture builds its checkpoints once per session: each mutant would build them again (seconds each), and the toy plugins some tests
pip-install (tests/layouts.py) would be installed again. Here the builder the fixture calls is memoised in a folder of mutation/work/ that outlives the sessions, so the
checkpoints built while mutmut runs the tests unmutated are reused by every mutant, and so is each set of toy
plugins installed. Both are setup, not the code under test (autopipe_core.tiny is not mutated).
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

STORE = Path(__file__).resolve().parent / "work" / "tiny-checkpoints"


def pytest_configure(config) -> None:
    _memoise_tiny_checkpoints()
    _memoise_plugin_installs()
    _forget_the_registry()


def _forget_the_registry() -> None:
    """Each mutant's session starts with no registry built: its process is forked from mutmut's, which ran the tests
    unmutated and kept the registry they built, so a mutant of registry.build or get_registry would never run."""
    import sys

    registry = sys.modules.get("autopipe_core.registry")
    if registry is not None:
        registry._cache.clear()  # the module's own cache; no public way to empty it, as nothing else needs one


def _memoise_plugin_installs() -> None:
    """tests/layouts.install_plugins pip-installs toy plugins into a folder: done once per set of toys, then copied."""
    import layouts

    install = layouts.install_plugins
    if getattr(install, "memoised", False):
        return

    def memoised(root, target, plugins):
        key = hashlib.sha256(repr(sorted(plugins.items())).encode()).hexdigest()[:16]
        done = STORE.parent / "plugin-sites" / key
        marker = done.with_name(key + ".complete")
        if not marker.is_file():
            shutil.rmtree(done, ignore_errors=True)
            install(root, done, plugins)
            marker.write_text("")
        shutil.copytree(done, target, symlinks=True, dirs_exist_ok=True)
        return target

    memoised.memoised = True
    layouts.install_plugins = memoised


def _memoise_tiny_checkpoints() -> None:
    from autopipe_core.testing import fixtures

    build = fixtures.build_tiny
    if getattr(build, "memoised", False):
        return

    def memoised(family, folder, variant=None, registry=None):
        done = STORE / f"{family}-{variant or 'default'}" / Path(folder).name  # the name the fixture gives it
        marker = done.with_name(done.name + ".complete")
        if not marker.is_file():
            shutil.rmtree(done.parent, ignore_errors=True)
            built = build(family, Path(folder), variant, registry)
            shutil.copytree(built, done, symlinks=True)
            marker.write_text("")
        return done

    memoised.memoised = True
    fixtures.build_tiny = memoised
