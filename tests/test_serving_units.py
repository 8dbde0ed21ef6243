"""The serving deployment's plain-Python parts, without Ray: options, the catalog, the resource request, the request
checks, loading and running a request directly, and `autopipe serve`'s mistakes. tests/test_serving.py runs the
deployment itself on a real local Ray."""

import base64
import io
import json
import os
import subprocess
import sys

import pytest
from PIL import Image

from autopipe_core.errors import UnsupportedModelError
from autopipe_core.serving.catalog import catalog
from autopipe_core.serving.options import ServeConfigError, ServeOptions, model_ids
from autopipe_core.serving.protocol import Limits, RequestError, encode_image, parse_json, parse_request, task_of
from autopipe_core.serving.resources import replica_resources
from autopipe_core.tasks import Task
from autopipe_core.units import GiB, MiB


def _png(size=(64, 64), mode="RGB", color=0) -> str:
    return encode_image(Image.new(mode, size, color))


# --- options ---------------------------------------------------------------------------------------------------


def test_model_ids_come_from_the_folder_name_or_a_name_given(tmp_path):
    folder = tmp_path / "my-model"
    folder.mkdir()
    assert model_ids([str(folder), "sd=/elsewhere/x", "org/repo", "/a/b=c"]) == (
        ("my-model", str(folder)), ("sd", "/elsewhere/x"), ("org/repo", "org/repo"), ("/a/b=c", "/a/b=c"))


def test_options_refuse_what_cannot_work():
    with pytest.raises(ServeConfigError, match="name them apart"):
        ServeOptions(models=(("a", "/x"), ("a", "/y")))
    with pytest.raises(ServeConfigError, match="HTTP header"):
        ServeOptions(models=(("a b", "/x"),))
    with pytest.raises(ServeConfigError, match="max_size must be a multiple of 8"):
        ServeOptions(models=(("a", "/x"),), max_size=100)
    with pytest.raises(ServeConfigError, match="no checkpoint"):
        ServeOptions(models=())
    with pytest.raises(ServeConfigError, match="gpu_memory was given with device cpu"):
        ServeOptions(models=(("a", "/x"),), device="cpu", gpu_memory=GiB)


def test_options_from_a_config_files_args():
    opts = ServeOptions.from_args({"models": {"sd": "/m/sd", "xl": "org/xl"}, "gpu_memory": "80GiB", "replicas": 2})
    assert opts.models == (("sd", "/m/sd"), ("xl", "org/xl")) and opts.gpu_memory == 80 * GiB and opts.replicas == 2
    assert ServeOptions.from_args({"models": ["sd=/m/sd"]}).models == (("sd", "/m/sd"),)
    with pytest.raises(ServeConfigError, match="unknown option.*'replica'"):
        ServeOptions.from_args({"models": ["/m"], "replica": 2})
    with pytest.raises(ServeConfigError, match="gpu_memory"):
        ServeOptions.from_args({"models": ["/m"], "gpu_memory": "lots"})


# --- the catalog and the resources --------------------------------------------------------------------------------


def test_the_catalog_resolves_each_task_and_keeps_the_reasons_of_refusals(tiny_sd, tiny_sd_inpainting):
    sd, inp = catalog([("sd", str(tiny_sd)), ("inp", str(tiny_sd_inpainting))])
    assert sd.tasks == (Task.TEXT2IMG, Task.IMG2IMG, Task.INPAINT) and sd.loads_with is Task.TEXT2IMG and not sd.refused
    assert inp.tasks == (Task.INPAINT,) and inp.loads_with is Task.INPAINT
    reason = inp.refusal(Task.TEXT2IMG)
    assert "inpainting-only" in reason and "inp is" in reason and str(tiny_sd_inpainting) not in reason
    assert inp.to_json()["pipelines"] == {"text2img": None, "img2img": None, "inpaint": "StableDiffusionInpaintPipeline"}
    assert "source" not in inp.to_json()


def test_an_unsupported_checkpoint_is_refused_when_the_catalog_is_built(tmp_path):
    (tmp_path / "model_index.json").write_text(json.dumps({"_class_name": "ShapEImg2ImgPipeline", "_diffusers_version": "0.30.0"}))
    with pytest.raises(UnsupportedModelError, match="ShapEImg2ImgPipeline"):
        catalog([("x", str(tmp_path))])


def test_the_resource_request_is_the_planners_figures(tiny_sd, tiny_sd_inpainting):
    from autopipe_core import planning
    from autopipe_core.resolve import resolve
    from autopipe_core.specs import DeviceFacts

    models = catalog([("sd", str(tiny_sd)), ("inp", str(tiny_sd_inpainting))])
    cpu = replica_resources(models, "cpu", 2, 64)
    sd_plan = planning.plan(resolve(str(tiny_sd), "text2img"), DeviceFacts("cpu", 0), 64, 64)
    sd_need = next(n for n in cpu.needs if n.id == "sd")
    assert (sd_need.weights, sd_need.activation) == (sd_plan.footprint.weights, sd_plan.footprint.activation.nbytes)
    total = sum(n.weights for n in cpu.needs) + max(n.activation for n in cpu.needs)
    assert cpu.num_gpus == 0 and total <= cpu.memory < total + MiB and cpu.budgets == ()
    one = replica_resources(models, "cpu", 1, 64)  # holds one at a time: the larger one's weights
    assert one.memory < cpu.memory
    bigger = replica_resources(models, "cpu", 2, 512)  # the allowance grows with the largest side accepted
    assert bigger.memory > cpu.memory

    gpu = replica_resources(models, "cuda", 2, 512, cpus=0.5, gpu_memory=80 * GiB)
    assert 0 < gpu.num_gpus < 1 and gpu.actor_options()["num_cpus"] == 0.5
    share = int(gpu.num_gpus * 80 * GiB)
    need = sum(n.weights for n in gpu.needs) + max(n.activation for n in gpu.needs)
    assert need <= share and dict(gpu.budgets).keys() == {"sd", "inp"}
    for n in gpu.needs:  # each checkpoint's budget leaves room for the other it may sit beside
        assert dict(gpu.budgets)[n.id] >= n.weights + max(o.activation for o in gpu.needs)
    whole = replica_resources(models, "cuda", 2, 512)
    assert whole.num_gpus == 1 and whole.budgets == () and "unknown" in whole.reason
    small = replica_resources(models, "cuda", 2, 512, gpu_memory=GiB // 4)  # does not fit: a whole GPU, offloading
    assert small.num_gpus == 1 and small.budgets == ()


def test_replicas_that_cannot_be_placed_are_said_before_deploying():
    from autopipe_core.serving.resources import ReplicaResources, unplaceable

    def request(cpus, gpus, memory=GiB):
        return ReplicaResources("cuda" if gpus else "cpu", cpus, gpus, memory, (), (), "")

    node = {"CPU": 2.0, "GPU": 1.0, "memory": 8.0 * GiB}
    assert unplaceable(request(0.5, 0), 4, node) is None
    assert "4 x 1 CPUs, and Ray has 2" in unplaceable(request(1, 0), 4, node)
    assert "room for 1" in unplaceable(request(0.5, 1.0), 2, node) and "--gpu-memory" in unplaceable(request(0.5, 1.0), 2, node)
    assert unplaceable(request(0.5, 0.33), 3, node) is None  # three thirds of one GPU
    assert "room for 1" in unplaceable(request(0.5, 0.57), 2, node)  # two 0.57s do not share one GPU
    assert "of memory" in unplaceable(request(0.5, 0, 5 * GiB), 2, node)
    assert "Ray has 0 GPU(s)" in unplaceable(request(0.5, 1.0), 1, {"CPU": 2.0, "memory": 8.0 * GiB})


# --- requests -------------------------------------------------------------------------------------------------


LIMITS = Limits(max_size=64, max_steps=10, default_steps=4)


@pytest.mark.parametrize("path, task", [("/text2img", Task.TEXT2IMG), ("/image-to-image", Task.IMG2IMG), ("/inpainting", Task.INPAINT)])
def test_the_path_names_the_task(path, task):
    assert task_of(path) is task


@pytest.mark.parametrize("task, data, status, said", [
    (None, b"{", 400, "not JSON"),
    (None, b"[1]", 400, "JSON object"),
    (Task.TEXT2IMG, {"steps": 2}, 400, "\"prompt\" is required"),
    (Task.TEXT2IMG, {"prompt": "x", "step": 2}, 400, "unknown field(s) 'step'"),
    (Task.TEXT2IMG, {"prompt": "x", "steps": 11}, 400, "\"steps\" must be from 1 to 10"),
    (Task.TEXT2IMG, {"prompt": "x", "steps": "2"}, 400, "whole number"),
    (Task.TEXT2IMG, {"prompt": "x", "size": 60}, 400, "multiple of 8"),
    (Task.TEXT2IMG, {"prompt": "x", "size": 72}, 400, "from 8 to 64"),
    (Task.TEXT2IMG, {"prompt": "x", "size": [64]}, 400, "[width, height]"),
    (Task.TEXT2IMG, {"prompt": "x", "image": "AAAA"}, 400, "text2img takes no \"image\""),
    (Task.IMG2IMG, {"prompt": "x"}, 400, "img2img needs \"image\""),
    (Task.IMG2IMG, {"prompt": "x", "image": "not base64!"}, 400, "not valid base64"),
    (Task.IMG2IMG, {"prompt": "x", "image": base64.b64encode(b"hello").decode()}, 400, "not an image PIL can read"),
    (Task.IMG2IMG, {"prompt": "x", "image": _png((60, 64))}, 400, "multiples of 8"),
    (Task.IMG2IMG, {"prompt": "x", "image": _png((300, 64))}, 400, "at most 256x256"),
    (Task.IMG2IMG, {"prompt": "x", "image": _png(), "strength": 0}, 400, "\"strength\" must be above 0"),
    (Task.IMG2IMG, {"prompt": "x", "image": _png(), "steps": 2, "strength": 0.3}, 400, "fewer than one denoising step"),
    (Task.IMG2IMG, {"prompt": "x", "image": _png(), "mask": _png(mode="L")}, 400, "img2img takes no \"mask\""),
    (Task.INPAINT, {"prompt": "x", "image": _png()}, 400, "inpaint needs \"mask\""),
    (Task.INPAINT, {"prompt": "x", "image": _png(), "mask": _png((32, 32), "L")}, 400, "the same size"),
])
def test_a_bad_request_is_refused_with_its_reason(task, data, status, said):
    with pytest.raises(RequestError) as info:
        parse_request(task, parse_json(data if isinstance(data, bytes) else json.dumps(data).encode(), LIMITS), LIMITS)
    assert info.value.status == status and said in str(info.value)


def test_unknown_routes_and_large_bodies():
    with pytest.raises(RequestError) as info:
        task_of("/video")
    assert info.value.status == 404 and "POST /text2img" in str(info.value)
    with pytest.raises(RequestError) as info:
        parse_json(b" " * (LIMITS.max_body_bytes + 1), LIMITS)
    assert info.value.status == 413


def test_a_good_request_is_decoded():
    call = parse_request(Task.INPAINT, {"prompt": "x", "image": "data:image/png;base64," + _png(), "mask": _png(mode="L", color=255), "seed": 3}, LIMITS)
    assert (call.width, call.height, call.steps, call.seed) == (64, 64, 4, 3)
    assert call.image.mode == "RGB" and call.mask.mode == "L"
    call = parse_request(Task.TEXT2IMG, {"prompt": "x", "size": [32, 48], "model": "sd"}, LIMITS)
    assert (call.width, call.height, call.model) == (32, 48, "sd")


# --- loading and running without Ray ------------------------------------------------------------------------------


def test_a_replica_loads_once_and_serves_three_tasks_on_the_same_weights(tiny_sd):
    from autopipe_core.serving.replica import generate, load_model

    (model,) = catalog([("sd", str(tiny_sd))])
    loaded = load_model(model)
    t2i, i2i, inp = (loaded.pipelines[t] for t in Task)
    assert i2i.unet is t2i.unet and inp.vae is t2i.vae and loaded.placement == "device"
    image = generate(loaded, parse_request(Task.TEXT2IMG, {"prompt": "x", "steps": 2, "size": [32, 48]}, LIMITS))
    assert image.size == (32, 48)
    image = generate(loaded, parse_request(Task.IMG2IMG, {"prompt": "x", "steps": 2, "size": 40, "image": _png()}, LIMITS))
    assert image.size == (40, 40)  # SD's img2img takes no height/width: the input was resized to the size asked
    with pytest.raises(RequestError, match="fewer than one"):  # img2img's own default strength (0.8) x 1 step
        generate(loaded, parse_request(Task.IMG2IMG, {"prompt": "x", "steps": 1, "image": _png()}, LIMITS))


# --- the command line ------------------------------------------------------------------------------------------


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ), timeout=120)


def test_serving_imports_no_ray_until_it_serves():
    code = (
        "import contextlib, io, sys\nimport autopipe_core, autopipe_core.serving\n"
        "from autopipe_core.serving import options, catalog, resources, protocol, replica\nfrom autopipe_core.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    for argv in (['--help'], ['serve', '--help']):\n        try:\n            main(argv)\n        except SystemExit:\n            pass\n"
        "print(sorted(m for m in ('ray', 'torch', 'diffusers') if m in sys.modules))"
    )
    out = _run(code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_without_ray_serve_says_how_to_install_the_extra(tiny_sd):
    out = _run(f"import sys\nsys.modules['ray'] = None\nfrom autopipe_core.cli import main\nsys.exit(main(['serve', {str(tiny_sd)!r}]))")
    assert out.returncode == 2
    assert out.stderr.startswith("autopipe: error: autopipe serve needs Ray Serve") and out.stderr.count("\n") == 1
    assert "pip install 'autopipe-core[serve]'" in out.stderr


@pytest.mark.parametrize("argv, said", [
    (["serve"], "the following arguments are required: MODEL"),
    (["serve", "x", "--replicas", "0"], "--replicas must be from 1 to 1024"),
    (["serve", "x", "--max-size", "100"], "--max-size must be a multiple of 8"),
    (["serve", "x", "--cpus-per-replica", "0"], "--cpus-per-replica must be above 0"),
    (["serve", "x", "--gpu-memory", "80"], "has no unit"),
    (["serve", "x", "--steps", "200"], "--steps 200 is more than --max-steps 150"),
    (["serve", "a=x", "a=y"], "name them apart"),
])
def test_serve_mistakes_are_one_line(capsys, argv, said):
    from autopipe_core.cli import main

    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("autopipe: error: ") and err.count("\n") == 1 and said in err, err


def test_serve_refuses_an_unsupported_checkpoint_before_starting_ray(capsys, tiny_sd_inpainting, tmp_path):
    from autopipe_core.cli import main

    (tmp_path / "model_index.json").write_text(json.dumps({"_class_name": "ShapEImg2ImgPipeline"}))
    assert main(["serve", str(tiny_sd_inpainting), str(tmp_path), "--port", str(_free_port())]) == 1
    err = capsys.readouterr().err
    assert err.startswith("autopipe: error: no installed autopipe plugin handles ShapEImg2ImgPipeline") and err.count("\n") == 1


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_serve_refuses_a_port_in_use(capsys, tiny_sd):
    import socket

    from autopipe_core.cli import main

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", str(tiny_sd), "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"autopipe: error: cannot listen on 127.0.0.1:{port}") and err.count("\n") == 1


def test_out_of_memory_in_a_request_is_a_503_that_frees_memory_and_any_other_failure_a_500(monkeypatch):
    """The deployment's own answer to a failing request, without Ray running: its request handler raising torch's
    OutOfMemoryError is a 503 saying to retry or ask for less, after the device memory is given back; anything else a 500."""
    import asyncio
    import json as json_module

    import torch

    from autopipe_core.serving import deployment

    server = deployment.AutopipeServer.func_or_class.__new__(deployment.AutopipeServer.func_or_class)
    freed = []
    monkeypatch.setattr(deployment, "_free_device_memory", lambda: freed.append(True))

    async def out_of_memory(request):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    server._handle = out_of_memory
    answer = asyncio.run(server(None))
    error = json_module.loads(answer.body)["error"]
    assert answer.status_code == 503 and freed == [True]
    assert "out of memory running this request" in error["message"] and "ask for a smaller size" in error["message"]

    async def broken(request):
        raise RuntimeError("something else")

    server._handle = broken
    answer = asyncio.run(server(None))
    assert answer.status_code == 500 and freed == [True] and "RuntimeError: something else" in json_module.loads(answer.body)["error"]["message"]
