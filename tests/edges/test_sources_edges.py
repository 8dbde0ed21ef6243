"""What the JSON-only reads (sources.py) accept and refuse, word for word, for folders, repo ids and live pipelines."""

from __future__ import annotations

import json
import os

import pytest
from layouts import write_model_index

from autopipe_core import InvalidModelError, ModelNotFoundError, UnsupportedModelError, UntrustedCodeError
from autopipe_core import sources
from autopipe_core.sources import ComponentFolderError

WANT_UNET = lambda names: ("unet",)  # noqa: E731
UNET = {"in_channels": 4, "sample_size": 8}


def _index(tmp_path, index: dict, name="m"):
    folder = tmp_path / name
    folder.mkdir()
    (folder / "model_index.json").write_text(json.dumps(index))
    return folder


def test_read_json_refuses_what_is_not_a_json_object(tmp_path):
    bad = tmp_path / "a.json"
    bad.write_text("{nope")
    with pytest.raises(InvalidModelError) as info:
        sources.read_json(bad, "a config")
    assert str(info.value).startswith(f"a config ({bad}) is not valid JSON: Expecting property name") and str(info.value).endswith(". Re-download or re-save the checkpoint.")
    bad.write_text("[1]")
    with pytest.raises(InvalidModelError) as info:
        sources.read_json(bad, "a config")
    assert str(info.value) == f"a config ({bad}) must hold a JSON object, not list"
    bad.write_text('{"a": 1}')
    assert sources.read_json(bad, "a config") == {"a": 1}
    with pytest.raises(InvalidModelError, match="is 8 bytes; autopipe reads at most 4"):
        sources.read_json(bad, "a config", limit=4)
    bad.write_bytes(b'\xff\xfe{\x00}\x00')  # UTF-16 with a BOM: diffusers reads UTF-8 only, so must we
    with pytest.raises(InvalidModelError, match="is not valid JSON"):
        sources.read_json(bad, "a config")


@pytest.mark.parametrize(
    "name, error, text",
    [
        (None, InvalidModelError, "W has no '_class_name': it does not say which pipeline it is. Is it a diffusers pipeline folder?"),
        (3, InvalidModelError, "W: '_class_name' must be a string, not int"),
        (["a", "b", "c"], InvalidModelError, "W: '_class_name' must be a string, not list"),
        ("1abc", InvalidModelError, "W: '_class_name' '1abc' is not a Python class name"),
        ("A" * 201, InvalidModelError, f"W: '_class_name' {'A' * 77 + '...'!r} is not a Python class name"),
        ("Bad Name", InvalidModelError, "W: '_class_name' 'Bad Name' is not a Python class name"),
    ],
)
def test_the_class_name_must_be_a_python_class_name(name, error, text):
    index = {} if name is None else {"_class_name": name}
    with pytest.raises(error) as info:
        sources._class_name(index, "W")
    assert str(info.value) == text


def test_a_custom_or_modular_pipeline_is_named_for_what_it_is():
    with pytest.raises(UntrustedCodeError) as info:
        sources._class_name({"_class_name": ["my_pipe", "MyPipeline"]}, "W")
    assert str(info.value).startswith("W: _class_name ['my_pipe', 'MyPipeline'] names a custom pipeline: the class MyPipeline in my_pipe.py, code shipped with")
    with pytest.raises(UnsupportedModelError) as info:
        sources._class_name({"_class_name": "QwenImageModularPipeline", "_blocks_class_name": "QwenBlocks"}, "W")
    assert str(info.value).startswith("W is in diffusers' modular pipeline format (QwenImageModularPipeline: components with a loading spec, blocks in QwenBlocks).")
    spec = {"_class_name": "X", "unet": ["diffusers", "UNet2DConditionModel", {"repo": "r"}]}
    assert sources.modular(spec) and not sources.modular({"_class_name": "X", "unet": ["diffusers", "U"], "_x": [1, 2, {}]})
    with pytest.raises(UnsupportedModelError, match="blocks in its blocks\\)"):
        sources._class_name(spec, "W")
    assert sources._class_name({"_class_name": "StableDiffusionPipeline"}, "W") == "StableDiffusionPipeline"


def test_components_are_the_library_class_pairs():
    index = {"_class_name": "X", "_diffusers_version": "1", "unet": ["diffusers", "U"], "safety_checker": [None, None], "force": True, "empty": [], "nums": [1, 2]}
    assert sources.components(index) == {"unet": ("diffusers", "U"), "safety_checker": (None, None)}
    with pytest.raises(InvalidModelError) as info:
        sources.components({"unet": ["diffusers", "U", "extra"]}, "W")
    assert str(info.value) == (
        "W: the component 'unet' is [\"diffusers\", \"U\", \"extra\"], not a [library, class] pair of strings. "
        "Re-save the pipeline with save_pretrained, or correct the entry (e.g. [\"diffusers\", \"UNet2DConditionModel\"])."
    )
    with pytest.raises(InvalidModelError, match="the component 'unet' is"):
        sources.components({"unet": ["diffusers", "U" * 201]}, "W")


def test_a_folder_without_model_index_says_what_it_holds(tmp_path):
    bare = tmp_path / "bare"
    bare.mkdir()
    with pytest.raises(InvalidModelError) as info:
        sources.from_folder(bare, WANT_UNET)
    assert str(info.value) == (
        f"{bare} is a folder but has no model_index.json, so it is not a diffusers pipeline folder. Pass the folder that holds model_index.json "
        "(not a component folder such as unet/), or a single .safetensors checkpoint file."
    )
    (bare / "config.json").write_text(json.dumps({"_class_name": "ControlNetModel"}))
    with pytest.raises(ComponentFolderError) as info:
        sources.from_folder(bare, WANT_UNET)
    assert info.value.class_name == "ControlNetModel" and str(info.value).startswith(f"{bare} holds one model, a ControlNetModel (its config.json), not a pipeline")
    (bare / "config.json").write_text(json.dumps({"_class_name": "not a class"}))
    with pytest.raises(InvalidModelError, match="has no model_index.json"):
        sources.from_folder(bare, WANT_UNET)
    (bare / "model_index.json").symlink_to(tmp_path / "gone.json")
    with pytest.raises(ModelNotFoundError) as info:
        sources.from_folder(bare, WANT_UNET)
    assert str(info.value) == f"{bare / 'model_index.json'} is a link to a file that does not exist. Re-download the checkpoint."


def test_a_listed_component_without_its_config_is_an_incomplete_checkpoint(tmp_path):
    folder = _index(tmp_path, {"_class_name": "StableDiffusionPipeline", "unet": ["diffusers", "U"], "vae": ["diffusers", "V"]})
    with pytest.raises(InvalidModelError) as info:
        sources.from_folder(folder, WANT_UNET)
    assert str(info.value) == (
        f"{folder}: model_index.json lists the component 'unet' but unet/config.json is missing. "
        "The checkpoint is incomplete: complete it, or pass unet=... to from_pretrained."
    )

    class Passed:
        config = {"in_channels": 9}

    identity = sources.from_folder(folder, WANT_UNET, passed={"unet": Passed()})
    assert identity.configs == {"unet": {"in_channels": 9}}
    assert sources.from_folder(folder, WANT_UNET, passed={"unet": None}).configs == {}  # passed as None: left out


def test_a_folder_identity_reads_only_the_wanted_configs_and_lists_two_levels(tmp_path):
    folder = write_model_index(tmp_path / "m", "StableDiffusionPipeline", unet=dict(UNET), vae={"_class": "AutoencoderKL", "x": 1})
    (folder / "unet" / "deep").mkdir()
    (folder / "unet" / "deep" / "hidden.bin").write_text("")
    (folder / ".cache").mkdir()
    (folder / ".cache" / "x").write_text("")
    identity = sources.from_folder(folder, WANT_UNET)
    assert identity.configs == {"unet": UNET} and identity.origin == "folder" and identity.reference == str(folder)
    assert identity.files == ("model_index.json", "unet/config.json", "vae/config.json")
    assert sources.from_folder(folder, lambda names: ()).configs == {}
    index = json.loads((folder / "model_index.json").read_text())
    index["unet"] = ["diffusers", None]
    (folder / "model_index.json").write_text(json.dumps(index))
    assert sources.from_folder(folder, WANT_UNET).configs == {}  # a component of no class has no config to read


@pytest.mark.parametrize("ref, ok", [("org/name", True), ("name", True), ("a/b.c-d_e", True), ("org/../x", False), ("/abs/path", False), ("a/b/c", False),
                                     ("-org/x", False), ("o" * 97 + "/x", False), ("org/" + "n" * 96, True), ("org/", False)])
def test_repo_ids(ref, ok):
    assert sources.is_repo_id(ref) is ok


def test_local_paths_are_canonical_or_absent_or_refused(tmp_path, monkeypatch):
    target = tmp_path / "real"
    target.mkdir()
    (tmp_path / "link").symlink_to(target)
    assert sources.local_path(tmp_path / "link") == target.resolve()
    assert sources.local_path(str(tmp_path / "absent")) is None
    assert sources.local_path(str(tmp_path / "real" / "x" / "y")) is None
    monkeypatch.setenv("HOME", str(tmp_path))
    assert sources.local_path("~/real") == target.resolve()
    with pytest.raises(ModelNotFoundError) as info:
        sources.local_path("a\0b")
    assert str(info.value) == "'a\\x00b' is not a usable path (it holds a NUL character)"
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    with pytest.raises(ModelNotFoundError, match=f"cannot follow the path {tmp_path / 'loop'}: .*Check the links in it\\."):
        sources.local_path(tmp_path / "loop")


def test_identify_says_what_a_reference_is_not(tmp_path):
    with pytest.raises(TypeError) as info:
        sources.identify(3, WANT_UNET)
    assert str(info.value) == "model must be a path, a hub repo id or a diffusers pipeline, not int"
    file = tmp_path / "f.txt"
    file.write_text("")
    with pytest.raises(InvalidModelError) as info:
        sources.identify(str(file), WANT_UNET)
    assert str(info.value) == f"{file} is a file, not a diffusers folder: pass it where a single-file checkpoint is taken (resolve, from_pretrained, from_single_file)."
    with pytest.raises(ModelNotFoundError) as info:
        sources.identify(str(tmp_path / "absent" / "m"), WANT_UNET)
    assert str(info.value) == f"there is no folder or file at {tmp_path / 'absent' / 'm'} ({str(tmp_path / 'absent' / 'm')!r}). Check the path."
    with pytest.raises(ModelNotFoundError) as info:
        sources.identify("not a repo!", WANT_UNET)
    assert str(info.value) == "'not a repo!' is neither a local folder nor a hub repo id ('org/name'). Check the path."


def test_a_live_pipeline_identity(tiny_checkpoint):
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(tiny_checkpoint("stable-diffusion"), safety_checker=None)
    identity = sources.from_pipeline(pipe, lambda names: ("unet", "text_encoder", "absent"))
    assert identity.origin == "pipeline" and identity.class_name == "StableDiffusionPipeline" and identity.files is None
    assert identity.bases[:2] == ("StableDiffusionPipeline", "DiffusionPipeline") and identity.bases[-1] == "object"
    assert identity.components["unet"] == ("diffusers", "UNet2DConditionModel") and identity.components["safety_checker"] == (None, None)
    assert identity.components["text_encoder"] == ("transformers", "CLIPTextModel")
    assert identity.configs["unet"]["in_channels"] == 4 and identity.configs["text_encoder"]["hidden_size"] == pipe.text_encoder.config.hidden_size
    assert set(identity.configs) == {"unet", "text_encoder"} and identity.reference == str(tiny_checkpoint("stable-diffusion"))


def test_config_dict_reads_each_kind_of_config():
    class Own:
        def __init__(self):
            self.a = 1

    class WithToDict:
        def to_dict(self):
            return {"b": 2}

    class BadToDict:
        def __init__(self):
            self.c = 3

        def to_dict(self):
            return [1]

    assert sources.config_dict({"x": 1}) == {"x": 1} and sources.config_dict(WithToDict()) == {"b": 2}
    assert sources.config_dict(Own()) == {"a": 1} and sources.config_dict(BadToDict()) == {"c": 3}


def test_snapshot_commit_is_read_from_the_cache_layout(tmp_path):
    commit = "a" * 40
    assert sources.snapshot_commit(tmp_path / "models--o--n" / "snapshots" / commit / "unet" / "config.json") == commit
    assert sources.snapshot_commit(tmp_path / "snapshots" / "short" / "x") is None
    assert sources.snapshot_commit(tmp_path / "x" / commit) is None


def test_the_hub_probe_says_why_it_cannot_connect_and_asks_each_address_once(monkeypatch):
    import socket

    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert sources.hub_unreachable() is None  # offline: huggingface_hub's own business, no probe
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(sources, "_probed", {})
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    refused_port = closed.getsockname()[1]
    closed.close()  # nothing listens there now: the connection is refused at once
    try:
        monkeypatch.delenv("https_proxy", raising=False)
        monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{listening.getsockname()[1]}")
        assert sources.hub_unreachable() is None
        monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{refused_port}")
        assert sources.hub_unreachable() == f"127.0.0.1:{refused_port}: Connection refused"
        assert sources._probed == {("127.0.0.1", listening.getsockname()[1]): None, ("127.0.0.1", refused_port): f"127.0.0.1:{refused_port}: Connection refused"}
        sources._probed[("127.0.0.1", refused_port)] = "remembered"
        assert sources.hub_unreachable() == "remembered"  # asked once per address
        monkeypatch.delenv("HTTPS_PROXY")
        monkeypatch.setenv("https_proxy", f"https://127.0.0.1:{refused_port}")
        assert sources.hub_unreachable() == "remembered"  # the lower-case spelling too
        monkeypatch.delenv("https_proxy")
        monkeypatch.setattr(constants, "ENDPOINT", "https://127.0.0.1")
        sources._probed[("127.0.0.1", 443)] = "port 443 for https"
        assert sources.hub_unreachable() == "port 443 for https"
        monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1")
        sources._probed[("127.0.0.1", 80)] = "port 80 for http"
        assert sources.hub_unreachable() == "port 80 for http"
    finally:
        listening.close()


def test_snapshot_commit_reads_every_position_of_the_path():
    from pathlib import Path

    commit = "b" * 40
    assert sources.snapshot_commit(Path("snapshots") / commit / "f") == commit  # the first part
    assert sources.snapshot_commit(Path("cache") / "snapshots" / commit) == commit  # the last two parts
    assert sources.snapshot_commit(Path(commit) / "x" / "snapshots") is None  # no wrapping round to the start
