# ecomvision: every target sets up .venv on first use (and again only when requirements.txt changes).
#   make train PROJECT=classification ARGS="data=clothing_small model=resnet50 trainer.max_epochs=5"
#   make test
SHELL := /bin/bash
.DEFAULT_GOAL := help

PROJECTS := semiseg variational_seg multimodal_tagging classification quality
PROJECT ?=
ARGS ?=
VENV := .venv
PY := $(VENV)/bin/python
REQ_HASH := $(shell sha256sum requirements.txt | cut -c1-16)
STAMP := $(VENV)/.installed-$(REQ_HASH)

# Offline by default; export WANDB_MODE=online yourself to stream to a W&B server.
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1
export WANDB_MODE ?= offline
export NO_ALBUMENTATIONS_UPDATE ?= 1
export PYTHONUNBUFFERED ?= 1

# $(call quoted,key,value): ONE shell word holding the Hydra override key="value", so that paths and
# points with spaces, commas, quotes, '=' or brackets arrive intact ('\'' closes, escapes and reopens the
# shell quote; \" is a double quote inside Hydra's quoted string). Relative paths stay relative to the
# folder make runs in (Hydra does not change directory).
quoted = '$(1)="$(subst ','\'',$(subst ",\",$(2)))"'
# Make variables forwarded as Hydra overrides, so `make eval data=grabcut model=tv` works too.
OVERRIDES = $(if $(data),data=$(data)) $(if $(model),model=$(model)) \
            $(if $(experiment),experiment=$(experiment)) $(if $(CKPT),$(call quoted,ckpt_path,$(CKPT))) \
            $(if $(INPUT),$(call quoted,input,$(INPUT))) $(if $(OUT),$(call quoted,output,$(OUT))) \
            $(if $(IMAGE),$(call quoted,image,$(IMAGE))) $(if $(POINTS),$(call quoted,points,$(POINTS))) \
            $(if $(BG_POINTS),$(call quoted,bg_points,$(BG_POINTS))) \
            $(if $(SWEEP),sweep=$(SWEEP))
# ARGS reach every command as words, never through the shell: the value travels in the environment
# and shared/make_args.py splits it (quotes group; a `...`, $(...) or `; cmd` in it is never run).
export ECOMVISION_ARGS = $(ARGS)
WITH_ARGS = -m shared.make_args
RUN = $(PY) $(WITH_ARGS) $(PY) -m shared

.PHONY: help venv quality-default-model train eval predict export bench bench-gpu gpu-carry data sweep report select serve audit test test-fast lint clean

help:
	@echo "make train   PROJECT=<$(PROJECTS)> [ARGS='key=value ...']"
	@echo "             (variational_seg: trains model=unet; a parameter-free model has nothing to fit and is evaluated)"
	@echo "make eval    PROJECT=<p> [CKPT=path] [ARGS=...]      test a checkpoint (or a parameter-free model: variational_seg)"
	@echo "make predict PROJECT=<p> CKPT=path INPUT=folder/     predictions for a folder of images"
	@echo "make export  PROJECT=<p> CKPT=path [OUT=dir]          model.onnx (normalisation inside) + model.json, checked with onnxruntime"
	@echo "make bench   PROJECT=<p>                              writes benchmarks/results/<p>.json"
	@echo "make data    DATASET=<name>                           prepares split files for a real dataset"
	@echo "make sweep   PROJECT=<p> SWEEP=<name> [ARGS=...]     a Hydra multirun config (resumable)"
	@echo "make report  PROJECT=<p>                              README tables + reports/<p>/ from the sweep runs"
	@echo "make select  IMAGE=photo.jpg POINTS='x,y;x,y' [OUT=mask.png]  variational_seg from clicks (default OUT: a new run folder)"
	@echo "make serve   PROJECT=variational_seg                  local page: click to cut out a product (127.0.0.1:8765)"
	@echo "make audit   INPUT=folder/ [CKPT=path] [OUT=dir]      quality audit: audit.csv + HTML report (default: the shipped model)"
	@echo "make quality-default-model                            re-make the shipped quality model (train + threshold on val)"
	@echo "make bench-gpu [GPU_PY=python3] [ARGS=--smoke]       GPU bench -> benchmarks/results/gpu.json (README, GPU)"
	@echo "make gpu-carry                                        .gpu/: wheels + CCP subset that travel to a GPU machine"
	@echo "make test                                             the whole offline test suite"

$(STAMP): requirements.txt
	@test -x $(PY) || python3 -m venv $(VENV)
	$(VENV)/bin/pip install --no-cache-dir -r requirements.txt
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

venv: $(STAMP)

train eval predict export bench sweep report: $(STAMP)
	$(RUN) $@ "$(PROJECT)" $(OVERRIDES)

# On a GPU machine whose own Python holds torch (no .venv there): make bench-gpu GPU_PY=python3
GPU_PY ?=
bench-gpu:
	$(if $(GPU_PY),,$(MAKE) venv &&) $(or $(GPU_PY),$(PY)) $(WITH_ARGS) $(or $(GPU_PY),$(PY)) -m benchmarks.gpu

gpu-carry: $(STAMP)
	$(PY) $(WITH_ARGS) $(PY) -m benchmarks.gpu.prepare

select: $(STAMP)
	$(RUN) select variational_seg $(if $(model),,model=wbh_colour_extent_later_ensemble) $(if $(data),,data=grabcut) $(OVERRIDES)

# The local cut-out page (variational_seg only): the shipped model at its GrabCut-tuned working size.
serve: $(STAMP)
	$(RUN) serve variational_seg $(if $(model),,model=wbh_colour_extent_later_ensemble) $(if $(data),,data=grabcut) $(OVERRIDES)

audit: $(STAMP)
	$(RUN) audit quality $(OVERRIDES)

# The shipped quality model (projects/quality/README.md, Default model): train it on the constructed
# benchmark (~30 min, one CPU thread), then choose its accept threshold on val, measure test and write
# projects/quality/default_model/ (fp16 safetensors + model.json + metrics.json).
quality-default-model: $(STAMP)
	$(RUN) train quality experiment=default_model hydra.run.dir=$(QUALITY_SHIP_RUN) $(OVERRIDES)
	$(RUN) default_model quality experiment=default_model ship.train_dir=$(QUALITY_SHIP_RUN) $(OVERRIDES)
QUALITY_SHIP_RUN ?= runs/quality/default_model/train

data: $(STAMP)
	$(PY) $(WITH_ARGS) $(PY) -m shared.datasets.prepare "$(DATASET)"

# Two pytest-xdist workers, one thread each (tests/conftest.py): the suite's tests are small and mostly
# single-threaded, so two workers use a 2-core machine fully. TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= 2
PYTEST := $(PY) -m pytest -q $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist worksteal)

test: $(STAMP)
	$(PYTEST) tests

test-fast: $(STAMP)
	$(PYTEST) -m "not slow" tests

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf runs outputs multirun wandb .pytest_cache
