"""resolve(): folders, hub ids through a local hub cache, live pipelines, and every error on the way."""

import io
import json
import os

import pytest
from layouts import hub_cache, write_model_index

from autopipe_core import (
    InvalidModelError,
    ModelNotFoundError,
    Task,
    UnsupportedModelError,
    UnsupportedTaskError,
    resolve,
)

SD_CLASSES = {
    Task.TEXT2IMG: "StableDiffusionPipeline",
    Task.IMG2IMG: "StableDiffusionImg2ImgPipeline",
    Task.INPAINT: "StableDiffusionInpaintPipeline",
}
SD_PAG_CLASSES = {
    Task.TEXT2IMG: "StableDiffusionPAGPipeline",
    Task.IMG2IMG: "StableDiffusionPAGImg2ImgPipeline",
    Task.INPAINT: "StableDiffusionPAGInpaintPipeline",
}


@pytest.mark.parametrize("task", list(Task))
def test_folder_resolves_to_the_class_for_each_task(tiny_sd, task):
    r = resolve(tiny_sd, task)
    assert (r.family, r.task, r.pipeline_class, r.plugin) == ("stable-diffusion", task, SD_CLASSES[task], "autopipe-sd")
    assert r.class_ref == f"diffusers:{SD_CLASSES[task]}"
    assert r.modifiers == frozenset()


@pytest.mark.parametrize("task", list(Task))
def test_enable_pag_picks_the_pag_class(tiny_sd, task):
    r = resolve(str(tiny_sd), task.value, enable_pag=True)
    assert r.pipeline_class == SD_PAG_CLASSES[task]
    assert r.modifiers == {"pag"}


@pytest.mark.parametrize("saved", ["StableDiffusionImg2ImgPipeline", "StableDiffusionInpaintPipeline", "StableDiffusionPAGPipeline"])
def test_any_class_of_the_family_in_model_index_resolves(tmp_path, saved):
    folder = write_model_index(tmp_path / "m", saved)
    assert resolve(folder, "img2img").family == "stable-diffusion"
    # a checkpoint saved as a PAG pipeline stays PAG unless told otherwise, as in diffusers
    expected = SD_PAG_CLASSES if "PAG" in saved else SD_CLASSES
    assert resolve(folder, "inpaint").pipeline_class == expected[Task.INPAINT]
    assert resolve(folder, "inpaint", enable_pag=False).pipeline_class == SD_CLASSES[Task.INPAINT]


def test_inpainting_only_checkpoint_resolves_for_inpaint(tiny_sd_inpainting):
    r = resolve(tiny_sd_inpainting, "inpaint")
    assert r.pipeline_class == "StableDiffusionInpaintPipeline"
    assert r.variant == "inpainting-only"


@pytest.mark.parametrize("task", [Task.TEXT2IMG, Task.IMG2IMG])
def test_inpainting_only_checkpoint_refuses_other_tasks_naming_the_one_that_works(tiny_sd_inpainting, task):
    with pytest.raises(UnsupportedTaskError) as info:
        resolve(tiny_sd_inpainting, task)
    message = str(info.value)
    assert "9 input channels" in message and "AutoPipelineForInpainting" in message and task.value in message
    assert isinstance(info.value, ValueError)


def test_shap_e_is_unsupported_naming_the_class(tmp_path):
    # diffusers' documented example of a checkpoint AutoPipeline cannot handle
    folder = write_model_index(tmp_path / "shap-e-img2img", "ShapEImg2ImgPipeline")
    with pytest.raises(UnsupportedModelError, match="ShapEImg2ImgPipeline") as info:
        resolve(folder, "img2img")
    assert isinstance(info.value, ValueError)
    assert "pip install autopipe" not in str(info.value)  # no plugin of this project would handle it


@pytest.fixture
def only_sd_installed(installed_only):
    """As in an environment where autopipe-sd is the only plugin installed: the others are then not installed, rather
    than left out by AUTOPIPE_PLUGINS (tests/edges/test_plugin_settings.py)."""
    installed_only("autopipe-sd")


def test_a_family_of_an_uninstalled_plugin_names_the_pip_install_line(tmp_path, only_sd_installed):
    folder = write_model_index(tmp_path / "sdxl", "StableDiffusionXLPipeline")
    with pytest.raises(UnsupportedModelError, match="pip install ./plugins/autopipe-sdxl"):
        resolve(folder, "text2img")


def test_with_no_plugin_at_all_sd_names_autopipe_sd(monkeypatch, tiny_sd, installed_only):
    monkeypatch.setenv("AUTOPIPE_PLUGINS", "")
    installed_only()
    with pytest.raises(UnsupportedModelError, match="pip install ./plugins/autopipe-sd"):
        resolve(tiny_sd, "text2img")


def test_controlnet_without_its_plugin_says_to_install_it(tiny_sd, only_sd_installed):
    with pytest.raises(UnsupportedModelError, match="pip install ./plugins/autopipe-controlnet"):
        resolve(tiny_sd, "text2img", controlnet=object())


def test_recognised_but_not_loadable_class_says_what_to_use(tmp_path):
    folder = write_model_index(tmp_path / "x4", "StableDiffusionUpscalePipeline")
    with pytest.raises(UnsupportedModelError, match="diffusers.StableDiffusionUpscalePipeline"):
        resolve(folder, "img2img")


def test_a_misspelt_modifier_is_a_type_error_naming_the_modifier(tiny_sd):
    from autopipe_core import AutoPipelineForText2Image

    with pytest.raises(TypeError, match="'enable_pg': did you mean 'enable_pag'"):
        resolve(tiny_sd, "text2img", enable_pg=True)
    with pytest.raises(TypeError, match="did you mean 'enable_pag'"):  # before any weight is read
        AutoPipelineForText2Image.from_pretrained(tiny_sd, enable_pg=True)


def test_resolve_takes_every_keyword_from_pretrained_takes(tiny_sd):
    import torch

    r = resolve(tiny_sd, "text2img", torch_dtype=torch.float16, variant="fp16", use_safetensors=True,
                requires_safety_checker=False, safety_checker=None, low_cpu_mem_usage=True)
    assert r.pipeline_class == "StableDiffusionPipeline"
    assert resolve(tiny_sd, "text2img", torch_dtype=torch.float16, enable_pag=True).pipeline_class == "StableDiffusionPAGPipeline"


# --- the hub, through a local hub cache: only JSON is needed ---------------------------------


def _json_only_cache(tmp_path, tiny, repo_id="someone/tiny-sd"):
    files = {"model_index.json": tiny / "model_index.json", "unet/config.json": tiny / "unet" / "config.json"}
    hub_cache(tmp_path / "hub", repo_id, files)
    return tmp_path / "hub"


def test_hub_repo_id_resolves_from_json_alone(tmp_path, tiny_sd):
    cache = _json_only_cache(tmp_path, tiny_sd)
    r = resolve("someone/tiny-sd", "img2img", cache_dir=cache)
    assert r.pipeline_class == "StableDiffusionImg2ImgPipeline"
    assert r.identity.origin == "hub"


def test_hub_reads_the_unet_config_to_refuse_an_inpainting_only_repo(tmp_path, tiny_sd_inpainting):
    cache = _json_only_cache(tmp_path, tiny_sd_inpainting, "runwayml/stable-diffusion-inpainting")
    with pytest.raises(UnsupportedTaskError, match="AutoPipelineForInpainting"):
        resolve("runwayml/stable-diffusion-inpainting", "text2img", cache_dir=cache, local_files_only=True)


def test_hub_revision_is_honoured(tmp_path, tiny_sd, tiny_sd_inpainting):
    cache = tmp_path / "hub"
    files = lambda t: {"model_index.json": t / "model_index.json", "unet/config.json": t / "unet" / "config.json"}  # noqa: E731
    hub_cache(cache, "org/model", files(tiny_sd), commit="1" * 40, ref="main")
    hub_cache(cache, "org/model", files(tiny_sd_inpainting), commit="2" * 40, ref="inpainting")
    assert resolve("org/model", "text2img", cache_dir=cache).pipeline_class == "StableDiffusionPipeline"
    with pytest.raises(UnsupportedTaskError):
        resolve("org/model", "text2img", cache_dir=cache, revision="inpainting")


def test_hub_repo_not_in_cache_while_offline_is_a_clear_error(tmp_path):
    with pytest.raises(ModelNotFoundError, match="not in the hub cache") as info:
        resolve("nobody/nothing", "text2img", cache_dir=tmp_path / "empty-hub")
    assert isinstance(info.value, OSError)


# --- live pipelines --------------------------------------------------------------------------


def test_a_live_pipeline_resolves_by_its_class_and_its_bases(tiny_sd):
    from diffusers import StableDiffusionPipeline

    class MyPipeline(StableDiffusionPipeline):
        pass

    pipe = MyPipeline.from_pretrained(tiny_sd)
    assert resolve(pipe, "inpaint").pipeline_class == "StableDiffusionInpaintPipeline"
    assert resolve(pipe, "inpaint").identity.origin == "pipeline"


# --- bad input -------------------------------------------------------------------------------


def test_missing_path_is_model_not_found(tmp_path):
    with pytest.raises(ModelNotFoundError, match="there is no folder or file at"):
        resolve(str(tmp_path / "no" / "such" / "folder"), "text2img")


def test_folder_without_model_index(tmp_path):
    (tmp_path / "unet").mkdir()
    with pytest.raises(InvalidModelError, match="no model_index.json"):
        resolve(tmp_path, "text2img")


@pytest.mark.parametrize(
    "content, match",
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        (json.dumps({"unet": ["diffusers", "UNet2DConditionModel"]}), "no '_class_name'"),
        (json.dumps({"_class_name": 42}), "must be a string"),
        (json.dumps({"_class_name": "os.system"}), "not a Python class name"),
        (json.dumps({"_class_name": "A" * 10_000}), "not a Python class name"),
        ('{"_class_name": "StableDiffusionPipeline", "unet": ["diffus', "not valid JSON"),  # a truncated download
        ("[" * 100_000 + "]" * 100_000, "not valid JSON"),  # nesting beyond the recursion limit
        ('{"_class_name": ' + "9" * 5_000 + "}", "not valid JSON"),  # an integer beyond int_max_str_digits
        ("\ufeff\x00\xff", "not valid JSON"),
    ],
)
def test_malformed_model_index(tmp_path, content, match):
    (tmp_path / "model_index.json").write_text(content)
    with pytest.raises(InvalidModelError, match=match):
        resolve(tmp_path, "text2img")


def test_missing_component_config_is_named(tmp_path, tiny_sd):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "model_index.json").write_bytes((tiny_sd / "model_index.json").read_bytes())
    with pytest.raises(InvalidModelError, match="unet/config.json is missing"):
        resolve(folder, "text2img")


@pytest.mark.parametrize("content, match", [("{not json", "not valid JSON"), ("[]", "JSON object"), ("null", "JSON object")])
def test_invalid_component_config_is_named(tmp_path, tiny_sd, content, match):
    folder = write_model_index(tmp_path / "m", "StableDiffusionPipeline", unet={})
    (folder / "unet" / "config.json").write_text(content)
    with pytest.raises(InvalidModelError, match=f"unet/config.json .*{match}"):
        resolve(folder, "text2img")


def test_a_fifo_named_config_json_fails_at_once_instead_of_hanging(tmp_path):
    folder = write_model_index(tmp_path / "m", "StableDiffusionPipeline", unet={})
    (folder / "unet" / "config.json").unlink()
    os.mkfifo(folder / "unet" / "config.json")  # opening it for reading would wait for a writer forever
    with pytest.raises(InvalidModelError, match="not a regular file"):
        resolve(folder, "text2img")


def test_a_two_gigabyte_model_index_is_refused_without_reading_it(tmp_path, monkeypatch):
    from autopipe_core import files, sources

    (tmp_path / "model_index.json").write_bytes(b"{")
    os.truncate(tmp_path / "model_index.json", 2 * 2**30)  # sparse: costs no disk
    read = []

    class Counting(io.FileIO):
        def read(self, size=-1):
            read.append(size)
            return super().read(size)

    monkeypatch.setattr(files, "open", lambda fd, mode: Counting(fd, mode), raising=False)
    with pytest.raises(InvalidModelError, match=f"2147483648 bytes; autopipe reads at most {sources.MAX_JSON_BYTES}"):
        resolve(tmp_path, "text2img")
    assert read == []


def test_unreadable_files_are_model_not_found_with_the_reason(tmp_path, monkeypatch):
    loop = tmp_path / "loop"
    loop.mkdir()
    (loop / "model_index.json").symlink_to(loop / "model_index.json")
    with pytest.raises(ModelNotFoundError, match="cannot read model_index.json .*symbolic links"):
        resolve(loop, "text2img")
    dangling = tmp_path / "dangling"
    dangling.mkdir()
    (dangling / "model_index.json").symlink_to(tmp_path / "blob-never-downloaded")
    with pytest.raises(ModelNotFoundError, match="link to a file that does not exist"):
        resolve(dangling, "text2img")
    # Permission denied (simulated: these tests may run as root, whom chmod does not stop).
    denied = write_model_index(tmp_path / "denied", "StableDiffusionPipeline")
    real_open = os.open
    monkeypatch.setattr(os, "open", lambda p, *a: (_ for _ in ()).throw(PermissionError(13, "Permission denied")) if str(p).startswith(str(denied)) else real_open(p, *a))
    with pytest.raises(ModelNotFoundError, match="cannot read model_index.json .*Permission denied"):
        resolve(denied, "text2img")


def test_a_hub_id_while_offline_fails_without_touching_the_network(tmp_path, monkeypatch):
    import socket

    attempts = []

    def no_network(*args, **kwargs):
        attempts.append(args)
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    with pytest.raises(ModelNotFoundError, match="offline") as info:
        resolve("someone/never-downloaded", "text2img", cache_dir=tmp_path / "hub")
    assert attempts == [] and "pass a local folder" in str(info.value)


def test_a_file_that_is_not_safetensors_is_refused_clearly(tmp_path):
    f = tmp_path / "model.safetensors"
    f.write_bytes(b"\0" * 16)
    with pytest.raises(InvalidModelError, match="not a valid safetensors file.*download it again"):
        resolve(f, "text2img")


def test_an_unreachable_hub_fails_at_once_with_the_reason_and_how_to_work_offline(tmp_path):
    import socket
    import subprocess
    import sys

    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now: connections are refused
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HTTP", "http"))}
    env.update(HF_HUB_OFFLINE="0", HF_ENDPOINT=f"http://127.0.0.1:{port}", HF_HOME=str(tmp_path / "hf"), AUTOPIPE_PLUGINS="autopipe-sd")
    out = subprocess.run([sys.executable, "-m", "autopipe_core.cli", "resolve", "someone/some-model"], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 1, out.stderr
    assert "the hub cannot be reached (127.0.0.1" in out.stderr and "HF_HUB_OFFLINE=1" in out.stderr
    assert "Retrying" not in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_a_path_like_reference_that_names_nothing_is_a_missing_folder(tmp_path, monkeypatch):
    (tmp_path / "models").mkdir()
    monkeypatch.chdir(tmp_path)
    for reference in ("models/sd-15", "./sd15", "checkpoints/a/b", "~/no-such-model-here/"):
        with pytest.raises(ModelNotFoundError, match="there is no folder or file at"):
            resolve(reference, "text2img")
