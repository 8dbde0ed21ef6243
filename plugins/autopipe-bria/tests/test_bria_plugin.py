"""autopipe-bria's registration against diffusers' own tables and sources, refusals, the real BRIA-3.2 configuration,
the library name its model_index.json gives the transformer, the bfloat16 plan and what it keeps in float32."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest
import torch

import autopipe_bria as bria
from autopipe_bria.loading import ALLOWANCE, plan
from autopipe_core import (
    AutoPipelineForText2Image,
    DeviceFacts,
    GiB,
    Identity,
    Task,
    UnsupportedTaskError,
    UntrustedCodeError,
    resolve,
)
from autopipe_core.planning import plan as plan_placement
from autopipe_core.registry import get_registry
from autopipe_core import testing as kit

BF16_GPU = DeviceFacts("cuda", 1, 70 * GiB, 80 * GiB, True)
T4 = DeviceFacts("cuda", 1, 14 * GiB, 15 * GiB, False)
#: briaai/BRIA-3.2's weight files (its safetensors indexes name them): plain files only, no fp16 or bf16 variant.
BRIA_FILES = (
    "model_index.json",
    "transformer/diffusion_pytorch_model-00001-of-00002.safetensors", "transformer/diffusion_pytorch_model-00002-of-00002.safetensors",
    "text_encoder/model-00001-of-00003.safetensors", "text_encoder/model-00002-of-00003.safetensors", "text_encoder/model-00003-of-00003.safetensors",
    "vae/diffusion_pytorch_model.safetensors",
)
REAL = Path(os.environ.get("AUTOPIPE_REAL_CONFIGS") or Path(__file__).resolve().parents[3].parent / "shared" / "real_configs") / "bria-3.2"
SMALL = dict(num_inference_steps=2, height=64, width=64)


# Registration, against diffusers' own tables and classes


def test_the_families_and_their_rows_are_registered_alone():
    # the PAG and ControlNet rows claim no task: only the plain rows and FIBO Edit's are in the table
    registry = kit.check_registered_alone("autopipe-bria", {bria.BRIA, bria.FIBO}, [bria.BRIA, bria.FIBO, (bria.FIBO, {bria.EDIT})])
    assert registry.table[(bria.BRIA, frozenset())] == {Task.TEXT2IMG: ("diffusers:BriaPipeline", "autopipe-bria")}


def test_diffusers_tables_have_no_bria_key_so_the_class_is_served_beyond_them():
    """diffusers' AutoPipelineFor* refuse every BRIA class (no key lists one); autopipe serves the classes the cards load."""
    assert kit.check_rows_serve_diffusers({}, naming=("bria", "fibo")) == {}  # no key or class naming BRIA or FIBO
    row = get_registry().table[(bria.BRIA, frozenset())]
    missing = get_registry().missing[(bria.BRIA, frozenset())]
    assert row[Task.TEXT2IMG][0] == "diffusers:BriaPipeline" and set(row) == {Task.TEXT2IMG}
    assert set(missing) == {Task.IMG2IMG, Task.INPAINT}


def test_diffusers_has_no_other_pipeline_for_brias_transformer():
    """No image-to-image, inpainting, PAG or ControlNet class takes BriaTransformer2DModel: the refusals are true.

    When this fails, diffusers has added one: serve it.
    """
    assert kit.pipelines_taking("BriaTransformer2DModel") == {"BriaPipeline"}


def test_brias_other_families_in_diffusers_take_other_transformers():
    """FIBO and FIBO 2 are other architectures (docs/bria.md): none of their pipelines takes BriaPipeline's transformer, and
    only FIBO's two classes take FIBO's (both served, test_fibo.py); when this fails, diffusers has added a class: serve it."""
    assert kit.pipelines_taking("BriaFiboTransformer2DModel") == {"BriaFiboPipeline", "BriaFiboEditPipeline"}
    assert kit.pipelines_taking("BriaFibo2Transformer2DModel") == {"BriaFibo2Pipeline"}


def test_diffusers_reads_no_bria_single_file():
    """No single files (diffusers 0.42.1): single_file_utils knows no BRIA layout, no BRIA pipeline has from_single_file, and
    the transformers' (BRIA 3.x's and FIBO's, inherited from FromOriginalModelMixin) refuse: neither is single-file loadable."""
    from diffusers import BriaPipeline, BriaTransformer2DModel
    from diffusers.loaders import single_file_utils
    from diffusers.loaders.single_file_model import SINGLE_FILE_LOADABLE_CLASSES

    assert not [key for key in single_file_utils.CHECKPOINT_KEY_NAMES if "bria" in key.lower()]
    assert not [name for name in dir(single_file_utils) if "bria" in name.lower()]
    from diffusers import BriaFibo2Pipeline, BriaFibo2Transformer2DModel, BriaFiboEditPipeline, BriaFiboPipeline, BriaFiboTransformer2DModel

    assert not any(hasattr(p, "from_single_file") for p in (BriaPipeline, BriaFiboPipeline, BriaFiboEditPipeline, BriaFibo2Pipeline))
    assert not hasattr(BriaFibo2Transformer2DModel, "from_single_file")
    for model in (BriaTransformer2DModel, BriaFiboTransformer2DModel):  # inherited from FromOriginalModelMixin, which refuses them
        assert model.__name__ not in SINGLE_FILE_LOADABLE_CLASSES
        with pytest.raises(ValueError, match="only compatible with"):
            model.from_single_file("bria.safetensors")


@pytest.mark.parametrize("task, words", [
    (Task.IMG2IMG, "FluxImg2ImgPipeline, autopipe-flux"),
    (Task.INPAINT, "FluxFillPipeline, autopipe-flux"),
])
def test_img2img_and_inpaint_are_refused_saying_what_to_use(tiny_checkpoint, task, words):
    kit.check_refused(tiny_checkpoint(bria.BRIA), task, words, "use AutoPipelineForText2Image")


def test_pag_and_controlnet_are_refused_with_why(tiny_checkpoint):
    kit.check_no_pag_or_controlnet(tiny_checkpoint(bria.BRIA), "BRIA")


# The real BRIA-3.2 configuration (../shared/real_configs), and the library name it gives the transformer


@pytest.mark.skipif(not REAL.is_dir(), reason="the real configurations (../shared/real_configs) are not beside the repository")
def test_the_real_bria_3_2_configuration_resolves_from_its_index_alone():
    """Only model_index.json is needed: the family reads no component config (so an index-only snapshot resolves)."""
    assert json.loads((REAL / "model_index.json").read_text())["transformer"] == ["transformer_bria", "BriaTransformer2DModel"]
    resolution = resolve(REAL, Task.TEXT2IMG)
    assert (resolution.family, resolution.pipeline_class, dict(resolution.identity.configs)) == (bria.BRIA, "BriaPipeline", {})
    for task, words in ((Task.IMG2IMG, "no image-to-image pipeline for BRIA"), (Task.INPAINT, "no inpainting pipeline for BRIA")):
        with pytest.raises(UnsupportedTaskError, match=words):
            resolve(REAL, task)


def _with_transformer_entry(tiny: Path, dest: Path, entry: list[str]) -> Path:
    shutil.copytree(tiny, dest)
    index = json.loads((dest / "model_index.json").read_text())
    index["transformer"] = entry
    (dest / "model_index.json").write_text(json.dumps(index))
    return dest


def test_brias_published_transformer_entry_loads_with_diffusers_class_and_imports_nothing_it_names(tiny_checkpoint, tmp_path):
    """BRIA-3.2's index names the transformer's library 'transformer_bria' (its old remote code), which diffusers 0.42.1
    cannot resolve. The family declares the entry as loaded by itself: the same files load, with diffusers'
    BriaTransformer2DModel, and draw; no module named transformer_bria is imported."""
    from diffusers import BriaTransformer2DModel, DiffusionPipeline

    tiny = tiny_checkpoint(bria.BRIA)
    published = _with_transformer_entry(tiny, tmp_path / "published", ["transformer_bria", "BriaTransformer2DModel"])
    assert resolve(published, Task.TEXT2IMG).pipeline_class == "BriaPipeline"
    with pytest.raises(ValueError, match="transformer_bria is not one of the libraries Diffusers can load components from"):
        DiffusionPipeline.from_pretrained(published)  # why the plugin loads it itself
    pipe = AutoPipelineForText2Image.from_pretrained(published, dtype=torch.bfloat16)
    assert type(pipe).__name__ == "BriaPipeline" and type(pipe.transformer) is BriaTransformer2DModel
    assert pipe.transformer.dtype == torch.bfloat16 and pipe.vae.dtype == torch.float32  # the dtype asked; BriaPipeline's VAE
    assert pipe.config["transformer"] == ("diffusers", "BriaTransformer2DModel")
    saved = BriaTransformer2DModel.from_pretrained(tiny, subfolder="transformer")
    assert all(torch.equal(a, b.to(torch.bfloat16)) for a, b in zip(pipe.transformer.state_dict().values(), saved.state_dict().values()))
    pipe.set_progress_bar_config(disable=True)
    assert pipe("a red fox", **SMALL).images[0].size == (64, 64)
    assert "transformer_bria" not in sys.modules


def test_a_transformer_bria_module_shipped_in_the_folder_is_still_refused(tiny_checkpoint, tmp_path):
    """loads_itself lets the entry pass, not code: a transformer/transformer_bria.py (what diffusers would run in place of
    the library) is refused by the guard before anything is imported, and another class under that library too."""
    tiny = tiny_checkpoint(bria.BRIA)
    shipped = _with_transformer_entry(tiny, tmp_path / "shipped", ["transformer_bria", "BriaTransformer2DModel"])
    (shipped / "transformer" / "transformer_bria.py").write_text("raise SystemExit('ran')\n")
    with pytest.raises(UntrustedCodeError, match="transformer/transformer_bria.py"):
        AutoPipelineForText2Image.from_pretrained(shipped)
    other = _with_transformer_entry(tiny, tmp_path / "other", ["transformer_bria", "OtherTransformer"])
    with pytest.raises(UntrustedCodeError, match=r"transformer: \['transformer_bria', 'OtherTransformer'\]"):
        AutoPipelineForText2Image.from_pretrained(other)
    assert "transformer_bria" not in sys.modules


def test_a_checkpoint_saved_by_diffusers_is_left_to_diffusers(tiny_checkpoint):
    """The hook answers None where the published entry is absent (the tiny checkpoint, as diffusers saves it)."""
    from diffusers import BriaPipeline

    from autopipe_bria.loading import from_pretrained

    path = tiny_checkpoint(bria.BRIA)
    assert json.loads((path / "model_index.json").read_text())["transformer"] == ["diffusers", "BriaTransformer2DModel"]
    assert from_pretrained(BriaPipeline, path, {}) is None


# Loading code: bfloat16 as the cards load it, the VAE in float32, T5's float32 layers counted under float16


def _identity(files=BRIA_FILES) -> Identity:
    return Identity("folder", "x", "BriaPipeline", files=files)


def test_the_plan_is_float32_on_a_cpu():
    cpu = plan(_identity(), DeviceFacts("cpu"))
    assert (cpu.dtype, cpu.variant, dict(cpu.component_dtypes)) == ("float32", None, {})


def test_a_bfloat16_accelerator_loads_bfloat16_with_the_vae_in_float32():
    gpu = plan(_identity(), BF16_GPU)
    assert (gpu.dtype, gpu.variant, dict(gpu.component_dtypes), gpu.skip) == ("bfloat16", None, {"vae": "float32"}, frozenset())
    assert "as BRIA's model cards load it" in gpu.reason and "no shift_factor" in gpu.reason


def test_an_accelerator_without_bfloat16_loads_float16_and_bf16_files_where_published():
    t4 = plan(_identity(), T4)
    assert (t4.dtype, dict(t4.component_dtypes)) == ("float16", {"vae": "float32"}) and "has no bfloat16" in t4.reason
    bf16_files = (*BRIA_FILES, "transformer/diffusion_pytorch_model.bf16.safetensors", "text_encoder/model.bf16.safetensors",
                  "vae/diffusion_pytorch_model.bf16.safetensors")
    assert plan(_identity(bf16_files), BF16_GPU).variant == "bf16"


def test_the_allowance_is_stated_at_1024():
    identity = _identity()
    activation = ALLOWANCE.activation(identity, plan(identity, BF16_GPU))
    assert (activation.width, activation.height, activation.nbytes) == (1024, 1024, 3 * GiB)
    assert ALLOWANCE.activation(identity, plan(identity, BF16_GPU), 512, 512).nbytes < activation.nbytes


def test_brias_pipeline_holds_its_vae_in_float32_whatever_it_was_loaded_in(tiny_checkpoint):
    """Why the plan loads the VAE in float32: BriaPipeline moves a VAE without shift_factor there itself, as it is built."""
    path = tiny_checkpoint(bria.BRIA)
    assert json.loads((path / "vae" / "config.json").read_text())["shift_factor"] is None  # as BRIA-3.2's
    pipe = AutoPipelineForText2Image.from_pretrained(path, dtype=torch.bfloat16)
    assert pipe.vae.dtype == torch.float32 and pipe.transformer.dtype == torch.bfloat16
    pipe.set_progress_bar_config(disable=True)
    assert pipe("a red fox", **SMALL).images[0].size == (64, 64)


@pytest.mark.parametrize("device, dtype", [(T4, torch.float16), (BF16_GPU, torch.bfloat16)], ids=["float16", "bfloat16"])
def test_the_footprint_counts_what_loading_gives(tiny_checkpoint, device, dtype):
    """Each component counted as the plan loads it: the VAE in float32, and T5's wo in float32 under float16 only."""
    path = tiny_checkpoint(bria.BRIA)
    placed = plan_placement(resolve(path, Task.TEXT2IMG), device)
    assert placed.plan.dtype == str(dtype).removeprefix("torch.") and dict(placed.plan.component_dtypes) == {"vae": "float32"}
    pipe = AutoPipelineForText2Image.from_pretrained(path, dtype={"default": dtype, "vae": torch.float32})
    kit.check_counted_as_loaded(placed.footprint, pipe, ("text_encoder", "vae", "transformer"))
    wo = {p.dtype for n, p in pipe.text_encoder.named_parameters() if n.endswith("wo.weight")}
    assert wo == ({torch.float32} if dtype == torch.float16 else {torch.bfloat16})
