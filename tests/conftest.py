"""Shared fixtures: tiny checkpoints built once per session, and an environment no installed plugin leaks into."""

from __future__ import annotations

import os

# huggingface_hub reads this once, at import: set it before anything imports it. Tests never reach the network.
os.environ["HF_HUB_OFFLINE"] = "1"

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path_factory):
    """Only autopipe-sd is loaded unless a test says otherwise; no hub; caches in a temp folder."""
    monkeypatch.setenv("AUTOPIPE_PLUGINS", "autopipe-sd")
    monkeypatch.delenv("AUTOPIPE_PREFER", raising=False)
    monkeypatch.delenv("AUTOPIPE_STRICT", raising=False)
    monkeypatch.setenv("AUTOPIPE_CACHE", str(tmp_path_factory.getbasetemp() / "autopipe-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")


@pytest.fixture(scope="session")
def tiny_sd(tmp_path_factory) -> Path:
    from autopipe_sd.tiny import build

    return build(tmp_path_factory.mktemp("ckpt") / "tiny-sd")


@pytest.fixture(scope="session")
def tiny_sd_inpainting(tmp_path_factory) -> Path:
    from autopipe_sd.tiny import build

    return build(tmp_path_factory.mktemp("ckpt") / "tiny-sd-inpainting", "inpainting-only")
