"""autopipe_core.toolkit.missing and toolkit.requirements: the usual sentences, rows and requirements come out as the
shipped plugins declared them by hand, and a wrong input is refused."""

from __future__ import annotations

import pytest

from autopipe_core import Task
from autopipe_core.toolkit import missing, requirements


def test_the_sentences_name_the_model_and_what_its_pag_classes_would_take():
    assert missing.no_pag("Krea 2") == "diffusers has no PAG pipeline for Krea 2 (no PAG class takes its transformer); leave out enable_pag"
    assert missing.no_pag("Helios", "HeliosTransformer3DModel").endswith("(no PAG class takes HeliosTransformer3DModel); leave out enable_pag")
    assert missing.no_controlnet("FIBO") == "diffusers has no ControlNet pipeline or ControlNet model for FIBO; leave out controlnet="
    assert "autopipe-flux" in missing.IMG2IMG_ELSEWHERE and "autopipe-sdxl" in missing.INPAINT_ELSEWHERE


@pytest.mark.parametrize("what", ["", "  "])
def test_a_sentence_without_a_name_is_refused(what):
    with pytest.raises(ValueError, match="names the model"):
        missing.no_pag(what)
    with pytest.raises(ValueError, match="names the model"):
        missing.no_controlnet(what)


def test_unsupported_refuses_the_modifier_for_every_task_with_the_reason():
    row = missing.unsupported("krea2", "pag", "why not")
    assert (row.family, set(row.modifiers), dict(row.classes)) == ("krea2", {"pag"}, {})
    assert dict(row.missing) == dict.fromkeys(Task, "why not")
    with pytest.raises(ValueError, match="says why"):
        missing.unsupported("krea2", "pag", " ")
    with pytest.raises(ValueError):
        missing.unsupported("Not A Family!", "pag", "why")


def test_model_type_passes_an_absent_type_unless_told_otherwise():
    r = requirements.model_type("text_encoder", "qwen3", "its text_encoder is a {value} model")
    assert (r.component, r.key, r.values) == ("text_encoder", "model_type", frozenset({"qwen3", None}))
    assert r.met({"text_encoder": {"model_type": "qwen3"}}) and r.met({"text_encoder": {}})
    assert not r.met({"text_encoder": {"model_type": "mistral3"}})
    strict = requirements.model_type("text_encoder", "chatglm", "x {value}", absent_ok=False)
    assert strict.values == frozenset({"chatglm"}) and not strict.met({"text_encoder": {}})
    with pytest.raises(ValueError):
        requirements.model_type("text_encoder", "", "x")
    with pytest.raises(ValueError):
        requirements.model_type("text_encoder", "qwen3", "  ")


@pytest.mark.parametrize(
    "value, default, absent_passes", [(True, True, True), (False, True, False), (False, False, True), (True, False, False)]
)
def test_flag_reads_an_absent_key_as_the_class_default(value, default, absent_passes):
    r = requirements.flag("transformer", "guidance_embeds", value, default=default, otherwise="guidance_embeds {value}")
    assert r.met({"transformer": {"guidance_embeds": value}})
    assert not r.met({"transformer": {"guidance_embeds": not value}})
    assert r.met({"transformer": {}}) is absent_passes


def test_flag_refuses_what_is_not_a_bool_or_names_nothing():
    with pytest.raises(TypeError):
        requirements.flag("transformer", "guidance_embeds", 1, default=True, otherwise="x")
    with pytest.raises(TypeError):
        requirements.flag("transformer", "guidance_embeds", True, default=None, otherwise="x")
    with pytest.raises(ValueError):
        requirements.flag("transformer", "", True, default=True, otherwise="x")
