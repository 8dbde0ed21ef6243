"""The conformance kit fails where a plugin breaks its contract: false or missing declarations, a plugin not installed.

Each case writes a test module that subclasses PluginConformance the way an
author would and runs pytest on it; the declarations are checked against
what the real plugins register, so only the cheap tests of the kit are run.
"""

import textwrap

import pytest

pytest_plugins = ["pytester"]

CHEAP = "claimed_or_declared or declarations or healthy"


def _run(pytester: pytest.Pytester, body: str) -> pytest.RunResult:
    pytester.makepyfile(test_author=textwrap.dedent(body))
    return pytester.runpytest("-p", "no:cacheprovider", "-k", CHEAP)


def test_the_plugins_true_declarations_pass(pytester):
    result = _run(pytester, """
        from autopipe_core import Task
        from autopipe_core.testing import PluginConformance

        class TestControlNet(PluginConformance):
            plugin = "autopipe-controlnet"
            with_plugins = ("autopipe-sd",)
            cannot = {("stable-diffusion+controlnet+pag", "img2img"): "no such class in diffusers",
                      **{("stable-diffusion+controlnet-union", t): "SDXL only" for t in Task}}
    """)
    result.assert_outcomes(passed=2 + 3 * 3)  # healthy and declarations, then 3 rows x 3 tasks


def test_an_undeclared_gap_fails_and_says_what_to_declare(pytester):
    result = _run(pytester, """
        from autopipe_core.testing import PluginConformance

        class TestControlNet(PluginConformance):
            plugin = "autopipe-controlnet"
            with_plugins = ("autopipe-sd",)
    """)
    outcomes = result.parseoutcomes()
    assert outcomes["failed"] == 4  # img2img of controlnet+pag, and the three tasks of controlnet-union
    result.stdout.fnmatch_lines(["*stable-diffusion+controlnet+pag has no img2img pipeline and does not say so*"])


def test_a_declared_gap_that_is_not_one_fails(pytester):
    result = _run(pytester, """
        from autopipe_core.testing import PluginConformance

        class TestSD(PluginConformance):
            plugin = "autopipe-sd"
            cannot = {("stable-diffusion", "inpaint"): "it cannot, says the author"}
    """)
    assert result.parseoutcomes()["failed"] == 1
    result.stdout.fnmatch_lines(["*declares it cannot do inpaint*but claims diffusers:StableDiffusionInpaintPipeline*"])


def test_declarations_must_name_rows_the_plugin_registers(pytester):
    result = _run(pytester, """
        from autopipe_core.testing import PluginConformance

        class TestSD(PluginConformance):
            plugin = "autopipe-sd"
            cannot = {("stable-diffusion+controlnet", "inpaint"): "a row of another plugin"}
            by_hand = {"stable-diffusion": "not a row with modifiers"}
    """)
    assert result.parseoutcomes()["failed"] == 1
    result.stdout.fnmatch_lines(["*`cannot` names 'stable-diffusion+controlnet', which autopipe-sd does not register*"])


def test_a_plugin_that_is_not_installed_fails_loudly(pytester):
    result = _run(pytester, """
        from autopipe_core.testing import PluginConformance

        class TestGhost(PluginConformance):
            plugin = "autopipe-not-installed"
    """)
    result.stdout.fnmatch_lines(["*no entry point of autopipe-not-installed in the group autopipe.plugins*"])
    assert result.parseoutcomes()["failed"] >= 1


def test_a_public_loader_without_the_load_lock_fails(pytester):
    pytester.makepyfile(test_author=textwrap.dedent("""
        import pytest
        import autopipe_controlnet
        from autopipe_core import Task
        from autopipe_core.testing import PluginConformance

        @pytest.fixture(autouse=True)
        def unlocked(monkeypatch):  # the author forgot @serialized
            monkeypatch.setattr(autopipe_controlnet, "from_single_file", autopipe_controlnet.from_single_file.__wrapped__)

        class TestControlNet(PluginConformance):
            plugin = "autopipe-controlnet"
            with_plugins = ("autopipe-sd",)
    """))
    result = pytester.runpytest("-p", "no:cacheprovider", "-k", "load_lock")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*public loaders ?'from_single_file'? load without autopipe's process-wide lock*"])
