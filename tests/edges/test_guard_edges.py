"""The guard (guard.py) at its edges: who opted in, the exact refusal, nesting, origins, and what loading is handed."""

from __future__ import annotations

import json

import pytest
from layouts import write_model_index

from autopipe_core import ModelNotFoundError, UntrustedCodeError, guard
from autopipe_core.specs import Identity

UNET = {"in_channels": 4, "sample_size": 8, "cross_attention_dim": 32}


@pytest.mark.parametrize(
    "kwargs, opted",
    [({}, False), ({"trust_remote_code": True}, True), ({"trust_remote_code": "yes"}, False), ({"trust_remote_code": 1}, False),
     ({"trust_remote_code": False}, False), ({"custom_pipeline": "x"}, True), ({"custom_pipeline": None}, False), ({"custom_pipeline": ""}, True)],
)
def test_only_an_explicit_opt_in_counts(kwargs, opted):
    assert guard.opted_in(kwargs) is opted


@pytest.mark.parametrize("library, ok", [("stable_diffusion", True), ("kandinsky", True), ("no_such_pipeline_module", False), ("../stable_diffusion", False), ("", False), ("1abc", False)])
def test_pipeline_modules_are_diffusers_own_subpackages(library, ok):
    assert guard.is_pipeline_module(library) is ok


def _folder(tmp_path, name="m", **entries):
    folder = write_model_index(tmp_path / name, "StableDiffusionPipeline", unet=dict(UNET))
    index = json.loads((folder / "model_index.json").read_text())
    index.update(entries)
    (folder / "model_index.json").write_text(json.dumps(index))
    return folder


def test_a_component_file_named_after_its_library_is_code_from_the_checkpoint(tmp_path):
    folder = _folder(tmp_path, unet=["diffusers", "UNet2DConditionModel"], scheduler=[None, None])
    assert guard.foreign_in(folder) == {}
    (folder / "unet" / "diffusers.py").write_text("")
    assert guard.foreign_in(folder) == {"unet": "ships unet/diffusers.py, code diffusers would run in place of diffusers.UNet2DConditionModel"}


def test_the_refusal_names_at_most_ten_components_and_counts_the_rest(tmp_path):
    entries = {f"c{i:02d}": ["torch", "Module"] for i in range(12)}
    folder = _folder(tmp_path, **entries)
    identity = Identity("folder", str(folder), "StableDiffusionPipeline")
    with pytest.raises(UntrustedCodeError) as info:
        guard.check(identity, {})
    listed = "; ".join(f"c{i:02d}: ['torch', 'Module'] names the library 'torch'" for i in range(10))
    assert str(info.value) == (
        f"{folder}: model_index.json would make diffusers import or run code the checkpoint chose ({listed}; and 2 more). "
        "autopipe loads components only from diffusers, transformers and diffusers' own pipeline modules. "
        "If the entry is a mistake, correct it in model_index.json (e.g. [\"diffusers\", \"UNet2DConditionModel\"]); "
        "if you trust this checkpoint and its code, pass trust_remote_code=True (and import your own module before loading)."
    )
    one = _folder(tmp_path, name="one", unet=["torch", "Module"])
    with pytest.raises(UntrustedCodeError, match=r"\(unet: \['torch', 'Module'\] names the library 'torch'\)\. autopipe loads"):
        guard.check(Identity("folder", str(one), "StableDiffusionPipeline"), {})
    guard.check(Identity("folder", str(one), "StableDiffusionPipeline"), {"trust_remote_code": True})  # opted in: not checked


def test_live_pipelines_files_and_missing_identities_are_not_checked(tmp_path):
    guard.check(None, {})
    guard.check(Identity("pipeline", "x", "C", components={"unet": ("torch", "M")}), {})
    guard.check(Identity("file", "x", "C", components={"unet": ("torch", "M")}), {})


def test_other_origins_are_judged_by_what_the_identity_lists():
    identity = Identity("hub", "org/repo", "C", components={"unet": ("torch", "M"), "vae": ("diffusers", "AutoencoderKL"), "te": ("transformers", "X")},
                        files=("te/transformers.py",))
    assert guard.foreign(identity) == {
        "unet": "['torch', 'M'] names the library 'torch'",
        "te": "ships te/transformers.py, code diffusers would run in place of transformers.X",
    }
    assert guard.foreign(Identity("hub", "org/repo", "C", components={"vae": ("diffusers", "AutoencoderKL")}, files=None)) == {}


def test_nested_pipelines_are_followed_to_the_limit_and_named_by_their_path(tmp_path):
    top = _folder(tmp_path, prior=["diffusers", "DiffusionPipeline"])
    inner = top / "prior"
    write_model_index(inner, "KandinskyPriorPipeline", unet=dict(UNET))
    index = json.loads((inner / "model_index.json").read_text())
    index["image_encoder"] = ["os", "system"]
    (inner / "model_index.json").write_text(json.dumps(index))
    assert guard.foreign_in(top) == {"prior/image_encoder": "['os', 'system'] names the library 'os'"}
    index["_class_name"] = ["my_module", "MyPipeline"]
    index["image_encoder"] = ["diffusers", "X"]
    (inner / "model_index.json").write_text(json.dumps(index))
    (found,) = guard.foreign_in(top).items()
    assert found[0] == "prior" and found[1].startswith("is a pipeline whose model_index.json names the class \"['my_module', 'MyPipeline']\": a list there is a custom pipeline")
    folder = top
    for depth in range(guard.MAX_NESTING + 1):  # nest MAX_NESTING + 1 clean pipelines under a clean top
        folder = folder / "sub"
        write_model_index(folder, "StableDiffusionPipeline")
        parent = json.loads((folder.parent / "model_index.json").read_text())
        parent["sub"] = ["diffusers", "DiffusionPipeline"]
        (folder.parent / "model_index.json").write_text(json.dumps(parent))
    deep = guard.foreign_in(top)
    assert deep["sub/" * guard.MAX_NESTING + "sub"] == f"is a pipeline nested more than {guard.MAX_NESTING} levels deep; autopipe does not follow it"


def test_checked_hands_back_the_canonical_folder(tmp_path):
    folder = _folder(tmp_path)
    link = tmp_path / "link"
    link.symlink_to(folder, target_is_directory=True)
    model, kwargs = guard.checked(str(link), {"torch_dtype": "x"})
    assert model == str(folder.resolve()) and kwargs == {"torch_dtype": "x"}
    assert guard.check_model(str(link), {}) is None
    bad = _folder(tmp_path, name="bad", unet=["torch", "M"])
    with pytest.raises(UntrustedCodeError):
        guard.checked(str(bad), {})
    with pytest.raises(UntrustedCodeError):
        guard.check_model(str(bad), {})


def _hub(tmp_path, index: dict, commit: str = "c" * 40):
    from layouts import hub_cache

    files = {"model_index.json": json.dumps(index), "unet/config.json": json.dumps(UNET)}
    hub_cache(tmp_path / "hub", "someone/model", files, commit=commit)
    return tmp_path / "hub"


def test_a_hub_repo_is_checked_at_the_commit_read_and_loading_is_pinned_to_it(tmp_path):
    cache = _hub(tmp_path, {"_class_name": "StableDiffusionPipeline", "unet": ["diffusers", "UNet2DConditionModel"]})
    model, kwargs = guard.checked("someone/model", {"cache_dir": cache, "revision": "main", "torch_dtype": "x"})
    assert (model, kwargs) == ("someone/model", {"cache_dir": cache, "revision": "c" * 40, "torch_dtype": "x"})
    bad = _hub(tmp_path / "bad", {"_class_name": "StableDiffusionPipeline", "unet": ["torch", "Module"]})
    with pytest.raises(UntrustedCodeError, match=r"^someone/model: model_index.json would make diffusers import or run code the checkpoint chose \(unet: "):
        guard.checked("someone/model", {"cache_dir": bad})


def test_an_identity_of_another_origin_is_handed_back_as_given():
    live = Identity("pipeline", "x", "StableDiffusionPipeline")
    guard.check(live, {})
    assert guard.foreign(Identity("hub", "org/x", "C", components={"unet": ("torch", "M")}, commit=None)) == {"unet": "['torch', 'M'] names the library 'torch'"}


def test_the_snapshot_of_a_commit_is_read_from_the_cache_offline_or_fetched_json_only_online(tmp_path, monkeypatch):
    import huggingface_hub
    from huggingface_hub import constants

    from autopipe_core import ModelNotFoundError, sources

    cache = _hub(tmp_path, {"_class_name": "StableDiffusionPipeline"}, commit="d" * 40)
    snapshot = sources.hub_snapshot("someone/model", "d" * 40, cache_dir=cache, revision="main", token=None)
    assert snapshot == cache / "models--someone--model" / "snapshots" / ("d" * 40)
    with pytest.raises(ModelNotFoundError) as info:
        sources.hub_snapshot("someone/model", "e" * 40, cache_dir=cache)
    assert str(info.value).startswith(f"cannot get the JSON files of 'someone/model' at {'e' * 40} to check them before loading (")
    assert str(info.value).endswith("Connect once, or pass a local folder.")
    # Online, huggingface_hub fetches the JSON and Python files of that commit (the network stands in for a recorder here).
    asked = []
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda repo_id, **kw: asked.append((repo_id, kw)) or str(tmp_path))
    assert sources.hub_snapshot("someone/model", "f" * 40, cache_dir=cache, revision="main", token=None, torch_dtype="x") == tmp_path
    assert asked == [("someone/model", {"revision": "f" * 40, "allow_patterns": ["*.json", "*.py"], "cache_dir": cache})]
    asked.clear()
    assert sources.hub_snapshot("someone/model", "d" * 40, cache_dir=cache, local_files_only=True) == snapshot  # the cache, as offline
    assert asked == []

    def refused(repo_id, **kw):
        raise OSError("x" * 300)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", refused)
    with pytest.raises(ModelNotFoundError) as info:
        sources.hub_snapshot("someone/model", "f" * 40)
    assert str(info.value) == (
        f"cannot get the JSON files of 'someone/model' at {'f' * 40} to check them before loading (OSError: {'x' * 200}). Connect once, or pass a local folder."
    )


OWN = frozenset({("my_lib", "MyUNet")})


def _own_folder(tmp_path):
    """A pipeline whose top and nested prior each hold an entry the family builds itself, ["my_lib", "MyUNet"]."""
    top = _folder(tmp_path, name="own", unet=["my_lib", "MyUNet"], prior=["diffusers", "DiffusionPipeline"])
    write_model_index(top / "prior", "KandinskyPriorPipeline")
    index = json.loads((top / "prior" / "model_index.json").read_text())
    index["image_encoder"] = ["my_lib", "MyUNet"]
    (top / "prior" / "model_index.json").write_text(json.dumps(index))
    return top


def test_entries_the_family_builds_itself_pass_at_every_level_and_origin(tmp_path):
    top = _own_folder(tmp_path)
    identity = Identity("folder", str(top), "StableDiffusionPipeline")
    assert guard.foreign(identity) == {"unet": "['my_lib', 'MyUNet'] names the library 'my_lib'", "prior/image_encoder": "['my_lib', 'MyUNet'] names the library 'my_lib'"}
    assert guard.foreign(identity, own=OWN) == {}
    guard.check(identity, {}, OWN)
    assert guard.checked(str(top), {}, OWN) == (str(top.resolve()), {})
    with pytest.raises(UntrustedCodeError):
        guard.checked(str(top), {})
    listed = Identity("hub", "org/x", "C", components={"unet": ("my_lib", "MyUNet")}, commit=None)
    assert guard.foreign(listed, own=OWN) == {} and guard.foreign(listed) == {"unet": "['my_lib', 'MyUNet'] names the library 'my_lib'"}
    cache = _hub(tmp_path, {"_class_name": "StableDiffusionPipeline", "unet": ["my_lib", "MyUNet"]})
    assert guard.checked("someone/model", {"cache_dir": cache}, OWN) == ("someone/model", {"cache_dir": cache, "revision": "c" * 40})
    with pytest.raises(UntrustedCodeError):
        guard.checked("someone/model", {"cache_dir": cache})


def test_exactly_ten_refused_components_are_all_named_with_no_count(tmp_path):
    folder = _folder(tmp_path, **{f"c{i}": ["torch", "Module"] for i in range(guard.SHOWN)})
    with pytest.raises(UntrustedCodeError) as info:
        guard.check(Identity("folder", str(folder), "StableDiffusionPipeline"), {})
    listed = "; ".join(f"c{i}: ['torch', 'Module'] names the library 'torch'" for i in range(guard.SHOWN))
    assert f"the checkpoint chose ({listed}). autopipe loads" in str(info.value)


def test_the_hub_snapshot_checked_is_the_commit_that_was_read_not_the_branch(tmp_path):
    clean, bad = "a" * 40, "b" * 40
    from layouts import hub_cache

    cache = tmp_path / "hub"
    index = {"_class_name": "StableDiffusionPipeline", "unet": ["diffusers", "UNet2DConditionModel"]}
    hub_cache(cache, "someone/model", {"model_index.json": json.dumps(index)}, commit=clean)
    hub_cache(cache, "someone/model", {"model_index.json": json.dumps({**index, "unet": ["os", "system"]})}, commit=bad)  # main moved on
    read = Identity("hub", "someone/model", "StableDiffusionPipeline", components={"unet": ("diffusers", "UNet2DConditionModel")}, commit=clean)
    assert guard.foreign(read, {"cache_dir": cache}) == {}
    assert guard.foreign(Identity("hub", "someone/model", "C", commit=bad), {"cache_dir": cache}) == {"unet": "['os', 'system'] names the library 'os'"}


def test_a_hub_file_whose_commit_is_not_known_is_handed_back_with_the_callers_keywords(tmp_path):
    from layouts import hub_cache

    cache = tmp_path / "hub"
    hub_cache(cache, "someone/model", {"model_index.json": json.dumps({"_class_name": "StableDiffusionPipeline"})}, commit="not-a-commit-hash")
    assert guard.checked("someone/model", {"cache_dir": cache}) == ("someone/model", {"cache_dir": cache})


def test_the_tops_own_class_name_is_not_the_guards_to_judge(tmp_path):
    # The resolved class loads the top folder; only a nested pipeline's _class_name is looked up by diffusers.
    folder = _folder(tmp_path, _class_name=["my_module", "MyPipeline"])
    assert guard.foreign_in(folder) == {}


def test_a_nested_pipeline_is_named_by_its_folder_and_a_long_class_is_cut(tmp_path):
    top = _folder(tmp_path, priorX=["diffusers", "DiffusionPipeline"])
    write_model_index(top / "priorX", ["my_module", "A" * 100])
    (found,) = guard.foreign_in(top).items()
    shown = str(["my_module", "A" * 100])[:80]
    assert found == ("priorX", f"is a pipeline whose model_index.json names the class {shown!r}: "
                     "a list there is a custom pipeline, code from the checkpoint that diffusers would run")


def test_a_pipeline_folder_that_cannot_be_listed_is_named_and_why(tmp_path, monkeypatch):
    import errno

    from autopipe_core import sources

    # Running as root (as CI and this machine do), no permission bit makes a folder unlistable: the listing is made to fail.
    top = _folder(tmp_path, priorX=["diffusers", "DiffusionPipeline"])  # a name ending in X: cut at the last "/" only
    write_model_index(top / "priorX", "KandinskyPriorPipeline")
    listing = sources.list_folder

    def denied(folder, *needed):
        if folder.name in denied.names:
            raise PermissionError(errno.EACCES, "Permission denied", str(folder))
        return listing(folder, *needed)

    # Not a reason to trust the checkpoint's code (as it once said): the folder is named, and what to do.
    from autopipe_core import ModelNotFoundError

    denied.names = {"priorX"}
    monkeypatch.setattr(sources, "list_folder", denied)
    with pytest.raises(ModelNotFoundError) as info:
        guard.foreign_in(top)
    assert str(info.value) == f"cannot list {top / 'priorX'} (Permission denied): make it readable, or check the path"
    denied.names = {top.name}
    with pytest.raises(ModelNotFoundError, match=r"^cannot list .*/m \(Permission denied\)"):
        guard.foreign_in(top)


def test_a_broken_nested_model_index_is_named_by_its_path_in_the_pipeline(tmp_path):
    from autopipe_core import InvalidModelError

    top = _folder(tmp_path, prior=["diffusers", "DiffusionPipeline"])
    (top / "prior").mkdir()
    (top / "prior" / "model_index.json").write_text("{not json")
    with pytest.raises(InvalidModelError, match=r"^prior/model_index\.json \(.*\) is not valid JSON"):
        guard.foreign_in(top)
    (top / "prior" / "model_index.json").write_text(json.dumps({"_class_name": "KandinskyPriorPipeline", "prior": ["diffusers", "X", "Y"]}))
    with pytest.raises(InvalidModelError, match=r"^prior/model_index\.json: the component 'prior' is \[\"diffusers\", \"X\", \"Y\"\], not a \[library, class\] pair"):
        guard.foreign_in(top)


def _counting(monkeypatch):
    from autopipe_core import sources

    listing, calls = sources.list_folder, []

    def counted(folder, *needed):
        calls.append(folder)
        return listing(folder, *needed)

    monkeypatch.setattr(sources, "list_folder", counted)
    return calls


def test_a_pipeline_linked_inside_itself_is_refused_after_one_listing(tmp_path, monkeypatch):
    # Found by a hostile-input trial: thirty components linked to "." made the guard walk 30**3 nested pipelines
    # (155 s, 200 MB) before refusing; diffusers itself would load such a pipeline without end.
    from autopipe_core import InvalidModelError

    top = _folder(tmp_path, **{f"x{i}": ["diffusers", "UNet2DConditionModel"] for i in range(30)})
    for i in range(30):
        (top / f"x{i}").symlink_to(".")
    calls = _counting(monkeypatch)
    with pytest.raises(InvalidModelError) as info:
        guard.foreign_in(top)
    assert str(info.value) == (
        f"{top}: the component x0 is the pipeline folder {top} itself (a link back to it): diffusers would load "
        "the pipeline inside itself without end. Remove the link, or point it at the component's own folder."
    )
    assert len(calls) == 1


def test_a_pipeline_reached_through_many_links_is_checked_once(tmp_path, monkeypatch):
    shared = write_model_index(tmp_path / "shared", "KandinskyPriorPipeline", unet=dict(UNET))
    index = json.loads((shared / "model_index.json").read_text())
    index["image_encoder"] = ["os", "system"]
    (shared / "model_index.json").write_text(json.dumps(index))
    top = _folder(tmp_path, **{f"p{i}": ["diffusers", "DiffusionPipeline"] for i in range(20)})
    for i in range(20):
        (top / f"p{i}").symlink_to(shared)
    calls = _counting(monkeypatch)
    # Its problems are said once, under the first path that reaches it (the others name the same folder).
    assert guard.foreign_in(top) == {"p0/image_encoder": "['os', 'system'] names the library 'os'"}
    assert len(calls) == 2


def test_a_subfolder_that_cannot_be_listed_and_is_no_component_is_not_the_guards_concern(tmp_path, monkeypatch):
    # lost+found on a mounted volume, notes a user locked: diffusers never reads them, so loading goes on.
    import errno
    import os

    from autopipe_core import sources

    top = _folder(tmp_path)
    (top / "notes").mkdir()
    scandir = os.scandir

    def denied(path):
        if str(path).endswith("notes"):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", denied)
    assert "unet/config.json" in sources.list_folder(top, needed={"unet"})
    assert "notes" not in {f.partition("/")[0] for f in sources.list_folder(top, needed={"unet"})}
    with pytest.raises(PermissionError) as info:  # asked for every folder: the one that fails is named
        sources.list_folder(top)
    assert info.value.filename == str(top / "notes")
    assert guard.foreign_in(top) == {}
    assert sources.identify(top, lambda names: ()).files[:1]  # the identity's listing skips it too


def test_a_null_component_whose_folder_is_a_link_loop_is_not_read(tmp_path):
    # safety_checker: [null, null] is a component diffusers does not load; a broken link in its place changes nothing.
    from autopipe_core import sources

    top = _folder(tmp_path, safety_checker=[None, None])
    (top / "safety_checker").symlink_to("safety_checker")
    assert guard.foreign_in(top) == {}
    assert "unet/config.json" in sources.identify(top, lambda names: ()).files


def test_a_none_py_beside_model_index_is_code_diffusers_would_run(tmp_path):
    # diffusers looks for f"{custom_pipeline}.py" in the folder even when custom_pipeline is None (pipeline_loading_utils.
    # _resolve_custom_pipeline_and_cls), and loads a None.py it finds as a custom pipeline; only diffusers 0.42's own
    # trust check stopped it, after torch and diffusers were imported, with a bare ValueError.
    top = _folder(tmp_path, prior=["diffusers", "DiffusionPipeline"])
    (top / "None.py").write_text("open('PWNED', 'w')")
    write_model_index(top / "prior", "KandinskyPriorPipeline")
    (top / "prior" / "None.py").write_text("open('PWNED', 'w')")
    why = "ships None.py, which diffusers loads as a custom pipeline when none is asked for (it looks for '<custom_pipeline>.py', and custom_pipeline is None)"
    assert guard.foreign_in(top) == {"None.py": why, "prior/None.py": why}
    identity = Identity("folder", str(top), "StableDiffusionPipeline", {}, {}, ())
    with pytest.raises(UntrustedCodeError, match=r"\(None\.py: ships None\.py, which diffusers loads as a custom pipeline"):
        guard.check(identity, {})
    guard.check(identity, {"trust_remote_code": True})


def test_a_component_folder_that_cannot_be_listed_is_named_by_its_own_path_and_why(tmp_path):
    top = _folder(tmp_path, text_encoder=["transformers", "CLIPTextModel"])
    (top / "text_encoder").symlink_to("text_encoder")  # a link loop where a component's folder should be
    with pytest.raises(ModelNotFoundError) as info:
        guard.foreign_in(top)
    assert str(info.value) == f"cannot list {top / 'text_encoder'} (Too many levels of symbolic links): make it readable, or check the path"


def test_the_components_after_a_pipeline_checked_already_are_still_checked(tmp_path):
    shared = write_model_index(tmp_path / "shared", "KandinskyPriorPipeline", unet=dict(UNET))
    top = _folder(tmp_path, p0=["diffusers", "DiffusionPipeline"], p1=["diffusers", "DiffusionPipeline"], zz=["os", "system"])
    (top / "p0").symlink_to(shared)
    (top / "p1").symlink_to(shared)
    assert guard.foreign_in(top) == {"zz": "['os', 'system'] names the library 'os'"}


def test_a_link_back_from_a_nested_pipeline_is_refused_naming_the_top_folder(tmp_path):
    from autopipe_core import InvalidModelError

    top = _folder(tmp_path, prior=["diffusers", "DiffusionPipeline"])
    prior = write_model_index(top / "prior", "KandinskyPriorPipeline")
    index = json.loads((prior / "model_index.json").read_text())
    index["back"] = ["diffusers", "DiffusionPipeline"]
    (prior / "model_index.json").write_text(json.dumps(index))
    (prior / "back").symlink_to("..")
    with pytest.raises(InvalidModelError) as info:
        guard.foreign_in(top)
    assert str(info.value) == (
        f"{top}: the component prior/back is the pipeline folder {top} itself (a link back to it): diffusers would load "
        "the pipeline inside itself without end. Remove the link, or point it at the component's own folder."
    )
