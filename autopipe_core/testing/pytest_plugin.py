"""The autopipe pytest plugin: isolation and ``tiny_checkpoint`` for a plugin's suite, asked for by one setting.

Installed with autopipe-core (the entry point ``autopipe`` in the group
``pytest11``), so pytest loads it in every run. It does nothing in a run
that does not ask for it. A suite asks with the ini option::

    [tool.pytest.ini_options]
    autopipe_plugins = "autopipe-sd"

or ``--autopipe-plugins=autopipe-sd`` on the command line, or, for one folder
of a larger run, ``autopipe_plugins = "autopipe-sd"`` in its conftest.py (the
nearest conftest wins, then the command line, then the ini file). Then every
test in its scope loads only those plugins (AUTOPIPE_PLUGINS; AUTOPIPE_PREFER
and AUTOPIPE_STRICT removed), never reaches the hub (HF_HUB_OFFLINE=1, set
before the tests import huggingface_hub) and caches tiny checkpoints in
pytest's temporary folder; the ``tiny_checkpoint`` fixture is provided.

It also leaves out, at collection, a conformance-kit test that has no case
for the plugin under test (:mod:`.cases`), and nothing else.
``-p no:autopipe`` turns it off.
"""

from __future__ import annotations

from typing import Any

import pytest

from .isolation import OPTION, SETTING, conftest_setting, go_offline, run_setting, setting_value

FIXTURES = "autopipe-fixtures"


def pytest_addoption(parser: pytest.Parser) -> None:
    help = "load only these autopipe plugins (comma-separated distributions) in each test, offline, caching in pytest's temp folder"
    parser.addini(SETTING, help, default=None)
    parser.getgroup("autopipe").addoption(OPTION, dest=SETTING, default=None, metavar="DISTS", help=help)


def _ask(manager: pytest.PytestPluginManager) -> None:
    """The run asked for isolation: offline from now on, and the fixtures provided (once)."""
    go_offline()
    if manager.get_plugin(FIXTURES) is None:
        from . import fixtures

        manager.register(fixtures, FIXTURES)


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    # Before the first conftest is imported: what it imports must already see HF_HUB_OFFLINE. The command line
    # is not parsed yet, only the options known so far.
    if setting_value(getattr(early_config.known_args_namespace, SETTING, None)) or setting_value(early_config.getini(SETTING)):
        _ask(early_config.pluginmanager)


def pytest_configure(config: pytest.Config) -> None:
    if run_setting(config):
        _ask(config.pluginmanager)


def pytest_plugin_registered(plugin: Any, manager: pytest.PytestPluginManager) -> None:
    if conftest_setting(plugin) is not None:
        _ask(manager)


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object) -> list[Any] | None:
    """No item at all for a conformance-kit test with no case for the plugin under test; every other object as usual."""
    from .cases import kind_of

    cases_for = getattr(getattr(collector, "cls", None), "cases_for", None)
    if kind_of(obj) is None or not callable(cases_for):
        return None
    cases = collector.cls().cases_for(collector.config, obj)
    return [] if cases == [] else None
