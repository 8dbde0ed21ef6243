# The README's commands. Each sets up .venv on first use: torch 2.13.0 first
# (the CPU build on these machines; a bare `torch` would pull a CUDA build),
# then the core and every plugin in plugins/ as editable installs.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PLUGIN_DIRS := $(patsubst %/pyproject.toml,%,$(wildcard plugins/*/pyproject.toml))
STAMP  := $(VENV)/.installed

.PHONY: setup demo test bench clean

$(STAMP): pyproject.toml $(addsuffix /pyproject.toml,$(PLUGIN_DIRS))
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[test]" $(addprefix -e ./,$(PLUGIN_DIRS))
	touch $@

setup: $(STAMP)

demo: setup
	$(VENV)/bin/autopipe demo

test: setup
	$(PY) -m pytest

bench: setup
	$(PY) bench/run.py --write docs/performance.md

clean:
	rm -rf $(VENV) autopipe-demo
