"""Placement of full-size checkpoints, from header-only sparse files of their real tensor shapes (bench/fullsize.py).

The GPU is made up (DeviceFacts: free memory, device count, bfloat16); the
checkpoints are not: SD 1.5, SDXL, IF-I-XL with its T5-XXL, and the other
families' usual checkpoints, as the planner would see the real ones.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from autopipe_core import DeviceFacts, resolve
from autopipe_core.planning import GiB, plan

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
import fullsize  # noqa: E402

#: Parameter counts as their model cards and configs state them (not read from bench/fullsize.json).
PUBLISHED = {
    "sd15": {"unet": 859_520_964, "vae": 83_653_863, "text_encoder": 123_060_480, "safety_checker": 304_000_000},
    "sdxl": {"unet": 2_567_463_684, "vae": 83_653_863, "text_encoder": 123_060_480, "text_encoder_2": 694_659_840},
    "if-i-xl": {"text_encoder": 4_762_310_656, "unet": 4_300_000_000},
    # KerasHub's SD 3.5 Large: the MMDiT's 8,056,627,520 parameters plus its 192x192x2432 position table (a persistent
    # buffer, in the files); T5-XXL's encoder, OpenCLIP bigG and CLIP-L with projections, SD3's 16-channel VAE.
    "sd35-large": {"transformer": 8_056_627_520 + 192 * 192 * 2432, "text_encoder_3": 4_762_310_656, "text_encoder_2": 694_659_840,
                   "text_encoder": 123_650_304, "vae": 83_819_683},
    # Black Forest Labs' FLUX.1-dev model card (12B transformer: 11,901,408,320), T5-XXL's encoder, CLIP-L, FLUX's VAE.
    "flux1-dev": {"transformer": 11_901_408_320, "text_encoder_2": 4_762_310_656, "text_encoder": 123_060_480, "vae": 83_819_683},
}
#: The checkpoints whose official files are bfloat16 with no fp16 variant: planned in bfloat16 where the device has it.
BF16_FILES = {"sd35-large", "flux1-dev"}
#: T5-XXL's feed-forward output layers (24 x 10240 x 4096), kept in float32 by transformers under float16.
T5_WO = 24 * 10240 * 4096


@pytest.fixture(autouse=True)
def _every_plugin(monkeypatch):
    monkeypatch.delenv("AUTOPIPE_PLUGINS")


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("fullsize")
    return {name: fullsize.write(name, root) for name in fullsize.CHECKPOINTS}


def _cuda(gib: float, count: int = 1) -> DeviceFacts:
    return DeviceFacts("cuda", count, int(gib * GiB), int(gib * GiB), True)


def _placement(folder: Path, gib: float, count: int = 1) -> str:
    return plan(resolve(folder, "text2img"), _cuda(gib, count)).plan.placement


def test_the_sparse_files_take_no_disk_and_read_as_the_real_ones(checkpoints):
    unet = checkpoints["sdxl"] / "unet" / "diffusion_pytorch_model.safetensors"
    assert unet.stat().st_size > 9 * GiB and unet.stat().st_blocks * 512 < 1 << 20


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_the_estimate_is_the_published_parameter_count_in_16_bits(checkpoints, name):
    placed = plan(resolve(checkpoints[name], "text2img"), _cuda(80))
    expected = ("bfloat16", None) if name in BF16_FILES else ("float16", "fp16")
    assert (placed.plan.dtype, placed.plan.variant) == expected
    for component, published in PUBLISHED[name].items():
        counted = placed.footprint.component(component)
        assert counted.source.startswith("safetensors headers")
        assert abs(counted.parameters - published) <= 0.01 * published, component
        kept = T5_WO * 2 if name == "if-i-xl" and component == "text_encoder" else 0  # T5's wo in float32 under float16 only
        assert counted.nbytes == 2 * counted.parameters + kept
    # The whole, from the parameter counts the sparse files were written with (bench/fullsize.json) or, for the files a
    # plugin writes, the published ones exactly; not from the components counted.
    kept = T5_WO * 2 if name == "if-i-xl" else 0
    total = sum(PUBLISHED[name].values()) if name in BF16_FILES else sum(fullsize.expected_parameters(name).values())
    assert placed.footprint.weights == 2 * total + kept


def test_float32_on_the_cpu_counts_four_bytes_a_parameter(checkpoints):
    placed = plan(resolve(checkpoints["sd15"], "text2img"), DeviceFacts("cpu"))
    assert placed.plan.variant is None and placed.footprint.weights == 4 * sum(fullsize.expected_parameters("sd15").values())


@pytest.mark.parametrize(
    "name, budgets",
    [
        # SD 1.5: 2.55 GiB of weights (UNet 1.60) + 1.5 GiB at 512x512
        ("sd15", {2: "sequential_cpu_offload", 4: "model_cpu_offload", 4.1: "device", 8: "device"}),
        # SDXL: 6.46 GiB (UNet 4.78) + 3 GiB at 1024x1024, the float32 VAE decode
        ("sdxl", {6: "sequential_cpu_offload", 8: "model_cpu_offload", 9.4: "model_cpu_offload", 9.5: "device", 12: "device"}),
        # IF-I-XL: T5-XXL 10.75 GiB (wo in float32) + UNet 8.01 GiB + 2 GiB at 64x64
        ("if-i-xl", {8: "sequential_cpu_offload", 12: "sequential_cpu_offload", 13: "model_cpu_offload", 16: "model_cpu_offload",
                     20.7: "model_cpu_offload", 20.8: "device", 24: "device"}),
    ],
)
def test_the_placement_on_one_gpu(checkpoints, name, budgets):
    assert {gib: _placement(checkpoints[name], gib) for gib in budgets} == budgets


def test_if_spreads_t5_and_the_unet_over_two_gpus(checkpoints):
    placed = plan(resolve(checkpoints["if-i-xl"], "text2img"), _cuda(16, count=2))
    assert placed.plan.placement == "balanced"
    assert dict(placed.device_map) == {"text_encoder": 0, "unet": 1}
    assert dict(placed.max_memory) == {0: 14 * GiB, 1: 14 * GiB}
    assert _placement(checkpoints["if-i-xl"], 12, count=2) == "sequential_cpu_offload"  # T5 + 2 GiB fits on neither


def test_kandinsky_overrides_balanced_with_the_one_gpu_rule(checkpoints):
    """diffusers cannot balance a connected (combined) pipeline: the family's override, asked after the rules."""
    placed = plan(resolve(checkpoints["kandinsky22"], "text2img"), _cuda(8, count=2))
    assert placed.rule == "balanced" and placed.overridden_by == "autopipe-kandinsky"
    assert placed.plan.placement == "model_cpu_offload" and placed.max_memory is None
    assert "connected" in placed.plan.reason


def test_kandinsky_counts_its_prior_from_the_folder_its_card_names(checkpoints):
    placed = plan(resolve(checkpoints["kandinsky21"], "text2img"), _cuda(80))
    expected = fullsize.expected_parameters("kandinsky21")
    assert {c.name: c.parameters for c in placed.footprint.components} == expected
    assert placed.footprint.largest.name == "unet"


def test_a_controlnet_counts_with_its_pipeline(checkpoints):
    base = plan(resolve(checkpoints["sdxl"], "text2img"), _cuda(80)).footprint
    with_cn = plan(resolve(checkpoints["sdxl-controlnet"], "text2img"), _cuda(80)).footprint
    assert with_cn.weights - base.weights == with_cn.component("controlnet").nbytes > 2 * GiB


def test_the_table_in_docs_placement_md_is_what_the_code_says(checkpoints):
    spec = importlib.util.spec_from_file_location("placement_table", ROOT / "bench" / "placement_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    page = (ROOT / "docs" / "placement.md").read_text()
    documented = page.split(module.START, 1)[1].split(module.END, 1)[0].strip()
    assert documented == module.render(checkpoints), "docs/placement.md is stale: python bench/placement_table.py --write docs/placement.md"


#: The one-GPU table's rows for the checkpoints whose parameter counts are published (PUBLISHED), and the activation
#: allowance each family documents at its native size (docs/placement.md), written by hand.
TABLE_ROWS = {"SD 1.5": ("sd15", 1.5, "512x512"), "SDXL base 1.0": ("sdxl", 3.0, "1024x1024"), "DeepFloyd IF-I-XL": ("if-i-xl", 2.0, "64x64")}
#: Rows where the family's loading code changes the rules' answer, worked out by hand (4 to 80 GiB, one GPU):
#: SD 3.5 Large, 25.72 GiB + 2 GiB: on 24 GiB, without T5-XXL (8.87 GiB) 16.85 + 2 fits, and autopipe-sd3 leaves T5
#: out exactly where that makes it fit (the rules alone: model offload); on 16 GiB neither fits, nor the 15.17 GiB
#: transformer + 2 GiB. FLUX.1-dev, 31.42 GiB + 2 GiB: on 24 GiB the 22.17 GiB transformer + 2 GiB does not fit by the
#: rules (sequential offload), but under model offload only the transformer's own activations share the GPU with it
#: (autopipe-flux's autopipe_placement): model offload.
HAND_ROWS = {
    "SD 3.5 Large": ["sequential offload"] * 4 + ["device"] * 3,
    "FLUX.1-dev": ["sequential offload"] * 4 + ["model offload", "device", "device"],
}


def test_the_documented_table_agrees_with_published_parameter_counts_and_the_rules():
    """docs/placement.md checked against figures from outside the code: the published counts and the rules as the page states them."""
    page = (ROOT / "docs" / "placement.md").read_text()
    rows: dict[str, list[str]] = {}
    for line in page.split("<!-- placement-table:start -->", 1)[1].splitlines():
        if line.startswith("| "):
            rows.setdefault(line.split(" | ")[0].lstrip("| "), line.strip("| ").split(" | "))  # the first table: one GPU
    budgets = [float(b.removesuffix(" GiB")) for b in rows["checkpoint"][4:] if b.endswith(" GiB") and " x " not in b]
    for title, (name, activation, size) in TABLE_ROWS.items():
        cells = rows[title]
        weights = (2 * sum(PUBLISHED[name].values()) + (T5_WO * 2 if name == "if-i-xl" else 0)) / GiB
        largest_name, largest = max(((c, (2 * n + (T5_WO * 2 if c == "text_encoder" and name == "if-i-xl" else 0)) / GiB) for c, n in PUBLISHED[name].items()), key=lambda x: x[1])
        assert abs(float(cells[1].removesuffix(" GiB")) - weights) <= 0.01 * weights, (title, cells[1], weights)
        assert cells[2].split()[0] == largest_name and abs(float(cells[2].split()[1]) - largest) <= 0.01 * largest, (title, cells[2])
        assert cells[3] == f"{activation:.2f} GiB at {size}"
        expected = ["device" if weights + activation <= b else "model offload" if largest + activation <= b else "sequential offload" for b in budgets]
        assert cells[4:4 + len(budgets)] == expected, title
    for title, expected in HAND_ROWS.items():
        name = next(n for n, spec in fullsize.CHECKPOINTS.items() if spec["title"] == title)
        weights = 2 * sum(PUBLISHED[name].values()) / GiB
        assert abs(float(rows[title][1].removesuffix(" GiB")) - weights) <= 0.005 * weights, (title, rows[title][1], weights)
        assert rows[title][3] == "2.00 GiB at 1024x1024" and rows[title][4:4 + len(budgets)] == expected, title


#: What `autopipe plan --memory 8GiB` must answer for each checkpoint, worked out by hand from the figures above
#: (weights in float16 from the parameter counts, the family's activation allowance at its native size, and the
#: rules: on the device when weights + activations fit, model offload when the largest component + activations fit,
#: else sequential offload): (placement, activation GiB).
AT_8_GIB = {
    "sd15": ("device", 1.5),  # 2.55 + 1.5 GiB
    "sd15-controlnet": ("device", 1.5),  # 3.23 + 1.5 GiB
    "sdxl": ("model_cpu_offload", 3.0),  # 6.46 + 3 GiB > 8; UNet 4.78 + 3 fits
    "sdxl-controlnet": ("model_cpu_offload", 3.0),  # 8.79 + 3 GiB > 8; UNet 4.78 + 3 fits
    "kandinsky21": ("model_cpu_offload", 2.0),  # 6.14 + 2 GiB > 8; UNet 2.27 + 2 fits
    "kandinsky22": ("model_cpu_offload", 2.0),  # 9.04 + 2 GiB > 8; the prior's image encoder 3.44 + 2 fits
    "if-i-xl": ("sequential_cpu_offload", 2.0),  # T5-XXL alone is 10.75 GiB
    "sd35-large": ("sequential_cpu_offload", 2.0),  # the transformer alone is 15.17 GiB
    "flux1-dev": ("sequential_cpu_offload", 2.0),  # the transformer alone is 22.17 GiB
}


def test_every_full_size_checkpoint_has_its_answer_at_8_gib():
    assert set(AT_8_GIB) == set(fullsize.CHECKPOINTS)


@pytest.mark.parametrize("name", sorted(fullsize.CHECKPOINTS))
def test_autopipe_plan_answers_for_every_family(checkpoints, name, capsys):
    import json

    from autopipe_core.cli import main

    assert main(["plan", str(checkpoints[name]), "--task", "text2img", "--memory", "8GiB", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    placement, activation_gib = AT_8_GIB[name]
    # A budget alone says nothing of bfloat16 (autopipe plan --bf16 does): float16, from the fp16 files where there are some.
    assert (out["dtype"], out["variant"], out["placement"]) == ("float16", None if name in BF16_FILES else "fp16", placement)
    kept = T5_WO * 2 if name in ("if-i-xl", "sd35-large", "flux1-dev") else 0  # T5-XXL's wo layers stay float32
    total = sum(PUBLISHED[name].values()) if name in BF16_FILES else sum(fullsize.expected_parameters(name).values())
    assert out["estimated_bytes"] == 2 * total + kept
    assert out["activation_bytes"] == int(activation_gib * GiB)
    assert out["unknown_components"] == []


def test_kandinsky_reads_a_prior_its_card_names_on_the_hub(checkpoints, tmp_path, monkeypatch):
    """kandinsky-community's decoders name their prior as a hub repo id: its headers come through huggingface_hub."""
    import os
    import shutil

    import huggingface_hub
    from huggingface_hub.utils import SafetensorsFileMetadata, TensorInfo

    from autopipe_core import planning
    from autopipe_core.headers import read_header

    decoder = tmp_path / "decoder"
    # Hard links: the full-size files are sparse, and a copy would write their gigabytes out.
    shutil.copytree(checkpoints["kandinsky22"], decoder, ignore=shutil.ignore_patterns("prior"), copy_function=os.link)
    (decoder / "README.md").write_text("---\nprior:\n- kandinsky-community/kandinsky-2-2-prior\n---\n")
    prior = checkpoints["kandinsky22"] / "prior"

    def parse(repo_id, filename, revision=None, token=None, **_):
        assert repo_id == "kandinsky-community/kandinsky-2-2-prior"
        tensors = {n: TensorInfo(dtype=t.dtype, shape=list(t.shape), data_offsets=(0, t.nbytes)) for n, t in read_header(prior / filename).tensors.items()}
        return SafetensorsFileMetadata(metadata={}, tensors=tensors)

    monkeypatch.setattr(huggingface_hub, "list_repo_files", lambda repo_id, **_: planning.list_folder(prior))
    monkeypatch.setattr(huggingface_hub, "parse_safetensors_file_metadata", parse)
    from_hub = plan(resolve(decoder, "text2img"), _cuda(80)).footprint
    from_disk = plan(resolve(checkpoints["kandinsky22"], "text2img"), _cuda(80)).footprint
    assert {c.name: c.nbytes for c in from_hub.components} == {c.name: c.nbytes for c in from_disk.components}

    def offline(*args, **kwargs):
        raise OSError("offline")

    monkeypatch.setattr(huggingface_hub, "list_repo_files", offline)
    unknown = plan(resolve(decoder, "text2img"), _cuda(8))
    assert [c.name for c in unknown.footprint.unknown] == ["prior"] and "could not be read from the hub" in unknown.plan.reason
    assert unknown.plan.placement == "device" and "not applied" in unknown.plan.reason
