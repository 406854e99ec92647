# Two commands for a newcomer:  make demo   (set up + run the pipeline on the built-in demo)
#                               make test   (set up + run the test suite)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build where that is what the machine offers; override e.g. TORCH_SPEC='torch==2.13.0' or 'torch'.
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.gtalker-installed
CORES ?= all

.PHONY: setup demo report test test-slurm lint bench clean

setup: $(STAMP)

# The versions pinned in envs/*.yaml (torch aside: TORCH_SPEC) constrain the pip setup, so that the tests
# run with what the conda envs give (tests/test_envs.py checks they agree).
$(STAMP): pyproject.toml $(wildcard envs/*.yaml)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	grep -h -E '^ +- [A-Za-z0-9_.-]+==' envs/*.yaml | sed -E 's/^ +- //; s/ *#.*//' | grep -v '^torch==' \
		| sort -u > $(VENV)/constraints.txt
	$(BIN)/python -m pip install --quiet -e ".[dev]" -c $(VENV)/constraints.txt
	touch $(STAMP)

demo: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --cores $(CORES)

# The demo run (or any config's run: make report ARGS='--configfile my.yaml') and its report.html.
report: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --cores $(CORES) $(ARGS)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --cores $(CORES) $(ARGS) --report report.html
	@echo "report: $(CURDIR)/report.html"

test: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest tests

# Opt-in (not in CI): start a one-node SLURM with accounting here (Debian; needs root) and run the
# profiles/slurm tests against it. tools/local-slurm.sh stop stops it again.
test-slurm: $(STAMP)
	$$([ "$$(id -u)" = 0 ] || echo sudo) tools/local-slurm.sh start
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest tests/test_slurm.py

lint: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --lint

bench: $(STAMP)
	for f in benchmarks/*.py; do [ $$f = benchmarks/measurements.py ] || PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python $$f || exit 1; done
	$(BIN)/python benchmarks/measurements.py

clean:
	rm -rf results logs .snakemake report.html
