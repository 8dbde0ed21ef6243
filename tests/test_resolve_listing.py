"""resolve() lists no component folder (issue 20, point 3): at a thousand components the listing was 90 % of its time.

A folder's Identity.files is listed the first time something reads it (loading and planning do), whole and once, and
is then the same tuple as before; the guard lists the folder itself, so what it refuses is unchanged.
"""

from __future__ import annotations

import json
import os
import pickle

import pytest
from layouts import write_model_index

from autopipe_core import ModelNotFoundError, UntrustedCodeError, resolve, sources
from autopipe_core.guard import check

SD_UNET = {"in_channels": 4, "sample_size": 64, "cross_attention_dim": 768}
EXTRA = 1000


@pytest.fixture
def big(tmp_path):
    """An SD folder with a thousand more components, each in its folder with a config."""
    folder = write_model_index(tmp_path / "big", "StableDiffusionPipeline", unet=dict(SD_UNET), vae={"_class": "AutoencoderKL"})
    index = json.loads((folder / "model_index.json").read_text())
    for i in range(EXTRA):
        index[f"extra_{i}"] = ["diffusers", "AutoencoderKL"]
        (folder / f"extra_{i}").mkdir()
        (folder / f"extra_{i}" / "config.json").write_text("{}")
    (folder / "model_index.json").write_text(json.dumps(index))
    return folder


@pytest.fixture
def listings(monkeypatch):
    """Every directory listing made, by path (plugin discovery lists sys.path too)."""
    seen: list[str] = []
    scandir, listdir = os.scandir, os.listdir

    def counted_scandir(path="."):
        seen.append(os.fspath(path))
        return scandir(path)

    def counted_listdir(path="."):
        seen.append(os.fspath(path))
        return listdir(path)

    monkeypatch.setattr(os, "scandir", counted_scandir)
    monkeypatch.setattr(os, "listdir", counted_listdir)
    return seen


def test_resolve_lists_no_component_folder(big, listings, monkeypatch):
    monkeypatch.setenv("AUTOPIPE_PLUGINS", "autopipe-sd")
    resolution = resolve(big, "text2img")
    assert resolution.pipeline_class == "StableDiffusionPipeline"
    assert [p for p in listings if p.startswith(str(big))] == []  # was one of the folder and one per component folder: 1,003


def test_the_files_are_listed_whole_and_once_when_read(big, listings, monkeypatch):
    monkeypatch.setenv("AUTOPIPE_PLUGINS", "autopipe-sd")
    identity = resolve(big, "text2img").identity
    assert isinstance(identity.files, sources.FolderFiles) and not identity.files.listed
    expected = sources.list_folder(big)
    listings.clear()
    assert identity.files == expected and len(identity.files) == EXTRA + 3 and "extra_7/config.json" in identity.files
    assert len(listings) == EXTRA + 3  # the folder, unet, vae and the thousand
    assert tuple(identity.files) == expected and identity.files[0] == expected[0] and hash(identity.files) == hash(expected)
    assert repr(identity.files) == repr(expected) and pickle.loads(pickle.dumps(identity)).files == expected
    assert len(listings) == EXTRA + 3  # once


def test_the_guard_still_sees_every_component_folder(big, monkeypatch):
    monkeypatch.setenv("AUTOPIPE_PLUGINS", "autopipe-sd")
    (big / "extra_777" / "diffusers.py").write_text("print('code the checkpoint chose')")
    identity = resolve(big, "text2img").identity
    with pytest.raises(UntrustedCodeError, match="extra_777: ships extra_777/diffusers.py"):
        check(identity, {})
    check(identity, {"trust_remote_code": True})


def test_a_folder_that_cannot_be_listed_says_so_when_its_files_are_read(big, monkeypatch):
    monkeypatch.setenv("AUTOPIPE_PLUGINS", "autopipe-sd")
    identity = resolve(big, "text2img").identity
    scandir = os.scandir

    def denied(path="."):
        if os.fspath(path).endswith("extra_3"):
            raise PermissionError(13, "Permission denied")
        return scandir(path)

    monkeypatch.setattr(os, "scandir", denied)
    with pytest.raises(ModelNotFoundError) as info:  # a component folder: named, as diffusers would fail on it
        len(identity.files)
    assert str(info.value) == f"cannot list {big / 'extra_3'}: Permission denied"
