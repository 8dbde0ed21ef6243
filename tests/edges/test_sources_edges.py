"""What the JSON-only reads (sources.py) accept and refuse, word for word, for folders, repo ids and live pipelines."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from layouts import write_model_index

from autopipe_core import InvalidModelError, ModelNotFoundError, UnsupportedModelError, UntrustedCodeError
from autopipe_core import resolve, sources
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
        # "$" matched before a final newline, and \w took any letter: a second output line, a look-alike name.
        ("StableDiffusionPipeline\n", InvalidModelError, "W: '_class_name' 'StableDiffusionPipeline\\n' is not a Python class name"),
        ("StableDiffusionPipel\u0456ne", InvalidModelError, "W: '_class_name' 'StableDiffusionPipel\u0456ne' is not a Python class name"),
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
                                     ("-org/x", False), ("o" * 97 + "/x", False), ("org/" + "n" * 96, True), ("org/", False),
                                     ("org/name\n", False), ("org/n\u0430me", False)])
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


def test_an_empty_reference_is_refused_not_read_as_the_working_folder(tmp_path, monkeypatch):
    # os.path.realpath("") is the working folder; diffusers takes "" for a hub repo id and fails there
    write_model_index(tmp_path, "StableDiffusionPipeline", unet={"in_channels": 4, "sample_size": 8, "cross_attention_dim": 32})
    monkeypatch.chdir(tmp_path)
    empty = ""
    message = "'' is an empty model reference: pass a diffusers folder, a single-file checkpoint or a hub repo id ('org/name')."
    for call in (sources.local_path, lambda m: sources.identify(m, WANT_UNET), lambda m: resolve(m, "text2img")):
        with pytest.raises(ModelNotFoundError) as info:
            call(empty)
        assert str(info.value) == message
    assert sources.local_path(Path("")) == tmp_path.resolve()  # a Path("") is Path("."): the working folder, said as such
    from autopipe_core.scan import scan

    with pytest.raises(ModelNotFoundError) as info:
        scan(empty)
    assert str(info.value) == "'' is an empty path: pass the folder to scan ('.' for the working folder)."
    assert [s.path for s in scan(".")] == ["."] and scan(".")[0].family == "stable-diffusion"


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


# The hub: huggingface_hub's own cache layout (tests/layouts.py hub_cache), read by huggingface_hub itself; only the
# network is stood in for (the probe, and hf_hub_download where the repo answers what a cache cannot: "no such file").

REPO = "someone/model"
COMMIT = "c" * 40
SD_INDEX = {"_class_name": "StableDiffusionPipeline", "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"]}


def _hub_repo(cache, index=SD_INDEX, repo=REPO, **files):
    from layouts import hub_cache

    laid = {"model_index.json": index if isinstance(index, str) else json.dumps(index), "unet/config.json": json.dumps(UNET)}
    hub_cache(cache, repo, {**laid, **files}, commit=COMMIT)
    return cache


@pytest.fixture
def downloads(monkeypatch):
    """Every hf_hub_download call (filename, keywords), passed on to huggingface_hub's own, which reads the cache."""
    import huggingface_hub

    real = huggingface_hub.hf_hub_download
    asked = []

    def download(repo_id, filename, **kw):
        from huggingface_hub import constants

        asked.append((repo_id, filename, kw))
        if not (constants.HF_HUB_OFFLINE or kw.get("local_files_only")):
            raise OSError("the network is not reachable from the tests")
        return real(repo_id, filename, **kw)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", download)
    return asked


def test_a_hub_repo_is_read_from_the_cache_and_its_configs_at_the_commit_of_its_model_index(tmp_path, downloads):
    cache = _hub_repo(tmp_path / "hub")
    identity = sources.from_hub(REPO, WANT_UNET, cache_dir=cache, revision="main", token=None, torch_dtype="float16")
    assert (identity.origin, identity.reference, identity.class_name, identity.commit, identity.files) == ("hub", REPO, "StableDiffusionPipeline", COMMIT, None)
    assert identity.components == {"unet": ("diffusers", "UNet2DConditionModel"), "vae": ("diffusers", "AutoencoderKL")}
    assert identity.configs == {"unet": UNET}
    # Only hub options reach huggingface_hub (no torch_dtype, no token=None), and the config comes from model_index.json's commit.
    assert downloads == [(REPO, "model_index.json", {"cache_dir": cache, "revision": "main"}), (REPO, "unet/config.json", {"cache_dir": cache, "revision": COMMIT})]

    class Passed:
        config = {"in_channels": 9}

    downloads.clear()
    assert sources.from_hub(REPO, WANT_UNET, {"unet": Passed()}, cache_dir=cache).configs == {"unet": {"in_channels": 9}}
    assert [name for _, name, _ in downloads] == ["model_index.json"]  # a component passed in is not fetched


def test_an_unreachable_hub_answers_from_the_cache_at_once_and_says_why_a_file_cannot_be_had(tmp_path, monkeypatch, downloads):
    cache = _hub_repo(tmp_path / "hub")
    probes = []
    monkeypatch.setattr(sources, "hub_unreachable", lambda: probes.append(1) or "hub.example:443: Connection refused")
    assert sources.from_hub(REPO, WANT_UNET, cache_dir=cache).configs == {"unet": UNET}
    assert [kw for _, _, kw in downloads] == [{"cache_dir": cache, "local_files_only": True}, {"cache_dir": cache, "local_files_only": True, "revision": COMMIT}]
    with pytest.raises(ModelNotFoundError) as info:
        sources.from_hub("someone/absent", WANT_UNET, cache_dir=cache)
    assert str(info.value) == (
        f"'someone/absent' is not a local folder, and its model_index.json is not in the hub cache ({cache}) and cannot be downloaded "
        "(the hub cannot be reached (hub.example:443: Connection refused)). Connect once to download it, or pass a local folder; "
        "to work offline on purpose, set HF_HUB_OFFLINE=1."
    )
    # local_files_only=True asks the cache alone: no probe, and the refusal says it was the caller's choice.
    probes.clear()
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "default-cache"))
    with pytest.raises(ModelNotFoundError) as info:
        sources.from_hub("someone/absent", WANT_UNET, local_files_only=True)
    assert str(info.value) == (
        "'someone/absent' is not a local folder, and its model_index.json is not in the hub cache and cannot be downloaded "
        "(offline, or local_files_only=True). Download it once without HF_HUB_OFFLINE or local_files_only, or pass a local folder."
    )
    assert probes == []


def test_what_the_hub_answers_is_a_typed_error_naming_the_repo_and_the_file(tmp_path, monkeypatch):
    import huggingface_hub
    from huggingface_hub.errors import EntryNotFoundError

    real = huggingface_hub.hf_hub_download
    missing, failing = set(), set()

    def download(repo_id, filename, **kw):  # the repo online: these files are not there, those fail to come
        if filename in missing:
            raise EntryNotFoundError(f"404: {filename}")
        if filename in failing:
            raise OSError("connection reset")
        return real(repo_id, filename, **kw)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", download)
    cache = _hub_repo(tmp_path / "hub")
    missing.add("model_index.json")
    with pytest.raises(InvalidModelError) as info:
        sources.from_hub(REPO, WANT_UNET, cache_dir=cache)
    assert str(info.value) == "the hub repo 'someone/model' has no model_index.json: it is not a diffusers pipeline repo."
    missing.clear()
    missing.add("unet/config.json")
    with pytest.raises(InvalidModelError) as info:
        sources.from_hub(REPO, WANT_UNET, cache_dir=cache)
    assert str(info.value) == "someone/model: model_index.json lists 'unet' but the repo has no unet/config.json"
    missing.clear()
    failing.add("model_index.json")
    with pytest.raises(ModelNotFoundError) as info:
        sources.from_hub(REPO, WANT_UNET, cache_dir=cache)
    assert str(info.value) == "cannot get model_index.json of 'someone/model' from the hub: connection reset. Check the repo id, revision and token."


def test_a_bad_json_file_of_a_hub_repo_is_named_by_repo_and_file(tmp_path):
    snapshot = tmp_path / "hub" / "models--someone--model" / "snapshots" / COMMIT
    cache = _hub_repo(tmp_path / "hub", "{nope")
    with pytest.raises(InvalidModelError, match=r"^someone/model/model_index\.json \(.*\) is not valid JSON: "):
        sources.from_hub(REPO, WANT_UNET, cache_dir=cache)
    cache = _hub_repo(tmp_path / "hub", {"unet": ["diffusers", "UNet2DConditionModel"]})
    with pytest.raises(InvalidModelError) as info:
        sources.from_hub(REPO, WANT_UNET, cache_dir=cache)
    assert str(info.value) == "someone/model/model_index.json has no '_class_name': it does not say which pipeline it is. Is it a diffusers pipeline folder?"
    cache = _hub_repo(tmp_path / "hub", SD_INDEX, **{"unet/config.json": "[1]"})
    with pytest.raises(InvalidModelError) as info:
        sources.from_hub(REPO, WANT_UNET, cache_dir=cache)
    assert str(info.value) == f"someone/model/unet/config.json ({snapshot / 'unet' / 'config.json'}) must hold a JSON object, not list"


def test_a_hub_identity_gets_its_file_list_at_its_commit_and_others_are_left_as_they_are(monkeypatch):
    import huggingface_hub

    from autopipe_core.specs import Identity

    asked = []
    monkeypatch.setattr(huggingface_hub, "list_repo_files", lambda repo_id, **kw: asked.append((repo_id, kw)) or ["model_index.json", "unet/w.fp16.safetensors"])
    hub = Identity("hub", REPO, "StableDiffusionPipeline", commit=COMMIT)
    listed = sources.with_files(hub, {"token": "hf_x", "revision": "main", "cache_dir": "/c"})
    assert listed.files == ("model_index.json", "unet/w.fp16.safetensors") and listed.reference == REPO and listed.commit == COMMIT
    assert asked == [(REPO, {"revision": COMMIT, "token": "hf_x"})]  # the commit read, and only the token of the options
    asked.clear()
    assert sources.with_files(hub, {"token": None}).files == listed.files and asked == [(REPO, {"revision": COMMIT})]
    asked.clear()
    known = Identity("hub", REPO, "StableDiffusionPipeline", files=("a",), commit=COMMIT)
    folder = Identity("folder", "/m", "StableDiffusionPipeline")
    assert sources.with_files(known) is known and sources.with_files(folder) is folder and asked == []

    def gated(repo_id, **kw):
        raise OSError("401 gated")

    monkeypatch.setattr(huggingface_hub, "list_repo_files", gated)
    assert sources.with_files(hub) is hub  # the plan then says it could not see the files


def test_a_hub_probe_that_hangs_is_given_up_after_the_probe_time_in_a_daemon_thread(monkeypatch):
    import socket
    import threading

    from huggingface_hub import constants

    release = threading.Event()
    asked = []

    def connect(address, timeout=None):  # a name lookup that hangs (released when the test ends)
        asked.append((address, timeout, threading.current_thread().daemon))
        release.wait(5)
        raise OSError("timed out")

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(sources, "_probed", {})
    monkeypatch.setattr(sources, "HUB_PROBE_SECONDS", 0.05)
    monkeypatch.setattr(socket, "create_connection", connect)
    monkeypatch.delenv("HTTPS_PROXY", raising=False)
    monkeypatch.delenv("https_proxy", raising=False)
    monkeypatch.setattr(constants, "ENDPOINT", "https://hub.example")
    try:
        assert sources.hub_unreachable() == "hub.example:443 did not answer within 0 s"
        assert asked == [(("hub.example", 443), 0.05, True)]  # bounded, and never keeps the interpreter from exiting
    finally:
        release.set()


def test_a_proxy_without_a_host_is_probed_and_named_as_it_reads(monkeypatch):
    import socket

    from huggingface_hub import constants

    asked = []

    def refused(address, timeout=None):
        asked.append(address)
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(sources, "_probed", {})
    monkeypatch.setattr(socket, "create_connection", refused)
    monkeypatch.delenv("https_proxy", raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://:3128")
    assert sources.hub_unreachable() == ":3128: Connection refused" and asked == [("", 3128)]


def test_a_model_card_is_read_for_its_metadata_and_refused_clearly_when_it_cannot_be(tmp_path):
    assert sources.card_data(tmp_path) == {}
    card = tmp_path / "README.md"
    card.write_text("---\nprior: [kandinsky-community/prior]\nmodel-index: 3\n---\n# A model\n")
    assert sources.card_data(tmp_path) == {"prior": ["kandinsky-community/prior"]}  # metadata diffusers does not read is let go
    card.write_text("---\nprior: [" + "x" * 300 + "\n---\n")
    with pytest.raises(InvalidModelError) as info:
        sources.card_data(tmp_path)
    text = str(info.value)
    assert text.startswith(f"the model card {card} cannot be read: while parsing a flow sequence")
    assert len(text) == len(f"the model card {card} cannot be read: ") + 200
    card.write_text("---\neval_results: 3\n---\n")  # metadata huggingface_hub fails on even when told to let errors go
    with pytest.raises(InvalidModelError, match=f"^the model card {card} cannot be read: 'int' object is not iterable$"):
        sources.card_data(tmp_path)
    card.write_bytes(b"---\nprior: \xff\n---\n")
    with pytest.raises(InvalidModelError, match=f"^the model card {card} cannot be read: 'utf-8' codec can't decode byte 0xff"):
        sources.card_data(tmp_path)
    card.write_bytes(b"")
    os.truncate(card, sources.MAX_CARD_BYTES + 1)
    with pytest.raises(InvalidModelError) as info:
        sources.card_data(tmp_path)
    assert str(info.value) == f"the model card {card} is {sources.MAX_CARD_BYTES + 1} bytes; autopipe reads at most {sources.MAX_CARD_BYTES}, so it is not a model card."


def test_a_model_folder_is_named_by_its_class_up_to_the_longest_class_name(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"_class_name": "A" * sources.MAX_CLASS_NAME}))
    assert sources.component_class(folder) == "A" * sources.MAX_CLASS_NAME
    (folder / "config.json").write_text(json.dumps({"_class_name": "A" * (sources.MAX_CLASS_NAME + 1)}))
    assert sources.component_class(folder) is None
    (folder / "config.json").write_text("{nope")
    assert sources.component_class(folder) is None


@pytest.mark.parametrize("ref", ["org/a..b", "a..b"])
def test_a_repo_id_with_two_dots_in_a_row_is_not_one(ref):
    assert sources.is_repo_id(ref) is False


@pytest.mark.parametrize(
    "ref, path", [("/abs", True), (".hidden", True), ("~user", True), ("a\\b", True), ("org/", True), ("a/b/c", True), ("models/sd15", True),
                  ("org/name", False), ("name", False)],
)
def test_what_reads_as_a_path_rather_than_a_repo_id(ref, path, tmp_path, monkeypatch):
    (tmp_path / "models").mkdir()
    monkeypatch.chdir(tmp_path)
    assert sources.looks_like_path(ref) is path


def test_a_folders_files_compare_as_the_tuple_they_stand_for(tmp_path):
    (tmp_path / "model_index.json").write_text("{}")
    files = sources.FolderFiles(tmp_path)
    assert files == sources.FolderFiles(tmp_path) and files == ("model_index.json",) and files != ["model_index.json"]
    assert hash(files) == hash(("model_index.json",)) and repr(files) == "('model_index.json',)"


def test_a_snapshot_asked_for_with_local_files_only_is_read_from_the_cache_alone(tmp_path, monkeypatch, downloads):
    from huggingface_hub import constants

    cache = _hub_repo(tmp_path / "hub")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # online, but the caller said local_files_only=True
    snapshot = sources.hub_snapshot(REPO, COMMIT, cache_dir=cache, local_files_only=True, revision="main")
    assert snapshot == cache / "models--someone--model" / "snapshots" / COMMIT
    assert downloads == [(REPO, "model_index.json", {"revision": COMMIT, "local_files_only": True, "cache_dir": cache})]


class _Counted:
    """A pipeline-like object whose ``components`` and ``config`` are properties that count their reads (diffusers'
    ``components`` inspects the class's signature on each read)."""

    reads = 0

    def __init__(self, components=None, config=None):
        self._components, self._config = components or {}, config or {}

    @property
    def components(self):
        type(self).reads += 1
        return self._components

    @property
    def config(self):
        type(self).reads += 1
        return self._config


def test_what_is_a_pipeline_is_asked_without_running_its_properties(monkeypatch):
    monkeypatch.setattr(_Counted, "reads", 0)
    assert sources.is_pipeline(_Counted()) and _Counted.reads == 0

    class Proxy:  # attributes found only through __getattr__ (a wrapper around a pipeline)
        def __getattr__(self, name):
            if name in ("components", "config"):
                return {}
            raise AttributeError(name)

    class OnlyConfig:
        config = {}

    class OnlyComponents:
        components = {}

    assert sources.is_pipeline(Proxy()) and not sources.is_pipeline(OnlyConfig()) and not sources.is_pipeline(OnlyComponents())
    assert sources.live_components(OnlyComponents()) is None and sources.live_components(3) is None
    with pytest.raises(TypeError, match="^model must be a path, a hub repo id or a diffusers pipeline, not OnlyConfig$"):
        sources.identify(OnlyConfig(), WANT_UNET)


def test_a_pipeline_whose_properties_fail_is_read_as_having_none():
    class Failing:
        @property
        def components(self):
            raise AttributeError("components failed")

        @property
        def config(self):
            raise AttributeError("config failed")

    assert sources.is_pipeline(Failing()) and sources.live_components(Failing()) == {}
    identity = sources.from_pipeline(Failing(), WANT_UNET)
    assert (identity.class_name, identity.reference, identity.components, identity.configs) == ("Failing", "Failing", {}, {})


def test_a_live_pipelines_components_read_already_are_not_read_again(monkeypatch):
    class Unet:
        config = {"in_channels": 4}

    monkeypatch.setattr(_Counted, "reads", 0)
    pipe = _Counted({"unet": Unet(), "vae": None}, {"_name_or_path": "org/model"})
    identity = sources.from_pipeline(pipe, lambda names: (), components={"unet": Unet()})
    assert identity.components == {"unet": (Unet.__module__.split(".")[0], "Unet")} and identity.reference == "org/model"
    assert _Counted.reads == 1  # the config, once; not the components


def test_a_folders_files_are_listed_once_when_first_read_and_a_folder_that_cannot_be_is_not_found(tmp_path):
    (tmp_path / "model_index.json").write_text("{}")
    files = sources.FolderFiles(tmp_path)
    assert not files.listed and "model_index.json" in files and files.listed
    (tmp_path / "late.json").write_text("{}")
    assert list(files) == ["model_index.json"] and len(files) == 1 and files[0] == "model_index.json"  # the listing of the first read
    gone = sources.FolderFiles(tmp_path / "gone")
    with pytest.raises(ModelNotFoundError) as info:
        len(gone)
    assert str(info.value) == f"cannot list {tmp_path / 'gone'}: No such file or directory"


def test_a_custom_or_modular_pipeline_is_named_word_for_word_and_long_names_are_cut_at_80():
    long = "M" * 90
    with pytest.raises(UnsupportedModelError) as info:
        sources._class_name({"_class_name": long, "_blocks_class_name": "B" * 90}, "W")
    assert str(info.value) == (
        f"W is in diffusers' modular pipeline format ({'M' * 80}: components with a loading spec, blocks in {'B' * 80}). autopipe serves "
        "DiffusionPipeline checkpoints; load this one with diffusers.ModularPipeline.from_pretrained (its blocks are code of the checkpoint's "
        "choosing: trust_remote_code=True only if you trust it)."
    )
    with pytest.raises(UntrustedCodeError) as info:
        sources._class_name({"_class_name": ["m" * 90, "C" * 90]}, "W")
    assert str(info.value) == (
        f"W: _class_name [{'m' * 80!r}, {'C' * 80!r}] names a custom pipeline: the class {'C' * 80} in {'m' * 80}.py, code shipped with the checkpoint, "
        "which autopipe does not run. If you trust it, load it with diffusers.DiffusionPipeline.from_pretrained(..., trust_remote_code=True), "
        "or use the checkpoint's own instructions."
    )


def test_a_class_name_is_taken_up_to_200_characters_and_a_bad_one_shown_whole_up_to_80():
    assert sources._class_name({"_class_name": "A" * 200}, "W") == "A" * 200
    for bad, shown in (("1" + "a" * 79, "1" + "a" * 79), ("1" + "a" * 80, "1" + "a" * 76 + "...")):
        with pytest.raises(InvalidModelError) as info:
            sources._class_name({"_class_name": bad}, "W")
        assert str(info.value) == f"W: '_class_name' {shown!r} is not a Python class name"


def test_a_component_entry_is_taken_up_to_200_characters_and_a_bad_one_shown_to_80():
    assert sources.components({"unet": ["diffusers", "U" * 200]}) == {"unet": ("diffusers", "U" * 200)}
    value = ["diffusers", "U", "x" * 100]
    with pytest.raises(InvalidModelError) as info:
        sources.components({"k" * 100: value}, "W")
    assert str(info.value).startswith(f"W: the component {'k' * 80!r} is {json.dumps(value)[:80]}, not a [library, class] pair of strings. ")


def test_a_json_file_over_the_limit_is_named_and_refused_as_what_it_is_not(tmp_path):
    big = tmp_path / "a.json"
    big.write_text('{"a": 1}')
    with pytest.raises(InvalidModelError) as info:
        sources.read_json(big, "a config", limit=4)
    assert str(info.value) == f"a config ({big}) is 8 bytes; autopipe reads at most 4, so it is not a diffusers JSON file."


def test_a_folder_listing_skips_what_is_neither_a_file_nor_a_folder(tmp_path):
    (tmp_path / "model_index.json").write_text("{}")
    (tmp_path / "dangling").symlink_to(tmp_path / "gone")
    (tmp_path / "unet").mkdir()
    (tmp_path / "unet" / "config.json").write_text("{}")
    assert sources.list_folder(tmp_path) == ("model_index.json", "unet/config.json")


def test_a_bad_entry_of_a_folders_model_index_is_named_with_the_files_path(tmp_path):
    folder = _index(tmp_path, {"_class_name": "StableDiffusionPipeline", "unet": ["diffusers", "U", "extra"]})
    with pytest.raises(InvalidModelError, match=f"^{folder / 'model_index.json'}: the component 'unet' is "):
        sources.from_folder(folder, WANT_UNET)
    folder = _index(tmp_path, {"_class_name": "1abc"}, name="n")
    with pytest.raises(InvalidModelError) as info:
        sources.from_folder(folder, WANT_UNET)
    assert str(info.value) == f"{folder / 'model_index.json'}: '_class_name' '1abc' is not a Python class name"


def test_identify_hands_a_hub_repo_its_options_and_passed_components_and_a_path_object_is_never_a_repo_id(tmp_path, monkeypatch):
    from pathlib import Path

    class Passed:
        config = {"in_channels": 9}

    cache = _hub_repo(tmp_path / "hub")
    identity = sources.identify(REPO, WANT_UNET, {"unet": Passed()}, cache_dir=cache)
    assert (identity.origin, identity.commit, identity.configs) == ("hub", COMMIT, {"unet": {"in_channels": 9}})
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelNotFoundError) as info:
        sources.identify(Path("no-such-model"), WANT_UNET)
    assert str(info.value) == f"there is no folder or file at {tmp_path / 'no-such-model'} ('no-such-model'). Check the path."


def test_a_folder_whose_model_index_cannot_be_looked_at_says_so_not_that_it_has_none(tmp_path, monkeypatch):
    # Found by a hostile-input trial: resolve on a folder without read permission said it "has no model_index.json".
    import errno

    from autopipe_core import ModelNotFoundError

    folder = write_model_index(tmp_path / "m", "StableDiffusionPipeline")
    lstat = os.lstat

    def denied(path, *args, **kwargs):
        if os.fspath(path) == str(folder / "model_index.json"):
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
        return lstat(path, *args, **kwargs)

    monkeypatch.setattr(os, "lstat", denied)
    with pytest.raises(ModelNotFoundError) as info:
        sources.from_folder(folder, WANT_UNET)
    assert str(info.value) == f"cannot look into {folder} (Permission denied): make it readable, or check the path"


def test_a_name_too_long_is_not_said_to_be_a_link_problem(tmp_path):
    from autopipe_core import ModelNotFoundError

    long = str(tmp_path / ("a" * 300))
    with pytest.raises(ModelNotFoundError) as info:
        sources.local_path(long)
    assert str(info.value) == f"cannot follow the path {long[:197]}...: File name too long. A name in it is longer than the system allows: check the path."


def test_a_link_loop_inside_a_component_folder_is_not_a_file(tmp_path):
    write_model_index(tmp_path, "StableDiffusionPipeline", unet=dict(UNET))
    (tmp_path / "unet" / "loop").symlink_to("loop")
    assert sources.list_folder(tmp_path) == ("model_index.json", "unet/config.json")


def test_a_folder_identitys_component_folder_that_cannot_be_listed_is_named_when_the_files_are_read(tmp_path):
    folder = write_model_index(tmp_path / "m", "StableDiffusionPipeline", unet=dict(UNET))
    index = json.loads((folder / "model_index.json").read_text())
    index["text_encoder"] = ["transformers", "CLIPTextModel"]
    (folder / "model_index.json").write_text(json.dumps(index))
    (folder / "text_encoder").symlink_to("text_encoder")
    identity = sources.from_folder(folder, WANT_UNET)  # resolving does not list the folder
    with pytest.raises(ModelNotFoundError) as info:
        len(identity.files)
    assert str(info.value) == f"cannot list {folder / 'text_encoder'}: Too many levels of symbolic links"


def test_a_folder_named_after_a_model_index_setting_is_no_component_and_may_be_unlistable(tmp_path):
    folder = write_model_index(tmp_path / "m", "StableDiffusionPipeline", unet=dict(UNET))
    (folder / "_class_name").symlink_to("_class_name")
    (folder / "_diffusers_version").symlink_to("_diffusers_version")
    identity = sources.from_folder(folder, WANT_UNET)
    assert tuple(identity.files) == ("model_index.json", "unet/config.json")


def test_a_path_holding_a_nul_is_shown_to_its_first_200_characters(tmp_path):
    with pytest.raises(ModelNotFoundError) as info:
        sources.local_path("\0" + "a" * 250)
    assert str(info.value) == "'\\x00" + "a" * 199 + "' is not a usable path (it holds a NUL character)"


def test_a_link_loop_path_is_shown_whole_up_to_200_characters_and_cut_beyond(tmp_path):
    base = len(str(tmp_path)) + 1
    at_200 = tmp_path / ("l" * (200 - base))
    at_201 = tmp_path / ("k" * (201 - base))
    for loop in (at_200, at_201):
        loop.symlink_to(loop.name)
    assert len(str(at_200)) == 200 and len(str(at_201)) == 201
    with pytest.raises(ModelNotFoundError) as info:
        sources.local_path(str(at_200))
    assert str(info.value) == f"cannot follow the path {at_200}: Too many levels of symbolic links. Check the links in it."
    with pytest.raises(ModelNotFoundError) as info:
        sources.local_path(str(at_201))
    assert str(info.value) == f"cannot follow the path {str(at_201)[:197]}...: Too many levels of symbolic links. Check the links in it."


def _lstat_fails(monkeypatch, where: Path, code: int, why: str):
    lstat = os.lstat

    def failing(path, *args, **kwargs):
        if os.fspath(path) == str(where):
            raise OSError(code, why, os.fspath(path))
        return lstat(path, *args, **kwargs)

    monkeypatch.setattr(os, "lstat", failing)


def test_a_folder_on_the_path_that_cannot_be_read_says_to_check_permissions(tmp_path, monkeypatch):
    import errno

    (tmp_path / "locked" / "m").mkdir(parents=True)
    _lstat_fails(monkeypatch, tmp_path / "locked", errno.EACCES, "Permission denied")  # root reads every folder: made to fail
    with pytest.raises(ModelNotFoundError) as info:
        sources.local_path(str(tmp_path / "locked" / "m"))
    assert str(info.value) == f"cannot follow the path {tmp_path / 'locked' / 'm'}: Permission denied. Check the permissions of the folders on it."


def test_any_other_failure_to_follow_a_path_says_to_check_the_path(tmp_path, monkeypatch):
    import errno

    (tmp_path / "disk" / "m").mkdir(parents=True)
    _lstat_fails(monkeypatch, tmp_path / "disk", errno.EIO, "Input/output error")
    with pytest.raises(ModelNotFoundError) as info:
        sources.local_path(str(tmp_path / "disk" / "m"))
    assert str(info.value) == f"cannot follow the path {tmp_path / 'disk' / 'm'}: Input/output error. Check the path."
