"""The Ray Serve deployment on a real local Ray, with the tiny checkpoints: `autopipe serve` itself, concurrent
requests for the three tasks and two checkpoints, bad requests, a checkpoint that fails to load, an evicted and
reloaded model, and Ray shut down at the end.

Marked slow (Ray's start-up and a replica's imports take most of a minute on two cores): `make test` leaves them
out, `make test-slow` (or `python -m pytest -m slow`) runs them, and .ci/run does.
"""

from __future__ import annotations

import base64
import concurrent.futures
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from PIL import Image

ray = pytest.importorskip("ray", reason="the serve extra (ray[serve]) is not installed")
from ray import serve  # noqa: E402

from autopipe_core.serving.deployment import application  # noqa: E402
from autopipe_core.serving.options import ServeOptions  # noqa: E402

pytestmark = pytest.mark.slow

#: A replica's first request imports torch and diffusers and loads the checkpoint: tens of seconds on a busy machine.
TIMEOUT = 240
#: The replicas' environment: the plugin the tiny checkpoints need, and never the hub.
REPLICA_ENV = {"AUTOPIPE_PLUGINS": "autopipe-sd", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _b64(image: Image.Image) -> str:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return base64.b64encode(out.getvalue()).decode()


def _mask(size: tuple[int, int]) -> Image.Image:
    mask = Image.new("L", size, 0)
    mask.paste(255, (size[0] // 4, size[1] // 4, 3 * size[0] // 4, 3 * size[1] // 4))
    return mask


def request(url: str, body: dict | bytes | None = None, model: str | None = None, method: str | None = None) -> tuple[int, dict, bytes]:
    """(status, headers with lower-case names, body) of one HTTP request; 4xx and 5xx are answers here, not exceptions."""
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", **({"serve_multiplexed_model_id": model} if model else {})}
    req = urllib.request.Request(url, data=data, headers=headers, method=method or ("POST" if data is not None else "GET"))
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as answer:
            return answer.status, {k.lower(): v for k, v in answer.headers.items()}, answer.read()
    except urllib.error.HTTPError as answer:
        return answer.code, {k.lower(): v for k, v in answer.headers.items()}, answer.read()


def _png_size(body: bytes) -> tuple[int, int]:
    assert body[:8] == b"\x89PNG\r\n\x1a\n", body[:200]
    with Image.open(io.BytesIO(body)) as image:
        assert image.format == "PNG"
        return image.size


def _wait_for(url: str, deadline: float) -> None:
    while True:
        try:
            if request(url)[0] == 200:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} did not answer in time")
        time.sleep(0.5)


# --- `autopipe serve`: its own local Ray, started and stopped by the command ------------------------------------


def test_autopipe_serve_answers_the_three_tasks_and_stops_cleanly(tiny_sd, tmp_path):
    port = _free_port()
    env = {**os.environ, **REPLICA_ENV}
    command = [sys.executable, "-m", "autopipe_core.cli", "serve", f"sd={tiny_sd}", "--port", str(port), "--max-size", "64",
               "--cpus-per-replica", "0.5", "--steps", "2"]
    log = open(tmp_path / "serve.log", "w+")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(f"{url}/models", time.monotonic() + TIMEOUT)
        status, _, body = request(f"{url}/models")
        assert status == 200 and [m["id"] for m in json.loads(body)["models"]] == ["sd"]
        status, headers, body = request(f"{url}/text2img", {"prompt": "a lighthouse", "size": 64, "seed": 1})
        assert status == 200 and headers["content-type"] == "image/png" and _png_size(body) == (64, 64), body[:300]
        start = Image.open(io.BytesIO(body))
        status, _, body = request(f"{url}/img2img", {"prompt": "a lighthouse", "image": _b64(start), "strength": 0.75}, model="sd")
        assert status == 200 and _png_size(body) == (64, 64), body[:300]
        status, _, body = request(f"{url}/inpaint", {"prompt": "a lighthouse", "image": _b64(start), "mask": _b64(_mask((64, 64))), "size": [32, 48]}, model="sd")
        assert status == 200 and _png_size(body) == (32, 48), body[:300]
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            raise
        log.seek(0)
        output = log.read()
        log.close()
    assert code == 0, output
    assert "serving 1 checkpoint(s) on 1 replica(s)" in output and "stopping Ray Serve and Ray" in output
    assert "Traceback" not in output, output


# --- the deployment on one local Ray, shared by the tests below ---------------------------------------------------


@pytest.fixture(scope="module")
def cluster():
    """A local Ray with Serve listening on a free port; shut down after the module, and checked to be."""
    port = _free_port()
    ray.init(address="local", num_cpus=4, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": REPLICA_ENV})
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        yield f"http://127.0.0.1:{port}"
    finally:
        serve.shutdown()
        ray.shutdown()
    assert not ray.is_initialized()


@pytest.fixture(scope="module")
def broken_sd(tiny_sd, tmp_path_factory):
    """A copy of the tiny SD checkpoint whose UNet weights go missing after the deployment is built: it resolves and
    plans, then fails to load on the replica."""
    folder = tmp_path_factory.mktemp("broken") / "broken-sd"
    shutil.copytree(tiny_sd, folder)
    return folder


@pytest.fixture(scope="module")
def both(cluster, tiny_sd, tiny_sd_inpainting, broken_sd):
    """Two checkpoints (SD and its inpainting-only variant) and the broken one, on two replicas holding three each."""
    options = ServeOptions(models=(("sd", str(tiny_sd)), ("inp", str(tiny_sd_inpainting)), ("broken", str(broken_sd))),
                           replicas=2, models_per_replica=3, device="cpu", max_size=64, max_steps=8, default_steps=2,
                           cpus_per_replica=0.5)
    serve.run(application(options), name="both", route_prefix="/both")
    for weights in (broken_sd / "unet").glob("*.safetensors"):
        weights.unlink()
    return f"{cluster}/both"


def test_concurrent_requests_for_three_tasks_and_two_checkpoints(both):
    start = Image.effect_noise((64, 64), 64).convert("RGB")
    wide = start.resize((48, 32))
    jobs = []
    for seed in range(3):
        jobs += [
            ("text2img", "sd", {"prompt": "a cat", "size": [48, 32], "seed": seed}, (48, 32)),
            ("img2img", "sd", {"prompt": "a cat", "image": _b64(start), "seed": seed}, (64, 64)),
            ("img2img", "sd", {"prompt": "a cat", "image": _b64(start), "size": 40, "steps": 3, "seed": seed}, (40, 40)),
            ("inpaint", "sd", {"prompt": "a cat", "image": _b64(wide), "mask": _b64(_mask((48, 32))), "seed": seed}, (48, 32)),
            ("inpaint", "inp", {"prompt": "a cat", "image": _b64(start), "mask": _b64(_mask((64, 64))), "size": 32, "seed": seed}, (32, 32)),
            ("inpaint", None, {"prompt": "a cat", "image": _b64(start), "mask": _b64(_mask((64, 64))), "model": "inp", "seed": seed}, (64, 64)),
        ]
    with concurrent.futures.ThreadPoolExecutor(len(jobs)) as pool:
        answers = list(pool.map(lambda job: request(f"{both}/{job[0]}", job[2], model=job[1]), jobs))
    pipelines, replicas = set(), set()
    for (task, model, _, size), (status, headers, body) in zip(jobs, answers):
        assert status == 200, (task, model, body[:400])
        assert headers["content-type"] == "image/png" and _png_size(body) == size, (task, model)
        assert headers["x-autopipe-model"] == (model or "inp")
        pipelines.add((headers["x-autopipe-model"], task, headers["x-autopipe-pipeline"]))
        replicas.add(headers["x-autopipe-replica"])
    assert len(replicas) == 2  # more requests at once than one replica takes (max_ongoing_requests): both served
    assert pipelines == {
        ("sd", "text2img", "StableDiffusionPipeline"), ("sd", "img2img", "StableDiffusionImg2ImgPipeline"),
        ("sd", "inpaint", "StableDiffusionInpaintPipeline"), ("inp", "inpaint", "StableDiffusionInpaintPipeline"),
    }
    # The same seed gives the same image, whichever replica drew it.
    first = [body for (task, model, data, _), (_, _, body) in zip(jobs, answers) if task == "text2img" and data["seed"] == 0]
    again = request(f"{both}/text2img", {"prompt": "a cat", "size": [48, 32], "seed": 0}, model="sd")[2]
    assert Image.open(io.BytesIO(first[0])).tobytes() == Image.open(io.BytesIO(again)).tobytes()


@pytest.mark.parametrize("path, body, model, status, said", [
    ("/text2img", {"prompt": "a cat", "size": 60}, "sd", 400, "multiple of 8"),
    ("/text2img", {"prompt": "a cat", "steps": 9}, "sd", 400, "\"steps\" must be from 1 to 8"),
    ("/img2img", {"prompt": "a cat"}, "sd", 400, "img2img needs \"image\""),
    ("/text2img", {"prompt": "a cat", "colour": "red"}, "sd", 400, "unknown field(s) 'colour'"),
    ("/text2img", b"{not json", "sd", 400, "not JSON"),
    ("/video", {"prompt": "a cat"}, "sd", 404, "no route"),
    ("/text2img", {"prompt": "a cat"}, "nope", 404, "no model 'nope'"),
    ("/text2img", {"prompt": "a cat"}, None, 400, "name the model"),
    ("/text2img", {"prompt": "a cat", "model": "inp"}, "sd", 400, "name one model"),
    ("/text2img", {"prompt": "a cat"}, "inp", 422, "inpainting-only"),
    ("/img2img", {"prompt": "a cat", "image": "", "steps": 1}, "sd", 400, "not an image"),
])
def test_a_bad_request_is_a_4xx_with_its_reason(both, path, body, model, status, said):
    code, headers, answer = request(f"{both}{path}", body, model=model)
    assert code == status, answer[:400]
    assert headers["content-type"] == "application/json"
    error = json.loads(answer)["error"]
    assert said in error["message"], error


def test_a_checkpoint_that_fails_to_load_is_a_500_and_the_replica_serves_on(both):
    before = request(f"{both}/text2img", {"prompt": "a cat", "size": 32}, model="sd")
    assert before[0] == 200
    code, _, answer = request(f"{both}/text2img", {"prompt": "a cat", "size": 32}, model="broken")
    assert code == 500 and "broken could not be loaded" in json.loads(answer)["error"]["message"]
    for _ in range(4):  # both replicas (whichever the router picks) still answer
        code, _, answer = request(f"{both}/text2img", {"prompt": "a cat", "size": 32}, model="sd")
        assert code == 200, answer[:300]


def test_get_models_lists_the_checkpoints_their_tasks_and_the_request(both):
    code, _, answer = request(f"{both}/models")
    described = json.loads(answer)
    # What Ray reserved for the two replicas is the request autopipe planned (other deployments may hold more).
    reserved = ray.cluster_resources()["memory"] - ray.available_resources().get("memory", 0)
    assert reserved >= 2 * described["resources"]["memory"]
    assert code == 200 and [m["id"] for m in described["models"]] == ["sd", "inp", "broken"]
    assert described["models"][1]["pipelines"]["text2img"] is None and "inpainting-only" in described["models"][1]["refused"]["text2img"]
    assert described["resources"]["num_gpus"] == 0 and described["resources"]["num_cpus"] == 0.5
    assert described["limits"]["max_size"] == 64
    assert request(f"{both}/models", method="DELETE")[0] == 405


def test_one_model_per_replica_evicts_the_least_recently_used_and_reloads_it(cluster, tiny_sd, tiny_sd_inpainting):
    options = ServeOptions(models=(("sd", str(tiny_sd)), ("inp", str(tiny_sd_inpainting))), replicas=1, models_per_replica=1,
                           device="cpu", max_size=64, default_steps=2, cpus_per_replica=0.5)
    serve.run(application(options), name="lru", route_prefix="/lru")
    url = f"{cluster}/lru"
    image, mask = _b64(Image.new("RGB", (32, 32), "gray")), _b64(_mask((32, 32)))
    loads = []
    for model in ("sd", "sd", "inp", "sd", "inp"):
        code, headers, body = request(f"{url}/inpaint", {"prompt": "a cat", "image": image, "mask": mask}, model=model)
        assert code == 200 and _png_size(body) == (32, 32), body[:300]
        loads.append((model, int(headers["x-autopipe-loads"])))
    # sd loaded, kept; inp evicts it; sd loaded again (its second load), evicting inp, which loads a second time.
    assert loads == [("sd", 1), ("sd", 1), ("inp", 1), ("sd", 2), ("inp", 2)]
    serve.delete("lru")
