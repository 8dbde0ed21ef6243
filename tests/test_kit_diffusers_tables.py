"""The kit's reading of diffusers' AutoPipeline tables and pipeline sources, and its check that a family's rows serve
them: right on the installed diffusers and the real plugins, and failing, saying why, on a wrong expectation or a
source it cannot read."""

import sys
import textwrap
from dataclasses import replace

import pytest

from autopipe_core.registry import build
from autopipe_core.tasks import Task
from autopipe_core.testing import auto_tables, check_rows_serve_diffusers, keys_naming, pipelines_taking
from autopipe_core.testing.diffusers_tables import pipelines_folder

AURAFLOW = frozenset({"autopipe-auraflow"})
FLUX2 = frozenset({"autopipe-flux2"})


@pytest.fixture(scope="module")
def auraflow():
    return build(AURAFLOW)


def _source(tmp_path, text: str):
    path = tmp_path / "auto_pipeline.py"
    path.write_text(textwrap.dedent(text))
    return path


TABLES = """
    from collections import OrderedDict

    AUTO_TEXT2IMAGE_PIPELINES_MAPPING = OrderedDict([("alpha", AlphaPipeline), ("beta", BetaPipeline)])
    AUTO_IMAGE2IMAGE_PIPELINES_MAPPING = OrderedDict([("alpha", AlphaImg2ImgPipeline)])
    AUTO_INPAINT_PIPELINES_MAPPING = OrderedDict([])

    if is_sentencepiece_available():
        AUTO_TEXT2IMAGE_PIPELINES_MAPPING["gamma"] = GammaPipeline
"""


def test_the_tables_are_read_from_the_source_as_diffusers_builds_them(tmp_path):
    tables = auto_tables(_source(tmp_path, TABLES))
    assert tables == {
        Task.TEXT2IMG: {"alpha": "AlphaPipeline", "beta": "BetaPipeline", "gamma": "GammaPipeline"},
        Task.IMG2IMG: {"alpha": "AlphaImg2ImgPipeline"},
        Task.INPAINT: {},
    }
    assert list(tables[Task.TEXT2IMG]) == ["alpha", "beta", "gamma"]  # diffusers' order, the conditional key last


def test_the_installed_tables_match_what_importing_diffusers_gives_without_importing_it():
    was_imported = "diffusers.pipelines.auto_pipeline" in sys.modules
    tables = auto_tables()
    if not was_imported:
        assert "diffusers.pipelines.auto_pipeline" not in sys.modules
    from diffusers.pipelines import auto_pipeline

    imported = {
        Task.TEXT2IMG: auto_pipeline.AUTO_TEXT2IMAGE_PIPELINES_MAPPING,
        Task.IMG2IMG: auto_pipeline.AUTO_IMAGE2IMAGE_PIPELINES_MAPPING,
        Task.INPAINT: auto_pipeline.AUTO_INPAINT_PIPELINES_MAPPING,
    }
    assert tables == {task: {key: cls.__name__ for key, cls in table.items()} for task, table in imported.items()}


@pytest.mark.parametrize("text, says", [
    ("AUTO_TEXT2IMAGE_PIPELINES_MAPPING = OrderedDict([])\nAUTO_IMAGE2IMAGE_PIPELINES_MAPPING = OrderedDict([])\n",
     "builds no AUTO_INPAINT_PIPELINES_MAPPING"),
    ("AUTO_TEXT2IMAGE_PIPELINES_MAPPING = make_table()\n", "is not built as OrderedDict"),
    ("AUTO_TEXT2IMAGE_PIPELINES_MAPPING = OrderedDict([('alpha', pipelines.Alpha)])\n", r"is not a \(key, Class\) pair"),
    ("AUTO_TEXT2IMAGE_PIPELINES_MAPPING[name] = AlphaPipeline\n", "is not a key and a class name"),
])
def test_a_table_built_another_way_is_a_clear_error(tmp_path, text, says):
    with pytest.raises(ValueError, match=says):
        auto_tables(_source(tmp_path, text))


def test_the_classes_taking_a_model_are_read_from_the_sources(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "pipeline_x.py").write_text(textwrap.dedent("""
        import torch_only_here  # never imported by the reader

        class XPipeline(DiffusionPipeline):
            def __init__(self, transformer: Optional[XTransformer2DModel], vae: AutoencoderKL):
                pass

        class XUnionPipeline(DiffusionPipeline):
            def __init__(self, transformer: XTransformer2DModel | None = None):
                pass

        class XLoader:
            def load(self, transformer: XTransformer2DModel):
                pass

        class YPipeline(DiffusionPipeline):
            def __init__(self, transformer: YTransformer2DModel):
                pass
    """))
    assert pipelines_taking("XTransformer2DModel", folder=tmp_path) == {"XPipeline", "XUnionPipeline"}
    assert pipelines_taking("XTransformer2DModel", "YTransformer2DModel", folder=tmp_path) == {"XPipeline", "XUnionPipeline", "YPipeline"}
    assert pipelines_taking("ZTransformer2DModel", folder=tmp_path) == set()


def test_the_installed_diffusers_pipelines_taking_a_model():
    assert pipelines_folder().name == "pipelines"
    assert pipelines_taking("AuraFlowTransformer2DModel") == {"AuraFlowPipeline"}
    with pytest.raises(ValueError, match="one or more model class names"):
        pipelines_taking()
    with pytest.raises(ValueError, match="one or more model class names"):
        pipelines_taking("")


def test_keys_naming_a_word_by_key_or_class():
    assert keys_naming("aura") == {"auraflow": {Task.TEXT2IMG: "AuraFlowPipeline"}}
    assert keys_naming("AURAFLOWPIPE") == {"auraflow": {Task.TEXT2IMG: "AuraFlowPipeline"}}  # the class, without case
    assert keys_naming("no-such-lineage") == {}
    with pytest.raises(ValueError, match="one or more words"):
        keys_naming()


def test_the_rows_that_serve_diffusers_pass_and_return_its_classes(auraflow):
    assert check_rows_serve_diffusers({"auraflow": "auraflow"}, "aura", auraflow) == {"auraflow": {Task.TEXT2IMG: "AuraFlowPipeline"}}


def test_a_key_diffusers_has_that_the_test_leaves_out_fails(auraflow):
    with pytest.raises(AssertionError, match=r"keys naming 'aura' are \['auraflow'\].*serve the keys diffusers added \(\['auraflow'\]\)"):
        check_rows_serve_diffusers({}, "aura", auraflow)


def test_a_key_diffusers_does_not_have_fails(auraflow):
    with pytest.raises(AssertionError, match=r"drop the keys it no longer has \(\['auraflow2'\]\)"):
        check_rows_serve_diffusers({"auraflow": "auraflow", "auraflow2": "auraflow"}, "aura", auraflow)


def test_a_key_served_by_another_row_fails(auraflow):
    with pytest.raises(AssertionError, match="AuraFlowPipeline resolves to auraflow, not to the row auraflow\\+pag"):
        check_rows_serve_diffusers({"auraflow": ("auraflow", {"pag"})}, "aura", auraflow)


def test_a_task_refused_with_no_reason_fails(auraflow):
    key = ("auraflow", frozenset())
    silent = replace(auraflow, missing={**auraflow.missing, key: {t: r for t, r in auraflow.missing[key].items() if t is not Task.INPAINT}})
    with pytest.raises(AssertionError, match="refuses inpaint .* with no reason"):
        check_rows_serve_diffusers({"auraflow": "auraflow"}, "aura", silent)


def test_a_row_serving_another_class_than_diffusers_fails(auraflow):
    key = ("auraflow", frozenset())
    other = replace(auraflow, table={**auraflow.table, key: {Task.TEXT2IMG: ("diffusers:FluxPipeline", "autopipe-auraflow")}})
    with pytest.raises(AssertionError, match="serves diffusers:FluxPipeline for text2img, diffusers' 'auraflow' serves AuraFlowPipeline"):
        check_rows_serve_diffusers({"auraflow": "auraflow"}, "aura", other)


def test_a_task_served_beyond_the_tables_must_be_declared_and_served():
    registry = build(FLUX2)
    keys = {"flux2": "flux2", "flux2-klein": "flux2-klein"}
    with pytest.raises(AssertionError, match="flux2-klein claims inpaint .*which diffusers' 'flux2-klein' has no class for"):
        check_rows_serve_diffusers(keys, "flux2", registry)
    served = check_rows_serve_diffusers(keys, "flux2", registry, beyond={"flux2-klein": [Task.INPAINT]})
    assert set(served) == set(keys)
    with pytest.raises(AssertionError, match="does not serve inpaint, which the test says it serves beyond diffusers' 'flux2'"):
        check_rows_serve_diffusers(keys, "flux2", registry, beyond={"flux2": [Task.INPAINT], "flux2-klein": [Task.INPAINT]})
    with pytest.raises(ValueError, match="beyond names keys \\['flux3'\\]"):
        check_rows_serve_diffusers(keys, "flux2", registry, beyond={"flux3": [Task.INPAINT]})
