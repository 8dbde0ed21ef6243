"""The benchmark's own machinery (bench/), checked cheaply: no timing is asserted here, only that it measures what it says."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

import harness  # noqa: E402
import plugin_site  # noqa: E402


def test_a_case_runs_round_robin_and_the_table_has_ratio_and_command():
    code = "import json; print('hi'); print('BENCH ' + json.dumps({'x': 2.0}))"
    case = harness.Case(
        "9", "demo", "demo",
        [harness.Contender("ref", [sys.executable, "-c", "print('hi')"], "hi"), harness.Contender("other", [sys.executable, "-c", code], "hi")],
        reference="ref", rounds=2, warmup=1,
        metrics=[harness.TIME, harness.RSS, harness.Metric("x", "x", "u")],
    )
    harness.run_case(case, dict(os.environ), 60, log=open(os.devnull, "w"))
    ref, other = case.contenders
    assert len(ref.values("time")) == len(other.values("time")) == 2
    assert other.values("x") == [2.0, 2.0] and not ref.values("x")
    assert all(5 < v < 10_000 for v in ref.values("rss"))  # the child's own peak RSS in MiB, from wait4
    table = harness.table([case], harness.Shower({sys.executable: "python"}))
    assert "| 9 | demo | other | wall time |" in table and "reference" in table and "`python -c" in table


def test_a_contender_that_prints_the_wrong_answer_stops_the_benchmark():
    c = harness.Contender("wrong", [sys.executable, "-c", "print('no')"], "yes")
    with pytest.raises(SystemExit, match="expected 'yes'"):
        harness.run_once(c, dict(os.environ), 60)


def test_the_plugin_site_holds_exactly_n_plugins_that_load(tmp_path, tiny_sd):
    site = plugin_site.build(tmp_path / "site", 5)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOPIPE_")}
    env["PYTHONPATH"] = str(site)
    out = subprocess.run([sys.executable, "-S", "-m", "autopipe_core.cli", "plugins", "--json"], env=env, capture_output=True, text=True, check=True)
    infos = [p for p in json.loads(out.stdout)["plugins"] if p["distribution"] != "autopipe-core"]
    assert len(infos) == 5 and all(p["error"] is None for p in infos), infos
    assert sum(p["distribution"].startswith("autopipe-dummy-") for p in infos) == 4
    out = subprocess.run([sys.executable, "-S", "-m", "autopipe_core.cli", "resolve", str(tiny_sd), "--task", "text2img"], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "StableDiffusionPipeline"


def test_the_streamed_writer_writes_a_file_safetensors_reads_back(tmp_path):
    import torch  # the suite runs where torch is installed (make setup): a missing torch fails here, it does not skip
    from safetensors.torch import load_file

    import checkpoints

    a, b = torch.randn(3, 4).half(), torch.arange(6, dtype=torch.float32).reshape(2, 3)
    refs = {"a": checkpoints.Ref(lambda: a, (3, 4), "F16"), "b": checkpoints.Ref(lambda: b, (2, 3), "F32").reshape(2, 3, 1, 1)}
    checkpoints.write_streamed(tmp_path / "x.safetensors", refs, {"format": "pt"})
    back = load_file(str(tmp_path / "x.safetensors"))
    assert torch.equal(back["a"], a) and torch.equal(back["b"], b.reshape(2, 3, 1, 1))


def test_the_shipped_plugins_benchmark_compares_environments_holding_what_it_says(tmp_path):
    import shipped_plugins

    one, every = shipped_plugins.environments(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("AUTOPIPE_PLUGINS", "PYTHONPATH")}

    def loaded(python):
        out = subprocess.run([str(python), "-m", "autopipe_core.cli", "plugins", "--json"], capture_output=True, text=True, env=env, check=True)
        plugins = json.loads(out.stdout)["plugins"]
        assert all(p["error"] is None for p in plugins), plugins
        return {p["distribution"] for p in plugins} - {"autopipe-core"}

    assert loaded(one) == {"autopipe-sd"}
    assert loaded(every) == set(shipped_plugins.shipped()) == {p.parent.name for p in (BENCH.parent / "plugins").glob("*/pyproject.toml")}
    folder = shipped_plugins.sd_folder(tmp_path)
    for python in (one, every):
        out = subprocess.run([str(python), "-m", "autopipe_core.cli", "resolve", str(folder)], capture_output=True, text=True, env=env, check=True)
        assert out.stdout.splitlines()[-1].split() == ["inpaint", "StableDiffusionInpaintPipeline"]
