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

# Make variables forwarded as Hydra overrides, so `make eval data=grabcut model=tv` works too.
OVERRIDES = $(if $(data),data=$(data)) $(if $(model),model=$(model)) \
            $(if $(experiment),experiment=$(experiment)) $(if $(CKPT),ckpt_path=$(abspath $(CKPT))) \
            $(if $(INPUT),input=$(abspath $(INPUT))) $(if $(OUT),output=$(abspath $(OUT))) \
            $(if $(IMAGE),image=$(abspath $(IMAGE))) $(if $(POINTS),'points="$(POINTS)"') \
            $(if $(SWEEP),sweep=$(SWEEP)) $(ARGS)
RUN = $(PY) -m shared

.PHONY: help venv train eval predict bench data sweep report select audit test test-fast lint clean

help:
	@echo "make train   PROJECT=<$(PROJECTS)> [ARGS='key=value ...']"
	@echo "make eval    PROJECT=<p> [CKPT=path] [ARGS=...]      test a checkpoint (or a parameter-free model)"
	@echo "make predict PROJECT=<p> CKPT=path INPUT=folder/     predictions for a folder of images"
	@echo "make bench   PROJECT=<p>                              writes benchmarks/results/<p>.json"
	@echo "make data    DATASET=<name>                           prepares split files for a real dataset"
	@echo "make sweep   PROJECT=<p> SWEEP=<name> [ARGS=...]     a Hydra multirun config (resumable)"
	@echo "make report  PROJECT=semiseg                          tables + plots from the sweep runs"
	@echo "make select  IMAGE=photo.jpg POINTS='x,y;x,y' OUT=mask.png   variational_seg from clicks"
	@echo "make audit   INPUT=folder/ CKPT=path [OUT=dir]        quality audit: audit.csv + HTML report"
	@echo "make test                                             the whole offline test suite"

$(STAMP): requirements.txt
	@test -x $(PY) || python3 -m venv $(VENV)
	$(VENV)/bin/pip install --no-cache-dir -r requirements.txt
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

venv: $(STAMP)

train eval predict bench sweep report: $(STAMP)
	$(RUN) $@ "$(PROJECT)" $(OVERRIDES)

select: $(STAMP)
	$(RUN) select variational_seg $(OVERRIDES)

audit: $(STAMP)
	$(RUN) audit quality $(OVERRIDES)

data: $(STAMP)
	$(PY) -m shared.data.prepare "$(DATASET)" $(ARGS)

test: $(STAMP)
	$(PY) -m pytest -q tests

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow" tests

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf runs outputs multirun wandb .pytest_cache
