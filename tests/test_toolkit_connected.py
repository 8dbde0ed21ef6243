"""autopipe_core.toolkit.connected: a decoder folder whose model card names its prior, loaded and planned as one
combined pipeline, on real diffusers pipelines at toy size (DDPMPipeline for the decoder and the prior, a combined class
defined here), built in this test's folder; no plugin needed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from autopipe_core import (
    ComponentBytes,
    DeviceFacts,
    Footprint,
    GiB,
    Identity,
    LoadPlan,
    ModelNotFoundError,
    UnsupportedModelError,
    UntrustedCodeError,
)
from autopipe_core.toolkit import connected
from autopipe_core.toolkit.connected import Connection


def _combined_class():
    from diffusers import DDPMScheduler, DiffusionPipeline, UNet2DModel

    class ToyCombined(DiffusionPipeline):
        """A decoder (unet, scheduler) and its prior's components as prior_unet, prior_scheduler: a combined pipeline's shape."""

        _optional_components = ["prior_scheduler"]

        def __init__(self, unet: UNet2DModel, scheduler: DDPMScheduler, prior_unet: UNet2DModel, prior_scheduler: DDPMScheduler | None = None):
            super().__init__()
            self.register_modules(unet=unet, scheduler=scheduler, prior_unet=prior_unet, prior_scheduler=prior_scheduler)

    return ToyCombined


CONNECTION = Connection(
    title="Toy",
    combined=frozenset({"test_toolkit_connected:ToyCombined"}),
    decoders=frozenset({"diffusers:DDPMPipeline"}),
    prior_class="diffusers:DDPMPipeline",
    prior_components=("unet", "scheduler"),
    example="someone/toy-prior",
)
CARD = "---\nprior:\n- {}\ntags:\n- toy\n---\n\nA toy decoder.\n"


def _ddpm(seed: int):
    from diffusers import DDPMPipeline, DDPMScheduler, UNet2DModel

    torch.manual_seed(seed)
    unet = UNet2DModel(
        sample_size=8, in_channels=3, out_channels=3, block_out_channels=(8, 8), layers_per_block=1, norm_num_groups=4,
        down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"),
    )
    return DDPMPipeline(unet=unet, scheduler=DDPMScheduler(num_train_timesteps=10))


@pytest.fixture(scope="module")
def decoder(tmp_path_factory) -> Path:
    """A decoder folder (DDPMPipeline) with its prior in `prior/` and a README.md naming it by the relative path."""
    root = tmp_path_factory.mktemp("connected") / "decoder"
    _ddpm(0).save_pretrained(root)
    _ddpm(1).save_pretrained(root / "prior")
    (root / "README.md").write_text(CARD.format("prior"))
    return root


@pytest.fixture(scope="module")
def toy_combined():
    return _combined_class()


def _copy_without_card(decoder: Path, where: Path) -> Path:
    import shutil

    folder = where / "bare"
    shutil.copytree(decoder, folder, ignore=shutil.ignore_patterns("prior", "README.md"))
    return folder


# -- the declaration ----------------------------------------------------------------------------------------------


def test_a_connection_holds_class_names_and_says_its_prior_keywords():
    assert CONNECTION.combined == {"ToyCombined"} and CONNECTION.decoders == {"DDPMPipeline"}
    assert CONNECTION.prior_keywords == ("prior_unet", "prior_scheduler")


@pytest.mark.parametrize(
    "changes, says",
    [
        ({"combined": frozenset()}, "at least one combined class"),
        ({"decoders": frozenset()}, "at least one combined class, one decoder class"),
        ({"prior_components": ()}, "one prior component"),
        ({"prior_class": "DDPMPipeline"}, "'module:Class'"),
    ],
)
def test_a_connection_missing_a_part_is_refused_when_made(changes, says):
    fields = {"title": "T", "combined": frozenset({"m:A"}), "decoders": frozenset({"m:B"}), "prior_class": "m:P", "prior_components": ("p",), "example": "e"}
    with pytest.raises(ValueError, match=says):
        Connection(**{**fields, **changes})


# -- the card -----------------------------------------------------------------------------------------------------


def test_the_card_names_priors_as_a_list_or_a_string_and_none_without_the_key(tmp_path):
    (tmp_path / "README.md").write_text("---\nprior:\n- a/b\n- c/d\n---\n")
    assert connected.card_priors(tmp_path) == ["a/b", "c/d"]
    (tmp_path / "README.md").write_text("---\nprior: a/b\n---\n")
    assert connected.card_priors(tmp_path) == ["a/b"]
    (tmp_path / "README.md").write_text("---\nlicense: mit\n---\n")
    assert connected.card_priors(tmp_path) == []
    (tmp_path / "README.md").unlink()
    assert connected.card_priors(tmp_path) == []


def test_a_relative_prior_is_the_decoder_folders_then_a_path_then_a_repo_id(decoder, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing named "prior" here: the decoder folder's own is meant
    assert connected.resolve_prior(decoder, "prior") == str((decoder / "prior").resolve())
    assert connected.resolve_prior(decoder, str(decoder / "prior")) == str(decoder / "prior")
    assert connected.resolve_prior(decoder, "someone/a-prior") == "someone/a-prior"


def test_a_card_without_prior_says_what_to_pass_and_what_to_add(decoder, tmp_path):
    bare = _copy_without_card(decoder, tmp_path)
    with pytest.raises(UnsupportedModelError) as err:
        connected.find_prior(CONNECTION, bare, bare, "ToyCombined")
    message = str(err.value)
    assert f"{bare} is a Toy decoder; ToyCombined needs its prior too" in message
    assert "'prior: [someone/toy-prior]'" in message and "prior_unet=, prior_scheduler=" in message


# -- keywords -----------------------------------------------------------------------------------------------------


def test_keywords_split_between_the_prior_and_the_decoder_as_diffusers_splits_them(toy_combined):
    unet = object()
    kwargs = {
        "prior_unet": unet, "unet": "decoder's", "revision": "abc", "subfolder": "x", "variant": "fp16",
        "scheduler": "decoder's scheduler", "dtype": {"default": torch.float16, "prior_unet": torch.float32, "unet": torch.bfloat16},
    }
    passed, decoder_kwargs, prior_kwargs = connected.split_kwargs(toy_combined, kwargs, CONNECTION.prior_components)
    assert passed == {"unet": unet}
    assert "prior_unet" not in decoder_kwargs and decoder_kwargs["unet"] == "decoder's" and decoder_kwargs["revision"] == "abc"
    # the prior: the loading options, not the decoder's components, its own checkpoint's options or schedulers
    assert prior_kwargs == {"variant": "fp16", "dtype": {"default": torch.float16, "unet": torch.float32}}
    assert decoder_kwargs["dtype"] == {"default": torch.float16, "unet": torch.bfloat16}
    _, decoder_kwargs, prior_kwargs = connected.split_kwargs(toy_combined, {"torch_dtype": torch.float16}, CONNECTION.prior_components)
    assert decoder_kwargs == prior_kwargs == {"torch_dtype": torch.float16}


# -- loading ------------------------------------------------------------------------------------------------------


def test_a_decoder_folder_loads_as_the_combined_pipeline_from_any_directory(decoder, toy_combined, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    pipe = connected.from_pretrained(CONNECTION, toy_combined, str(decoder), {"dtype": {"default": torch.float32, "prior_unet": torch.bfloat16}})
    assert type(pipe) is toy_combined
    assert pipe.unet.dtype == torch.float32 and pipe.prior_unet.dtype == torch.bfloat16  # each side its own dtype
    for loaded, saved in ((pipe.unet, _ddpm(0).unet), (pipe.prior_unet, _ddpm(1).unet)):  # each from its own folder
        assert all(torch.equal(a.float(), b.to(torch.bfloat16).float() if loaded.dtype == torch.bfloat16 else b)
                   for a, b in zip(loaded.parameters(), saved.parameters()))
    assert pipe.config["_name_or_path"] == str(decoder)


def test_prior_components_passed_are_used_and_the_required_ones_need_no_card(decoder, toy_combined, tmp_path):
    from diffusers import DDPMScheduler

    prior = _ddpm(2)
    scheduler = DDPMScheduler(num_train_timesteps=10)
    one = connected.from_pretrained(CONNECTION, toy_combined, decoder, {"prior_scheduler": scheduler})
    assert one.prior_scheduler is scheduler and one.prior_unet is not None  # the rest from the card's prior
    bare = _copy_without_card(decoder, tmp_path)
    both = connected.from_pretrained(CONNECTION, toy_combined, bare, {"prior_unet": prior.unet, "prior_scheduler": scheduler})
    assert both.prior_unet is prior.unet and both.prior_scheduler is scheduler
    required = connected.from_pretrained(CONNECTION, toy_combined, bare, {"prior_unet": prior.unet})  # prior_scheduler is optional
    assert required.prior_unet is prior.unet and required.prior_scheduler is None
    with pytest.raises(UnsupportedModelError, match="README.md names none"):
        connected.from_pretrained(CONNECTION, toy_combined, bare, {"prior_scheduler": scheduler})


def test_what_diffusers_loads_itself_is_left_to_it_or_to_the_familys_loader(decoder, toy_combined, tmp_path):
    from diffusers import DDPMPipeline

    assert connected.from_pretrained(CONNECTION, DDPMPipeline, decoder, {}) is None  # not a combined class
    saved = tmp_path / "saved-combined"
    connected.from_pretrained(CONNECTION, toy_combined, decoder, {}).save_pretrained(saved)
    assert connected.from_pretrained(CONNECTION, toy_combined, saved, {}) is None  # already combined on disk
    assert connected.from_pretrained(CONNECTION, toy_combined, "someone/a-decoder", {}) is None  # diffusers reads the hub card
    calls = []

    def load(cls, reference, kwargs):
        calls.append((cls.__name__, str(reference), dict(kwargs)))
        return "loaded"

    assert connected.from_pretrained(CONNECTION, DDPMPipeline, decoder, {"variant": None}, load=load) == "loaded"
    assert calls == [("DDPMPipeline", str(decoder), {"variant": None})]


def test_the_familys_loader_loads_the_prior_and_the_decoder(decoder, toy_combined):
    from diffusers import DDPMPipeline, DiffusionPipeline

    seen = []

    def load(cls, reference, kwargs):
        seen.append((cls, Path(reference).name))
        return DDPMPipeline.from_pretrained(reference, **kwargs)

    pipe = connected.from_pretrained(CONNECTION, toy_combined, decoder, {}, load=load)
    assert type(pipe) is toy_combined
    assert seen == [(DDPMPipeline, "prior"), (DiffusionPipeline, "decoder")]


def test_the_prior_the_card_names_is_checked_by_the_guard(decoder, toy_combined, tmp_path):
    import shutil

    folder = tmp_path / "decoder"
    shutil.copytree(decoder, folder)
    index = json.loads((folder / "prior" / "model_index.json").read_text())
    index["unet"] = ["os", "system"]
    (folder / "prior" / "model_index.json").write_text(json.dumps(index))
    with pytest.raises(UntrustedCodeError, match=r"unet: \['os', 'system'\]"):
        connected.from_pretrained(CONNECTION, toy_combined, folder, {})


def _in_hub_cache(cache: Path, repo: str, src: Path, commit: str, card: str | None = None, skip: tuple[str, ...] = ()) -> None:
    """`src` as huggingface_hub's cache holds a snapshot of `repo` at `commit` (refs/main naming it): what an offline
    load reads."""
    import shutil

    base = cache / ("models--" + repo.replace("/", "--"))
    snapshot = base / "snapshots" / commit
    shutil.copytree(src, snapshot, ignore=shutil.ignore_patterns("README.md", *skip))
    if card is not None:
        (snapshot / "README.md").write_text(card)
    (base / "refs").mkdir(parents=True)
    (base / "refs" / "main").write_text(commit)


def test_with_a_familys_loader_a_hub_decoder_is_assembled_its_card_read_from_the_hub_cache(decoder, toy_combined, tmp_path):
    from diffusers import DDPMPipeline, DiffusionPipeline

    cache = tmp_path / "hub"
    _in_hub_cache(cache, "someone/toy-decoder", decoder, "1" * 40, CARD.format("someone/toy-prior"), skip=("prior",))
    _in_hub_cache(cache, "someone/toy-prior", decoder / "prior", "2" * 40)
    _in_hub_cache(cache, "someone/toy-cardless", decoder, "3" * 40, skip=("prior",))
    seen = []

    def load(cls, reference, kwargs):
        seen.append((cls, reference))
        return (DDPMPipeline if cls is DiffusionPipeline else cls).from_pretrained(reference, **kwargs)

    pipe = connected.from_pretrained(CONNECTION, toy_combined, "someone/toy-decoder", {"cache_dir": str(cache)}, load=load)
    assert type(pipe) is toy_combined and seen == [(DDPMPipeline, "someone/toy-prior"), (DiffusionPipeline, "someone/toy-decoder")]
    assert all(torch.equal(a, b) for a, b in zip(pipe.prior_unet.parameters(), _ddpm(1).unet.parameters()))
    with pytest.raises(ModelNotFoundError, match="README.md, whose model card names the prior, is not in the hub cache"):
        connected.from_pretrained(CONNECTION, toy_combined, "someone/toy-cardless", {"cache_dir": str(cache)}, load=load)
    passed = {"prior_unet": pipe.prior_unet}  # the required prior components: no card needed, none read
    assert connected.from_pretrained(CONNECTION, toy_combined, "someone/toy-cardless", {"cache_dir": str(cache), **passed}, load=load).prior_unet is pipe.prior_unet


# -- planning -----------------------------------------------------------------------------------------------------

PLAN = LoadPlan("float32", None, "device", "cpu", "float32 for the test")


def _decoder_identity(folder: Path, class_name: str = "DDPMPipeline") -> Identity:
    return Identity("folder", str(folder), class_name, {"unet": ("diffusers", "UNet2DModel"), "scheduler": ("diffusers", "DDPMScheduler")})


def test_the_prior_is_counted_from_the_folder_the_card_names(decoder):
    unet = ComponentBytes("unet", 100, 25, "float32", "safetensors headers")
    fp = connected.with_prior(CONNECTION, _decoder_identity(decoder), PLAN, Footprint((unet,)))
    prior = fp.component("prior_unet")
    params = sum(p.numel() for p in _ddpm(1).unet.parameters())
    assert prior is not None and prior.parameters == params and prior.nbytes == 4 * params and prior.dtype == "float32"
    assert prior.files == ("unet/diffusion_pytorch_model.safetensors",)
    assert fp.component("prior_scheduler") is None  # no weights


def test_the_prior_is_not_counted_again_nor_for_a_checkpoint_that_is_no_decoder(decoder):
    passed = Footprint((ComponentBytes("prior_unet", 8, 2, "float32", "the object passed"),))
    assert connected.with_prior(CONNECTION, _decoder_identity(decoder), PLAN, passed) == passed
    empty = Footprint(())
    assert connected.with_prior(CONNECTION, _decoder_identity(decoder, "ToyCombined"), PLAN, empty) == empty


def test_a_decoder_whose_prior_cannot_be_read_counts_it_unknown_saying_why(decoder, tmp_path):
    bare = _copy_without_card(decoder, tmp_path)
    (unknown,) = connected.count_prior(_decoder_identity(bare), PLAN, ["unet"])
    assert unknown.name == "prior" and unknown.nbytes is None and "names no prior" in unknown.source
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "README.md").write_text("---\nprior: [: : :\n---\n")
    (unknown,) = connected.count_prior(_decoder_identity(tmp_path / "bad"), PLAN, ["unet"])
    assert unknown.nbytes is None and "could not be read" in unknown.source


def test_a_combined_pipeline_is_never_balanced_but_planned_on_one_gpu():
    identity = Identity("folder", "x", "DDPMPipeline")
    device = DeviceFacts("cuda", 4, 10 * GiB, 12 * GiB, True)
    fp = Footprint((ComponentBytes("unet", 6 * GiB, 3 * GiB // 2, "float32", "headers"), ComponentBytes("prior_unet", 6 * GiB, 3 * GiB // 2, "float32", "headers")))
    balanced = LoadPlan("float16", None, "balanced", "cuda", "float16 from its files; balanced over 4 GPUs")
    moved = connected.not_balanced(CONNECTION, identity, device, fp, balanced)
    assert moved is not None and moved.placement == "model_cpu_offload"
    assert moved.reason.startswith("float16 from its files; ") and moved.reason.endswith(f"not balanced over 4 GPUs: {connected.NOT_BALANCED}")
    assert connected.not_balanced(CONNECTION, identity, device, fp, LoadPlan("float16", None, "device", "cuda", "r")) is None
    other = Identity("folder", "x", "StableDiffusionPipeline")
    assert connected.not_balanced(CONNECTION, other, device, fp, balanced) is None


def test_importing_the_module_imports_no_heavy_library():
    code = "import sys; import autopipe_core.toolkit.connected; print([m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
