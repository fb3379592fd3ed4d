# Two commands do all the set-up on a fresh machine:
#   make demo   creates .venv, installs, runs the main job on the bundled default model
#   make test   same venv, runs the whole test suite
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# torch first, pinned to the CPU build these machines carry on disk; an unpinned install pulls CUDA (GBs).
TORCH_PIN ?= torch==2.13.0

.PHONY: demo test venv max4live bench bench-gpu clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q "$(TORCH_PIN)"
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

demo: venv
	$(PY) -m cdgmvae demo --out out/demo

test: venv
	$(PY) -m pytest -q

# regenerate the device and the TouchOSC layout from the OSC table, then build the .amxd
max4live: venv
	$(PY) -m cdgmvae.max4live.make_patch
	$(PY) -m cdgmvae.max4live.make_tosc
	$(PY) -m cdgmvae.max4live.build

bench: venv
	$(PY) bench/prepare.py
	$(PY) bench/decode.py --checkpoint engine/default_model --threads 1
	$(PY) bench/train.py --configs small --batch 4
	$(PY) bench/tonality.py

# on a machine with an NVIDIA GPU and a CUDA build of torch in .venv: the GPU tests, then the GPU speed
# figures (eager, compiled and triton; paper with random weights, and the bundled model)
bench-gpu: venv
	$(PY) -m pytest -m gpu -q -rs
	$(PY) bench/decode.py --config paper --device cuda --skip naive
	$(PY) bench/decode.py --checkpoint engine/default_model --device cuda --skip naive

clean:
	rm -rf out build *.egg-info .pytest_cache
