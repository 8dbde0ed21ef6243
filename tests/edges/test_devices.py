"""A device that is not here, or not a device, is a PlacementError that says what to pass, before any weight loads.

Found by a newcomer: ``from_pretrained(..., placement="auto", device="cuda:1", memory="8GiB")`` on a machine whose
torch has no CUDA raised torch's bare ``AssertionError: Torch not compiled with CUDA enabled``; ``autopipe generate
--device cuda`` said "internal error ... please report it"; ``autopipe plan --device gpu`` advised ``--memory``, which
then planned for a device named "gpu". The machine's facts are injected (torch.cuda's answers patched), so these run
alike with or without a GPU.
"""

from __future__ import annotations

import pytest

from autopipe_core import AutoPipelineForText2Image, PlacementError
from autopipe_core.cli import main
from autopipe_core.loading import detect
from autopipe_core.specs import device_type


@pytest.fixture
def no_gpu(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


@pytest.fixture
def one_gpu(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)


@pytest.mark.parametrize("name, kind", [("cpu", "cpu"), ("cuda", "cuda"), ("cuda:1", "cuda"), ("mps", "mps"), ("xpu:0", "xpu")])
def test_device_names_autopipe_places_on_give_their_type(name, kind):
    assert device_type(name) == kind


@pytest.mark.parametrize("name", ["gpu", "GPU", "CUDA", "cuda:x", "cuda:", "cuda:-1", "cuda:1:2", "meta", "tpu", "", " cuda"])
def test_other_names_are_refused_naming_the_ones_that_work(name):
    with pytest.raises(PlacementError) as info:
        device_type(name)
    assert str(info.value) == f"device {name!r} is not one autopipe places pipelines on: pass cpu, cuda, cuda:1 (a device index), mps or xpu"


def test_cuda_where_torch_finds_none_says_so_and_what_to_pass(no_gpu):
    with pytest.raises(PlacementError) as info:
        detect("cuda:1")
    assert "cuda:1: torch " in str(info.value) and "finds no CUDA device" in str(info.value)
    assert str(info.value).endswith("pass device='cpu', or no device for the best one there is")


def test_a_cuda_index_past_the_last_device_is_refused_with_the_count(one_gpu):
    with pytest.raises(PlacementError, match=r"^cuda:1: torch finds 1 CUDA device \(cuda:0\)"):
        detect("cuda:1")


def test_mps_where_there_is_none_says_so(no_gpu):
    with pytest.raises(PlacementError, match=r"^mps: torch .* finds no MPS device"):
        detect("mps")


def test_from_pretrained_on_a_missing_gpu_is_a_placement_error_even_with_a_memory_budget(no_gpu, tiny_sd):
    with pytest.raises(PlacementError, match="finds no CUDA device"):
        AutoPipelineForText2Image.from_pretrained(tiny_sd, placement="auto", device="cuda:1", memory="8GiB")
    with pytest.raises(PlacementError, match="is not one autopipe places pipelines on"):
        AutoPipelineForText2Image.from_pretrained(tiny_sd, placement="auto", device="gpu", memory="8GiB")


def test_generate_on_a_missing_gpu_is_one_line_not_an_internal_error(no_gpu, tiny_sd, tmp_path, capsys):
    status = main(["generate", "--model", str(tiny_sd), "--task", "text2img", "--prompt", "a cat", "--out", str(tmp_path / "a.png"), "--device", "cuda"])
    err = capsys.readouterr().err
    assert status == 1 and "finds no CUDA device" in err and "internal error" not in err
    assert not (tmp_path / "a.png").exists()


def test_generate_and_plan_refuse_a_name_that_is_not_a_device_as_a_usage_error(tiny_sd, tmp_path, capsys):
    for argv in (
        ["generate", "--model", str(tiny_sd), "--task", "text2img", "--prompt", "a cat", "--out", str(tmp_path / "a.png"), "--device", "gpu"],
        ["plan", str(tiny_sd), "--task", "text2img", "--device", "gpu", "--memory", "8GiB"],
    ):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 2
        assert "device 'gpu' is not one autopipe places pipelines on" in capsys.readouterr().err


def test_plan_for_a_gpu_that_is_not_here_asks_for_a_budget(no_gpu, tiny_sd, capsys):
    assert main(["plan", str(tiny_sd), "--task", "text2img", "--device", "cuda"]) == 1
    err = capsys.readouterr().err
    assert "finds no CUDA device" in err and "pass --memory, e.g. --memory 8GiB" in err and "Torch not compiled" not in err
    assert main(["plan", str(tiny_sd), "--task", "text2img", "--device", "cuda", "--memory", "8GiB"]) == 0  # planning for one elsewhere
