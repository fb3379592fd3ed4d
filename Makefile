# Two commands do all the set-up on a fresh machine:
#   make demo   creates .venv, installs, runs the main job on the bundled default model
#   make test   same venv, runs ruff and then the whole test suite
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# torch first, pinned to the CPU build these machines carry on disk; an unpinned install pulls CUDA (GBs).
TORCH_PIN ?= torch==2.13.0

.PHONY: demo test venv max4live bench bench-gpu train-gpu paper mutation clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q "$(TORCH_PIN)"
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

demo: venv
	$(PY) -m cdgmvae demo --out out/demo

test: venv
	$(PY) -m ruff check .
	$(PY) -m pytest -q

# mutation testing (slow, not part of `make test`): mutmut on the codec, the grammar, the generator's control and
# transfer, the trainer's resume and selection, the scheduler's timing and the device builders, each against its
# fast tests; writes reports/mutation.md. MUTATION_JOBS workers; MUTATION_GROUPS to run some groups only.
MUTATION_JOBS ?= 2
MUTATION_GROUPS ?=
mutation: venv
	$(PY) tools/mutation.py --jobs $(MUTATION_JOBS) $(MUTATION_GROUPS)

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

# the paper's experiments (`cdgmvae evaluate all`): figures, JSON and reports/paper/REPORT.md. The reduced scale
# fits a 2-core CPU in under an hour (EMOPIA prepared into out/paper/data on the first run); on GPUs, the paper's
# size: make paper PAPER_SCALE=full PAPER_OUT=reports/paper-full PAPER_ARGS="--checkpoint RUN/selected --data DIR"
PAPER_SCALE ?= reduced
PAPER_OUT ?= reports/paper
PAPER_WORK ?= out/paper
PAPER_ARGS ?=
paper: $(if $(filter $(VENV)/bin/python,$(PY)),venv)
	$(PY) -m cdgmvae evaluate all --scale $(PAPER_SCALE) --out $(PAPER_OUT) --work $(PAPER_WORK) $(PAPER_ARGS)

# on a machine with an NVIDIA GPU and a CUDA build of torch in .venv: the GPU tests, then the GPU speed
# figures (eager, compiled and triton; paper with random weights, and the bundled model)
bench-gpu: venv
	$(PY) -m pytest -m gpu -q -rs
	$(PY) bench/decode.py --config paper --device cuda --skip naive
	$(PY) bench/decode.py --checkpoint engine/default_model --device cuda --skip naive

# GPU recipe: continue training the default model on EMOPIA + POP909 for at most GPU_MINUTES (preparing the data
# first when GPU_DATA lacks it) with bf16 autocast, and put what comes back in GPU_OUT: the final and the selected
# weights in files of at most GPU_MAX_FILE_MB, summary.json and log.jsonl. On a machine whose own python has a CUDA
# torch, `make train-gpu PY=python3` builds no venv. GPU_STEPS is the lr schedule's length: a run that the time
# budget stops earlier ends cleanly at that step (summary.json says so).
GPU_MINUTES ?= 9
GPU_SOURCES ?= data/emopia data/pop909
GPU_DATA ?= out/gpu-data
GPU_RUN ?= out/gpu-run
GPU_OUT ?= out/gpu-train
GPU_INIT ?= engine/default_model
GPU_CONFIG ?= small-notes
GPU_STEPS ?= 20000
GPU_BATCH ?= 64
GPU_PRECISION ?= bf16
GPU_MAX_FILE_MB ?= 16
GPU_LOADERS ?= 4
GPU_HOLDOUT ?= 0.1
GPU_ARGS ?= --lr 5e-4 --warmup 100 --beta-max 0.5 --beta-warmup 200 --token-dropout 0.1 --val-every 500 \
	--ckpt-every 500 --log-every 50
# build the venv only when PY is the venv's python
train-gpu: $(if $(filter $(VENV)/bin/python,$(PY)),venv)
	@set -e; start=$$(date +%s); \
	test -f $(GPU_DATA)/manifest.json || \
	  $(PY) -m cdgmvae prepare $(GPU_SOURCES) --out $(GPU_DATA) --workers $$(nproc) --quiet; \
	rm -rf $(GPU_RUN) $(GPU_OUT); \
	$(PY) -m cdgmvae train --data $(GPU_DATA) --out $(GPU_RUN) --config $(GPU_CONFIG) \
	  $(if $(GPU_INIT),--init-from $(GPU_INIT)) --steps $(GPU_STEPS) --batch $(GPU_BATCH) \
	  --precision $(GPU_PRECISION) --max-file-mb $(GPU_MAX_FILE_MB) --workers $(GPU_LOADERS) \
	  --holdout $(GPU_HOLDOUT) $(GPU_ARGS) --time-budget-s $$(( $(GPU_MINUTES) * 60 - $$(date +%s) + start )); \
	mkdir -p $(GPU_OUT); \
	cp $(GPU_RUN)/model.json $(GPU_RUN)/model*.safetensors $(GPU_RUN)/summary.json $(GPU_RUN)/log.jsonl $(GPU_OUT)/; \
	if [ -d $(GPU_RUN)/selected ]; then cp -r $(GPU_RUN)/selected $(GPU_OUT)/; fi; \
	echo "train-gpu: $$(( $$(date +%s) - start )) s in all; to bring back:"; ls -lR $(GPU_OUT)

clean:
	rm -rf out build mutants *.egg-info .pytest_cache
