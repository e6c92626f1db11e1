# One command for each job; each makes the virtual environment it needs, and no more than that.
#   make lab    open the lessons in JupyterLab (installs the package with its `lab` extra only)
#   make demo   train plain vs dice in the terminal and save a comparison plot
#   make test   the linter (ruff), then the whole test suite: unit tests and every lesson notebook under
#               nbval (adds `dev`, `hf`)
#   make bench  the overhead benchmark's figures as JSON lines (BENCH_ARGS=--quick: a smoke run)
#   make setup  everything `make test` needs, without running it (CI runs this first)
#   make site   the course as a static website in _build/site/html, offline, from the lessons' committed
#               outputs (adds the `docs` and `teacher` extras: Jupyter Book 1, nbgrader); JUPYTERHUB_URL=...
#               adds a hub's buttons
#   make editions  the student edition (notebooks/) and the teachers' guide's misconceptions, generated from
#               the authored lessons (lessons/source/) and the checks' hints (adds `teacher`: nbgrader)
#   make links  rewrite the README's Binder links from pyproject.toml's [project.urls] Repository
#
# PyTorch comes first, the CPU build from PyTorch's CPU index (a bare `torch` from PyPI is, on
# Linux, the CUDA build: several GB). Where that index cannot be reached, the plain requirement
# comes from the default index instead. Other builds, on a fresh clone or after `make clean`:
#   make lab TORCH_INDEX=https://download.pytorch.org/whl/cu126    a CUDA build from PyTorch's index
#   make lab TORCH_INDEX=                                           whatever the default index has
#   make lab TORCH=torch==2.6.0                                     another version (any 2.x >= 2.2)
PYTHON      ?= python3
TORCH       ?= torch==2.13.0
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
BENCH_ARGS  ?=
VENV        := .venv
BIN         := $(VENV)/bin
PIP         := $(BIN)/python -m pip --quiet
# Exits 0 when the index in argv[1] answers within 5 s (a HEAD request for its torch page).
PROBE       := import sys, urllib.request as u; u.urlopen(u.Request(sys.argv[1].rstrip("/") + "/torch/", method="HEAD"), timeout=5)

.PHONY: setup demo lab test bench clean site links editions

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

# A failed or unreachable index costs one line and a few seconds, never a long retry.
$(VENV)/.torch: | $(BIN)/python
	@if [ -z "$(TORCH_INDEX)" ]; then \
	    echo "PyTorch: $(TORCH) from the default package index (TORCH_INDEX is empty)"; \
	    $(PIP) install "$(TORCH)"; \
	elif $(BIN)/python -c '$(PROBE)' "$(TORCH_INDEX)" 2>/dev/null; then \
	    echo "PyTorch: $(TORCH) from $(TORCH_INDEX)"; \
	    $(PIP) install --timeout 30 --retries 2 --index-url "$(TORCH_INDEX)" "$(TORCH)" || { \
	        echo "PyTorch: $(TORCH_INDEX) failed; installing $(TORCH) from the default package index instead"; \
	        $(PIP) install "$(TORCH)"; }; \
	else \
	    echo "PyTorch: $(TORCH_INDEX) cannot be reached; installing $(TORCH) from the default package index instead"; \
	    $(PIP) install "$(TORCH)"; \
	fi
	touch $@

# The lessons' set-up: the package, JupyterLab and ipympl.
$(VENV)/.lab: pyproject.toml $(VENV)/.torch
	$(PIP) install -e ".[lab]"
	touch $@

# The tests' set-up: the lab's, plus pytest, nbval, hypothesis, transformers, accelerate and nbgrader.
$(VENV)/.dev: pyproject.toml $(VENV)/.torch
	$(PIP) install -e ".[lab,dev,hf,teacher]"
	touch $@ $(VENV)/.lab

# The website's set-up: the package with its `docs` extra (Jupyter Book 1: Sphinx, myst-nb, the book theme) and
# `teacher` (nbgrader: the lesson pages are made from the authored lessons, as `make editions` makes notebooks/).
$(VENV)/.docs: pyproject.toml $(VENV)/.torch
	$(PIP) install -e ".[docs,teacher]"
	touch $@

setup: $(VENV)/.dev

lab: $(VENV)/.lab
	$(BIN)/rtt-edu lab notebooks

demo: $(VENV)/.lab
	$(BIN)/rtt-edu demo --out demo.png

# The code the linter reads; its settings are pyproject.toml's [tool.ruff].
LINTED      := rtt_edu tests benchmarks experiments site lessons conftest.py

test: $(VENV)/.dev
	$(BIN)/ruff check $(LINTED)
	$(BIN)/python -m pytest tests notebooks lessons/source teachers --nbval-lax -q

editions: $(VENV)/.dev
	$(BIN)/python lessons/editions.py
	$(BIN)/python lessons/guides.py

site: $(VENV)/.docs
	$(BIN)/python site/build.py $(if $(JUPYTERHUB_URL),--jupyterhub-url "$(JUPYTERHUB_URL)")

links: $(VENV)/.docs
	$(BIN)/python site/links.py --write

bench: $(VENV)/.lab
	$(BIN)/python benchmarks/bench_overhead.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache _build
