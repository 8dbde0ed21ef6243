"""Every real checkpoint of the corpus, every task: autopipe's answer is the right one, diffusers' is accounted for.

The corpus (../shared/real_configs, or $AUTOPIPE_REAL_CONFIGS) holds the JSON files of 57 real checkpoints; it
is not part of the repository, so this module is skipped where it is absent (a fresh clone elsewhere). CI
(.ci/run) fails instead when it is absent. The expectations, the differences with diffusers and the code that
asks both libraries are in tests/real_checkpoints_data.py; docs/real-checkpoints.md is written from them by
bench/real_checkpoints.py.
"""

from __future__ import annotations

import importlib.util

import pytest

import real_checkpoints_data as data

CORPUS = data.corpus_dir()

if not (CORPUS / "manifest.json").is_file():
    pytest.skip(
        f"the real-checkpoint corpus is absent ({CORPUS} has no manifest.json): it is not part of the repository; "
        f"set {data.ENV} to its folder to run these tests",
        allow_module_level=True,
    )


@pytest.fixture
def shipped_plugins(monkeypatch):
    """Every distribution this repository ships is loaded, and each loaded without error."""
    monkeypatch.setenv("AUTOPIPE_PLUGINS", data.SHIPPED_PLUGINS)
    from autopipe_core.registry import get_registry

    loaded = {p.distribution: p for p in get_registry().plugins}
    for name in data.SHIPPED_PLUGINS.split(","):
        assert name in loaded and loaded[name].ok, f"{name} did not load: {loaded.get(name)}"


def test_every_folder_of_the_corpus_has_an_expectation_for_every_task():
    folders = sorted(p.name for p in CORPUS.iterdir() if p.is_dir())
    assert folders == sorted(data.FOLDERS)
    assert [c["name"] for c in data.manifest(CORPUS)] == list(data.FOLDERS), "EXPECTED follows the manifest's order"
    assert set(data.EXPECTED) == {(folder, task) for folder in data.FOLDERS for task in data.TASKS}


@pytest.mark.parametrize(("folder", "task"), list(data.EXPECTED), ids=[f"{f}-{t}" for f, t in data.EXPECTED])
def test_autopipe_gives_the_right_answer(shipped_plugins, folder, task):
    expected = data.EXPECTED[folder, task]
    problem = data.mismatch(expected, data.autopipe_answer(CORPUS / folder, task))
    assert problem is None, f"{folder} {task}: {problem}"


def test_where_autopipe_gives_a_class_diffusers_gives_the_same_or_the_difference_is_explained():
    theirs = data.diffusers_answers(CORPUS)
    unexplained = []
    for key, expected in data.EXPECTED.items():
        if isinstance(expected, str) and theirs[key].pipeline_class != expected and key not in data.DIFFERENCES:
            answer = theirs[key].pipeline_class or f"{theirs[key].error}: {theirs[key].message[:120]}"
            unexplained.append(f"{key}: autopipe {expected}, diffusers {answer}")
    assert not unexplained, "\n".join(unexplained)


def test_differences_lists_exactly_the_rows_where_the_two_differ():
    """No stale reason, and a reason for every refusal where diffusers picks a class (the page shows each)."""
    theirs = data.diffusers_answers(CORPUS)
    differing = {key for key, expected in data.EXPECTED.items() if data.differs(expected, theirs[key])}
    assert sorted(differing - set(data.DIFFERENCES)) == [], "rows that differ from diffusers without a reason"
    assert sorted(set(data.DIFFERENCES) - differing) == [], "reasons for rows that do not differ from diffusers"


def test_diffusers_answers_are_read_without_weights():
    """The spy stops diffusers at its class look-up: a folder with only model_index.json still gets a class."""
    answer = data.diffusers_answer(CORPUS / "cog-inpaint-index-only", "text2img")
    assert answer.pipeline_class == "StableDiffusionPipeline"
    from diffusers.pipelines import auto_pipeline

    assert auto_pipeline._get_task_class.__name__ == "_get_task_class", "the spy was left in place"


def _page_module():
    spec = importlib.util.spec_from_file_location("real_checkpoints_page", data.ROOT / "bench" / "real_checkpoints.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_page_is_up_to_date(shipped_plugins):
    page = data.ROOT / "docs" / "real-checkpoints.md"
    assert page.read_text() == _page_module().render(CORPUS), (
        "docs/real-checkpoints.md is out of date: run .venv/bin/python bench/real_checkpoints.py --write docs/real-checkpoints.md"
    )
