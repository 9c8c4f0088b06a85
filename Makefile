# Two entry points for a fresh machine: `make demo` and `make test`.
# Both create .venv, install what is missing, and are quick the second time.

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# torch first and pinned: an unpinned torch (also one another package pulls in)
# downloads a multi-GB CUDA build. spandrel (upscalers) needs torchvision, and PyPI's
# torchvision beside the 2.13.0 CPU wheel fails at import: this pair, on this disk, works
# on the CPU and on CUDA.
TORCH := torch==2.14.1 torchvision==0.29.1
INSTALLED := $(VENV)/.installed
SYSTEM_DEPS := .stamp-system-deps

.PHONY: demo test test-fast lint bench install system-deps clean

demo: $(INSTALLED) $(SYSTEM_DEPS)
	HF_HUB_OFFLINE=1 $(BIN)/vibot demo

# Two workers (pytest-xdist) on the two cores CI has; an idle worker takes queued tests from
# the busy one (worksteal). Generated sites are built once per run and shared (conftest.py).
PYTEST := HF_HUB_OFFLINE=1 $(BIN)/pytest -q -n 2 --dist worksteal --durations=10

test: $(INSTALLED) $(SYSTEM_DEPS)
	$(PYTEST)

test-fast: $(INSTALLED) $(SYSTEM_DEPS)
	$(PYTEST) -m "not slow"

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/mypy bot content storage

bench: $(INSTALLED)
	$(BIN)/python benchmarks/plan.py
	$(BIN)/python benchmarks/publish.py
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/images.py --size 512 --steps 8
	$(BIN)/python benchmarks/reels.py --runs 1
	$(BIN)/python benchmarks/web.py
	$(BIN)/python benchmarks/identity.py
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/train.py
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/scale.py

install: $(INSTALLED)

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check $(TORCH)
	$(BIN)/pip install -q --disable-pip-version-check -e ".[local,postgres,s3,ray,dev]" $(TORCH)
	$(BIN)/pip install -q --disable-pip-version-check --no-deps "invisible-watermark==0.2.0"
	# moviepy 2.2.1 declares pillow<12 but runs on the Pillow 13 that instagrapi needs; its
	# real needs are in pyproject's dependencies.
	$(BIN)/pip install -q --disable-pip-version-check --no-deps "moviepy==2.2.1"
	touch $@

# exiftool (XMP disclosure) and PostgreSQL for the storage tests (started by the tests, on 127.0.0.1).
$(SYSTEM_DEPS): scripts/system-deps.sh
	./scripts/system-deps.sh
	touch $@

clean:
	rm -rf $(VENV) $(SYSTEM_DEPS) .pytest_cache .mypy_cache .ruff_cache
