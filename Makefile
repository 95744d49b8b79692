PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install test lint format demo clean browser

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	# torch first and pinned: an unpinned torch pulls a multi-GB CUDA build
	$(PY) -m pip install torch==2.13.0
	$(PY) -m pip install -e '.[dev,quant,space,ray]'
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check trl_ext hub_datasets scripts tests spaces
	$(VENV)/bin/ruff format --check trl_ext hub_datasets scripts tests spaces

format: $(STAMP)
	$(VENV)/bin/ruff check --fix trl_ext hub_datasets scripts tests spaces
	$(VENV)/bin/ruff format trl_ext hub_datasets scripts tests spaces

# The browser test needs Debian's chromium + chromedriver; install them where we can (root), else it skips.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) || \
	  echo "!!! could not install chromium: the browser test will be skipped"

test: $(STAMP) lint browser
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -ra -m "not benchmark"

demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(VENV)/bin/trl-ext demo

clean:
	rm -rf $(VENV) hub outputs
