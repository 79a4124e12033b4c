# The two commands a reader needs: `make book` and `make test`. Both create the pinned
# virtual environment in .venv the first time and reuse it afterwards.
#
#   make book                                   # built-in data, `ci` profile, CPU: loads the
#                                               # shipped records in book/results, trains nothing
#   make book RETRAIN="v5 v4-sample"            # retrain named experiments (then commit them)
#   make book TRAIN=1                           # train every stale or missing record
#   make book FORCE=1                           # retrain every record
#   make book PROFILE=full DATA_DIR=/path/to/mini-imagenet   # the original study (GPU)
#   make test                                   # pytest on every core (pytest-xdist), CPU
#   make check-site                             # headless-Chromium test of _build/html
#   make bench                                  # costs as ratios, one run (~8 min on a CPU)
#   make reproduce                              # retrain 3 shipped records, compare (CI)
#   make smoke                                  # every chapter end to end, `smoke` profile
#   make records DATA_DIR=...                   # train that data's stale records, no chapter
#   make records-check DATA_DIR=...             # are that data's shipped records current?
#   make lab                                    # open the chapters in JupyterLab

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PROFILE ?= ci
DATA_DIR ?=
FORCE ?=
RETRAIN ?=
TRAIN ?=
# auto: stop when a shipped record is stale, train a dataset the book has no record of;
# check: stop whenever the build would train (CI); train: train whatever is stale
RECORDS ?= $(if $(TRAIN),train,auto)

BENCH_ARGS ?= --study --json book/results/bench/bench.json

.PHONY: book chapters site test lint check-site lab venv clean bench reproduce smoke records records-check

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or run 'make PYTHON=/path/to/python3.11 ...'"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[book,test]'
	touch $@

venv: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -n auto

lint: $(STAMP)
	$(VENV)/bin/ruff check dynconv tests notebooks

chapters: $(STAMP)
	$(PY) -m dynconv.booktools.book execute --profile $(PROFILE) $(if $(DATA_DIR),--data-dir "$(DATA_DIR)") $(if $(FORCE),--force) $(if $(RETRAIN),--retrain $(RETRAIN)) --records $(RECORDS)

site: $(STAMP)
	$(PY) -m dynconv.booktools.book vendor
	$(VENV)/bin/jupyter-book build . -W -n --keep-going

book: chapters site
	@echo "The book is in _build/html/index.html"

check-site: $(STAMP)
	$(PY) -m dynconv.booktools.sitecheck _build/html --screenshot _build/site-check/explorer.png

reproduce: $(STAMP)
	$(PY) -m dynconv.booktools.reproduce --profile $(PROFILE) $(if $(DATA_DIR),--data-dir "$(DATA_DIR)")

# Every chapter under `smoke` (seconds-long trainings), in a scratch results folder and
# chapters folder, so the shipped records and the built site are untouched. Two records
# train at once, then two chapters execute at once (their numbers and timings mean nothing
# under smoke anyway).
SMOKE_JOBS ?= 2
smoke: $(STAMP)
	rm -rf _build/smoke
	DYNCONV_RESULTS_DIR=$(CURDIR)/_build/smoke/results $(PY) -m dynconv.booktools.book execute --profile smoke --records train --output _build/smoke/chapters --jobs $(SMOKE_JOBS)

# Train whatever records of that data and profile are stale or missing, no chapter (then
# commit book/results/): how the shipped real-photo records are refreshed.
records: $(STAMP)
	$(PY) -m dynconv.booktools.records --profile $(PROFILE) $(if $(DATA_DIR),--data-dir "$(DATA_DIR)") $(if $(FORCE),--force) $(if $(RETRAIN),--retrain $(RETRAIN)) --records train

records-check: $(STAMP)
	$(PY) -m dynconv.booktools.records --profile $(PROFILE) $(if $(DATA_DIR),--data-dir "$(DATA_DIR)") --records check

bench: $(STAMP)
	$(PY) -m dynconv.bench.benchmark $(BENCH_ARGS)

lab: $(STAMP)
	DYNCONV_RESULTS_DIR=$(CURDIR)/book/results $(VENV)/bin/jupyter lab notebooks/

clean:
	rm -rf _build book/chapters book/build-report.md book/_generated
