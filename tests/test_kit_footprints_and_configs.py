"""The kit's comparison of a footprint with the pipeline loaded, and of config folders as JSON: right where they
agree, failing with both figures or a clear error where they do not."""

import json
import types

import pytest
import torch

from autopipe_core.specs import ComponentBytes, Footprint
from autopipe_core.testing import check_counted_as_loaded, json_files, loaded_bytes, write_json_files


def _pipeline():
    """A pipeline's components as loading gives them: a bfloat16 linear layer, and a float32 norm with statistics."""
    return types.SimpleNamespace(
        transformer=torch.nn.Linear(4, 3, dtype=torch.bfloat16),  # 12 weights + 3 biases, 2 bytes each
        vae=torch.nn.BatchNorm1d(5),  # 5 weights + 5 biases in float32; 5 + 5 statistics and an int64 step in its state dict
    )


def _counted(**nbytes):
    return Footprint(tuple(ComponentBytes(n, b, None, "bfloat16", "safetensors headers") for n, b in nbytes.items()))


def test_the_bytes_a_module_holds():
    pipe = _pipeline()
    assert loaded_bytes(pipe.transformer) == 15 * 2
    assert loaded_bytes(pipe.vae) == 10 * 4 and loaded_bytes(pipe.vae, state_dict=True) == 20 * 4 + 8


def test_a_footprint_counting_what_loading_gives_passes():
    pipe = _pipeline()
    check_counted_as_loaded(_counted(transformer=30, vae=40), pipe, ["transformer", "vae"])
    check_counted_as_loaded(_counted(transformer=30, vae=88), pipe, ("transformer", "vae"), state_dict=True)


def test_a_footprint_counting_otherwise_fails_with_both_figures():
    pipe = _pipeline()
    with pytest.raises(AssertionError, match="vae: counted 88 bytes, loaded 40"):
        check_counted_as_loaded(_counted(transformer=30, vae=88), pipe, ["transformer", "vae"])
    with pytest.raises(AssertionError, match="vae: counted None bytes, loaded 40"):
        check_counted_as_loaded(_counted(transformer=30), pipe, ["transformer", "vae"])
    with pytest.raises(ValueError, match="needs the components"):
        check_counted_as_loaded(_counted(transformer=30), pipe, [])


def test_a_folders_json_without_the_version_stamps(tmp_path):
    (tmp_path / "vae").mkdir()
    (tmp_path / "model_index.json").write_text(json.dumps({"_class_name": "X", "_diffusers_version": "0.42.1"}))
    (tmp_path / "vae" / "config.json").write_text(json.dumps({"scaling_factor": 0.13, "transformers_version": "5.0"}))
    (tmp_path / "vae" / "weights.bin").write_bytes(b"not json, not read")
    assert json_files(tmp_path) == {"model_index.json": {"_class_name": "X"}, "vae/config.json": {"scaling_factor": 0.13}}
    assert json_files(tmp_path, ignore=["_diffusers_version"])["vae/config.json"] == {"scaling_factor": 0.13, "transformers_version": "5.0"}


def test_a_folder_that_is_not_one_or_a_file_that_is_not_json_is_an_error(tmp_path):
    with pytest.raises(NotADirectoryError):
        json_files(tmp_path / "absent")
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="config.json is not JSON"):
        json_files(tmp_path)


def test_a_folder_of_json_is_written_as_read_back(tmp_path):
    files = {"model_index.json": {"_class_name": "X", "vae": ["diffusers", "AutoencoderKL"]}, "vae/config.json": {"scaling_factor": 0.13}}
    assert write_json_files(tmp_path / "x", files) == tmp_path / "x"
    assert json_files(tmp_path / "x") == files
    with pytest.raises(ValueError, match="'../escape.json' is not a path inside the folder"):
        write_json_files(tmp_path / "y", {"../escape.json": {}})
    assert not (tmp_path / "escape.json").exists()
