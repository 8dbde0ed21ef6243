"""autopipe_core.toolkit.single_file: shipped config folders, header look-ups, the core's default single-file load; the toolkit imports nothing heavy and ships in the core's wheel."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from autopipe_core import UnsupportedModelError
from autopipe_core.headers import read_header, write_header
from autopipe_core.prediction import Prediction
from autopipe_core.specs import Detection
from autopipe_core.toolkit import single_file as sf

ROOT = Path(__file__).resolve().parent.parent


def _write(folder: Path, files: dict[str, object]) -> Path:
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content))
    return folder


@pytest.fixture
def configs(tmp_path) -> Path:
    root = tmp_path / "autopipe_myfamily" / "configs"
    _write(root / "base", {"model_index.json": {"_class_name": "P"}, "unet/config.json": {"in_channels": 4}})
    _write(root / "control", {"config.json": {"cross_attention_dim": 32}})
    _write(root / "notes", {"README.json": {}})  # neither: not a config folder
    return root


def test_config_folders_find_pipelines_and_components_and_say_what_they_have(configs):
    folders = sf.ConfigFolders(configs)
    assert folders.owner == "autopipe-myfamily" and folders.names() == ["base", "control"]
    assert folders.folder("base") == configs / "base" and folders.get("control") == configs / "control"
    assert folders.get("notes") is None and folders.get("../configs/base") is None and folders.get("..") is None
    # The same as strings, without pathlib, for detection (get_path: None where get says None, and for no name).
    assert folders.folder_path("base") == str(configs / "base") and folders.get_path("control") == str(configs / "control")
    assert [folders.get_path(n) for n in ("notes", "../configs/base", "..", "", None)] == [None] * 5
    with pytest.raises(ValueError, match=r"^autopipe-x ships no config for 'xl'; it has: base, control$"):
        sf.ConfigFolders(configs, "autopipe-x").folder_path("xl")
    assert folders.config("base", "unet") == {"in_channels": 4} and folders.config("control") == {"cross_attention_dim": 32}
    with pytest.raises(ValueError, match=r"^autopipe-x ships no config for 'xl'; it has: base, control$"):
        sf.ConfigFolders(configs, "autopipe-x").folder("xl")
    assert sf.ConfigFolders(configs / "missing").names() == []
    with pytest.raises(FileNotFoundError, match="vae"):
        sf.read_config(configs / "base", "vae")


@pytest.fixture
def header(tmp_path):
    unet = sf.LDM_UNET
    tensors = {
        sf.LDM_CONV_IN: ("F16", (320, 9, 3, 3)),
        unet + "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": ("F16", (320, 1, 1)),  # wrong rank: a broken file
        unet + "input_blocks.4.1.transformer_blocks.0.attn2.to_k.weight": ("F16", (640, 768)),
        unet + "input_blocks.2.1.transformer_blocks.0.attn2.to_k.weight": ("F16", (320, 768)),
        "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight": ("F16", (49408, 768)),
    }
    return read_header(write_header(tmp_path / "m.safetensors", tensors))


def test_first_key_prefers_the_named_tensor_then_takes_the_first_in_sorted_order(header):
    unet, suffix = sf.LDM_UNET, "attn2.to_k.weight"
    preferred = unet + "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight"
    assert sf.first_key(header, unet, suffix, prefer=preferred) == preferred
    assert sf.first_key(header, unet, suffix, prefer=preferred, rank=2) == unet + "input_blocks.2.1.transformer_blocks.0.attn2.to_k.weight"
    assert sf.first_key(header, unet, suffix, prefer="absent", rank=2) == unet + "input_blocks.2.1.transformer_blocks.0.attn2.to_k.weight"
    assert sf.first_key(header, "control_model.", suffix) is None
    assert sf.first_key(["b.x.w", "a.x.w", "a.y.w"], "a.", ".w") == "a.x.w"  # plain names work too


def test_shape_is_none_when_absent_or_of_another_rank(header):
    assert sf.shape(header, sf.LDM_CONV_IN) == (320, 9, 3, 3) and sf.shape(header, sf.LDM_CONV_IN, rank=4) == (320, 9, 3, 3)
    assert sf.shape(header, sf.LDM_CONV_IN, rank=2) is None
    assert sf.shape(header, sf.LDM_LABEL_EMB) is None and sf.shape(header, None) is None


def test_the_prediction_clause_says_what_the_file_states_or_what_is_taken():
    stated = Prediction("v_prediction", None, "marker tensor v_pred")
    assert sf.prediction_clause(stated, "epsilon") == "; " + stated.describe()
    undecided = Prediction(None, False, "metadata ss_zero_terminal_snr = 'False'")
    assert sf.prediction_clause(undecided, "epsilon, as released", ": nothing said") == "; epsilon, as released (metadata ss_zero_terminal_snr = 'False')"
    assert sf.prediction_clause(Prediction(), "epsilon, as released", ": nothing said") == "; epsilon, as released: nothing said"


def _pipeline_folder(root: Path) -> Path:
    tokenizer = {"tokenizer_class": "CLIPTokenizer", "model_max_length": 77, "pad_token": "<|endoftext|>"}
    return _write(root, {
        "model_index.json": {
            "_class_name": "P", "force_zeros_for_empty_prompt": True,
            "tokenizer": ["transformers", "CLIPTokenizer"], "tokenizer_2": ["transformers", "CLIPTokenizerFast"],
            "tokenizer_3": ["transformers", "T5TokenizerFast"], "tokenizer_4": ["transformers", "CLIPTokenizer"],
            "tokenizer_5": [None, None], "unet": ["diffusers", "UNet2DConditionModel"],
        },
        "tokenizer/tokenizer_config.json": tokenizer,
        "tokenizer_2/tokenizer_config.json": {**tokenizer, "pad_token": "!"},
        "tokenizer_3/tokenizer_config.json": {"tokenizer_class": "T5Tokenizer"},  # not CLIP: left to diffusers
        "tokenizer_4/tokenizer_config.json": tokenizer,
        "tokenizer_4/vocab.json": {"a": 0},  # has its vocabulary: left to diffusers
    })


def test_missing_tokenizers_are_the_clip_ones_without_vocabulary_that_the_caller_does_not_pass(tmp_path):
    folder = _pipeline_folder(tmp_path / "cfg")
    built = sf.missing_tokenizers(folder, {})
    assert sorted(built) == ["tokenizer", "tokenizer_2"]
    assert built["tokenizer"]("a photo of a cat").input_ids == [49406, 320, 1125, 539, 320, 2368, 49407]
    assert built["tokenizer_2"].pad_token == "!" and len(built["tokenizer_2"]) == 49408
    assert sorted(sf.missing_tokenizers(str(folder), {"tokenizer": None})) == ["tokenizer_2"]  # the caller's, even None, wins
    assert sf.missing_tokenizers(None, {}) == {} and sf.missing_tokenizers("org/repo-id", {}) == {}
    assert sf.missing_tokenizers(tmp_path, {}) == {}  # no model_index.json


def test_clip_tokenizer_from_a_shipped_folder():
    import autopipe_sdxl

    folder = Path(autopipe_sdxl.__file__).parent / "configs" / "xl-base" / "tokenizer_2"
    tok = sf.clip_tokenizer_from(folder)
    assert (type(tok).__name__, len(tok), tok.pad_token, tok.model_max_length) == ("CLIPTokenizer", 49408, "!", 77)
    with pytest.raises(FileNotFoundError):
        sf.clip_tokenizer_from(folder.parent)


class Recorder:
    seen: dict = {}

    @classmethod
    def from_single_file(cls, path, **kwargs):
        cls.seen = dict(kwargs, path=path)
        return "pipeline"


def test_default_load_hands_diffusers_the_tokenizers_the_folder_lacks(tmp_path):
    folder = _pipeline_folder(tmp_path / "cfg")
    detection = Detection("fam", "v", 0.9, "why", pipeline_class="diffusers:P", config=str(folder))
    caller = {"config": str(folder), "local_files_only": True, "tokenizer_2": "mine"}
    assert sf.default_load(Recorder, "x.safetensors", detection, caller) == "pipeline"
    seen = Recorder.seen
    assert seen["path"] == "x.safetensors" and seen["tokenizer_2"] == "mine" and seen["local_files_only"] is True
    assert type(seen["tokenizer"]).__name__ == "CLIPTokenizer" and "tokenizer_3" not in seen and "tokenizer_4" not in seen
    assert sorted(caller) == ["config", "local_files_only", "tokenizer_2"]  # the caller's dict is left as it was
    sf.default_load(Recorder, "x.safetensors", detection, {})  # no config= given: the detection's folder
    assert type(Recorder.seen["tokenizer"]).__name__ == "CLIPTokenizer"


def test_default_load_turns_a_missing_component_into_an_error_that_names_the_file():
    from diffusers.loaders.single_file_utils import SingleFileComponentError

    class Missing:
        @classmethod
        def from_single_file(cls, path, **kwargs):
            raise SingleFileComponentError("Failed to load CLIPTextModel. Please pass text_encoder=...")

    detection = Detection("fam", "v", 0.9, "why", pipeline_class="diffusers:P")
    with pytest.raises(UnsupportedModelError, match=r"^unet-only\.safetensors: Failed to load CLIPTextModel\. Please pass text_encoder="):
        sf.default_load(Missing, "unet-only.safetensors", detection, {})


def test_sdxl_needs_no_single_file_hook_of_its_own():
    """Its single files load through the core's default, which builds both CLIP tokenizers (tests/test_single_file.py loads a tiny SDXL file end to end)."""
    import autopipe_sdxl

    assert not hasattr(autopipe_sdxl, "autopipe_from_single_file")


def test_importing_the_toolkit_imports_nothing_heavy():
    code = (
        "import sys\n"
        "from autopipe_core import toolkit\n"
        "from autopipe_core.toolkit import single_file, tiny, tokenizers\n"
        "print(sorted(m for m in ('torch', 'diffusers', 'transformers', 'tokenizers', 'safetensors') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stderr


def test_the_clip_merges_and_their_licence_ship_in_the_cores_wheel(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "--quiet", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "--wheel-dir", str(tmp_path), str(ROOT)],
        check=True, capture_output=True,
    )
    (wheel,) = tmp_path.glob("autopipe_core-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    data = "autopipe_core/toolkit/data/clip-bpe/"
    assert {data + "merges.txt.gz", data + "LICENSE", "autopipe_core/toolkit/tokenizers.py", "autopipe_core/toolkit/single_file.py", "autopipe_core/toolkit/tiny.py"} <= names


@pytest.mark.parametrize("module", ["tokenizers", "tiny", "single_file"])
def test_the_guide_documents_every_public_name_of_the_toolkit(module):
    import importlib

    text = (ROOT / "docs" / "plugin-guide.md").read_text(encoding="utf-8")
    section = text[text.index("## Toolkit\n"):]
    section = section[: section.index("\n## ", 1)]
    names = importlib.import_module(f"autopipe_core.toolkit.{module}").__all__
    assert f"`toolkit.{module}`" in section
    assert [n for n in names if f"`{n}`" not in section and f"`{n}(" not in section] == []


def test_configs_a_caller_points_at_are_read_capped(tmp_path):
    """A config= folder is the caller's: its JSON is read as every checkpoint's is, capped at sources.MAX_JSON_BYTES."""
    from autopipe_core import InvalidModelError, sources
    from autopipe_core.toolkit.single_file import missing_tokenizers, read_config

    (tmp_path / "unet").mkdir()
    (tmp_path / "unet" / "config.json").write_text('{"x": "' + "a" * sources.MAX_JSON_BYTES + '"}')
    with pytest.raises(InvalidModelError):
        read_config(tmp_path, "unet")
    (tmp_path / "model_index.json").write_text("[" * 100_000)
    with pytest.raises(InvalidModelError):
        missing_tokenizers(tmp_path, {})
