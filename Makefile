# One command for each job; each makes the virtual environment it needs.
#   make demo   train plain vs dice in the terminal and save a comparison plot
#   make lab    open the lessons in JupyterLab
#   make test   the whole test suite: unit tests and every lesson notebook under nbval
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup demo lab test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# A CPU build of PyTorch first: a bare `torch` requirement would pull a CUDA build of several GB.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[dev,hf]"
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m rtt_edu demo --out demo.png

lab: $(STAMP)
	$(BIN)/python -m rtt_edu lab notebooks

test: $(STAMP)
	$(BIN)/python -m pytest tests notebooks --nbval-lax -q

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_overhead.py

clean:
	rm -rf $(VENV) .pytest_cache
