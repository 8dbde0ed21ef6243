# The README's commands. Each sets up .venv on first use: torch 2.13.0 first
# (the CPU build on these machines; a bare `torch` would pull a CUDA build),
# then the core and every plugin in plugins/ as editable installs.
#
# Choose the PyTorch build with TORCH_INDEX (and TORCH, the requirement), e.g.
#   make setup TORCH_INDEX=https://download.pytorch.org/whl/cpu
#   make setup TORCH_INDEX=https://download.pytorch.org/whl/cu128
# (after `make clean` if .venv exists). Without it, pip takes what it finds.

PYTHON ?= python3
TORCH  ?= torch==2.13.0
TORCH_INDEX ?=
VENV   := .venv
PY     := $(VENV)/bin/python
PLUGIN_DIRS := $(patsubst %/pyproject.toml,%,$(wildcard plugins/*/pyproject.toml))
STAMP  := $(VENV)/.installed

.PHONY: setup demo test test-slow test-lowest test-vision bench clean

$(STAMP): pyproject.toml $(addsuffix /pyproject.toml,$(PLUGIN_DIRS))
	@echo "setting up $(VENV): PyTorch first, then the core and every plugin in plugins/ (a few minutes the first time)"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) "$(TORCH)"
	$(PY) -m pip install --quiet -e ".[test]" $(addprefix -e ./,$(PLUGIN_DIRS))
	touch $@

setup: $(STAMP)

demo: setup
	$(VENV)/bin/autopipe demo

test: setup
	$(PY) -m pytest

# The tests marked slow (pyproject.toml leaves them out of a plain run): the Ray Serve deployment on a real local Ray.
test-slow: setup
	$(PY) -m pytest -m slow

# The same suite on the lowest versions the requirements allow: its own .venv-lowest,
# torch 2.13.0 first, then the core and every plugin editable under constraints/lowest.txt,
# which pins each dependency to the floor every pyproject.toml declares.
LOWEST       := .venv-lowest
LOWEST_PY    := $(LOWEST)/bin/python
LOWEST_STAMP := $(LOWEST)/.installed
CONSTRAINTS  := constraints/lowest.txt

$(LOWEST_STAMP): $(CONSTRAINTS) pyproject.toml $(addsuffix /pyproject.toml,$(PLUGIN_DIRS))
	$(PYTHON) -m venv $(LOWEST)
	$(LOWEST_PY) -m pip install --quiet --upgrade pip
	$(LOWEST_PY) -m pip install --quiet -c $(CONSTRAINTS) torch==2.13.0
	$(LOWEST_PY) -m pip install --quiet -c $(CONSTRAINTS) -e ".[test]" $(addprefix -e ./,$(PLUGIN_DIRS))
	$(LOWEST_PY) -m pip check
	touch $@

test-lowest: $(LOWEST_STAMP)
	$(LOWEST_PY) -c "$$CHECK_FLOORS"
	$(LOWEST_PY) -m pytest

# Each pinned package's ">=" in every pyproject.toml must be its pin (torch aside:
# only 2.13.0 can be installed here, its declared floor is untested).
define CHECK_FLOORS
import glob, sys
try:
    import tomllib
except ImportError:  # Python 3.10
    from pip._vendor import tomli as tomllib
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name as name
from packaging.version import Version
pins = {}
for line in open("$(CONSTRAINTS)"):
    if line.split("#")[0].strip():
        req = Requirement(line.split("#")[0].strip())
        pins[name(req.name)] = Version(next(iter(req.specifier)).version)
pins.pop("torch")
bad = []
for path in ["pyproject.toml", *sorted(glob.glob("plugins/*/pyproject.toml")), "docs/examples/autopipe-amused/pyproject.toml"]:
    project = tomllib.load(open(path, "rb"))["project"]
    for req in map(Requirement, project.get("dependencies", []) + sum(project.get("optional-dependencies", {}).values(), [])):
        floors = [Version(s.version) for s in req.specifier if s.operator == ">="]
        if name(req.name) in pins and floors != [pins[name(req.name)]]:
            bad.append(f"{path}: {req}, but $(CONSTRAINTS) pins {pins[name(req.name)]}")
sys.exit("lower bounds that are not the tested floor:\n  " + "\n  ".join(bad) if bad else None)
endef
export CHECK_FLOORS

# The plugins whose pipelines take a Qwen-VL processor (Qwen-Image Edit, Edit-Plus, Layered, 2.1; NucleusMoE-Image):
# transformers 5 builds one only with torchvision, and no torchvision loads beside torch 2.13.0's CPU build here, so
# in .venv their end-to-end cases skip. This environment, .venv-vision, has torch 2.14.1 and torchvision 0.29.1 (the
# pair this machine's disk holds; within every plugin's torch range) and runs those plugins' suites with no case
# skipped: a skip fails the target.
VISION       := .venv-vision
VISION_PY    := $(VISION)/bin/python
VISION_STAMP := $(VISION)/.installed
VISION_PLUGINS := plugins/autopipe-qwenimage plugins/autopipe-nucleusmoe

$(VISION_STAMP): pyproject.toml $(addsuffix /pyproject.toml,$(VISION_PLUGINS))
	$(PYTHON) -m venv $(VISION)
	$(VISION_PY) -m pip install --quiet --upgrade pip
	$(VISION_PY) -m pip install --quiet "torch==2.14.1" "torchvision==0.29.1"
	$(VISION_PY) -m pip install --quiet -e ".[test]" -e ./plugins/autopipe-sd $(addprefix -e ./,$(VISION_PLUGINS))
	touch $@

test-vision: $(VISION_STAMP)
	$(VISION_PY) -m pytest -p no:cacheprovider -rs --junitxml=$(VISION)/report.xml $(addsuffix /tests,$(VISION_PLUGINS))
	$(VISION_PY) -c "import sys, xml.etree.ElementTree as t; s = sum(int(e.get('skipped', 0)) for e in t.parse('$(VISION)/report.xml').iter('testsuite')); sys.exit(f'{s} case(s) skipped where torchvision is installed' if s else None)"

bench: setup
	$(PY) bench/run.py --write docs/performance.md

# Mutation testing (mutmut, pinned in mutation/requirements.txt) of the core's readers, resolution, planning and
# guard and the plugins' detection and loading plans; not part of make test (hours, not minutes: docs/mutation.md).
.PHONY: mutate
mutate: setup
	$(PY) -m pip install --quiet -r mutation/requirements.txt
	$(PY) mutation/run.py run
	$(PY) mutation/run.py score

clean:
	rm -rf $(VENV) $(LOWEST) $(VISION) autopipe-demo
