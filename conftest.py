"""Fixtures for tests/ and every plugins/*/tests, run from the repository root (make test) as one pytest run.

The autopipe pytest plugin (autopipe_core.testing.pytest_plugin, installed with the core) isolates each test
as `autopipe_plugins` below says: only autopipe-sd loaded unless a test says otherwise, no hub, caches in
pytest's temp folder; it also provides the `tiny_checkpoint` fixture (tiny checkpoints built once per
session). A plugin's tests/conftest.py names that plugin instead, for its own folder: one run, so one ini
file, and each suite needs its own plugin.
"""

from __future__ import annotations

import os

# The tiny models run faster on one thread than on two contending ones, and the
# machine's other core is free for whatever else runs (subprocesses inherit it).
os.environ.setdefault("OMP_NUM_THREADS", "1")

from pathlib import Path

import pytest

autopipe_plugins = "autopipe-sd"


@pytest.fixture(scope="session")
def tiny_sd(tiny_checkpoint) -> Path:
    return tiny_checkpoint("stable-diffusion")


@pytest.fixture(scope="session")
def tiny_sd_inpainting(tiny_checkpoint) -> Path:
    return tiny_checkpoint("stable-diffusion", "inpainting-only")


@pytest.fixture(autouse=True)
def detect_keys_are_necessary(request, monkeypatch):
    """Every header any test shows to detection is also shown to every plugin, whatever its autopipe_detect_keys: the
    claims must be the same. A plugin's keys may only spare it files it would not claim (hookspecs.autopipe_detect_keys).
    A test marked ``detect_keys_unchecked`` (one that checks what the keys leave unimported) is left alone."""
    if request.node.get_closest_marker("detect_keys_unchecked"):
        return
    from dataclasses import replace

    from autopipe_core import single_file
    from autopipe_core.registry import get_registry

    gated = single_file.detect

    def checked(header, registry=None):
        report = gated(header, registry)
        registry = registry or get_registry()
        if registry.detect_keys:
            every = gated(header, replace(registry, detect_keys={}))
            assert report.ranked == every.ranked, (
                f"{header.path}: with autopipe_detect_keys the claims are {[(d.plugin, d.family, d.variant) for d in report.ranked]}, "
                f"shown to every plugin {[(d.plugin, d.family, d.variant) for d in every.ranked]}: a plugin's keys leave out a file it claims"
            )
        return report

    monkeypatch.setattr(single_file, "detect", checked)
