# Two commands for a newcomer:  make demo   (set up + run the pipeline on the built-in demo)
#                               make test   (set up + run the test suite)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build where that is what the machine offers; override e.g. TORCH_SPEC='torch==2.13.0' or 'torch'.
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.gtalker-installed
# + the test and cluster tools (pyproject's dev extra: pytest, the SLURM executor plugin, reference libraries)
DEV_STAMP := $(VENV)/.gtalker-dev-installed
CORES ?= all

.PHONY: setup setup-dev sysdeps demo ablation report test test-slurm lint bench clean

setup: $(STAMP)
setup-dev: $(DEV_STAMP)

# Optional system package: pocketsphinx-testdata (public-domain human recordings), for the unseen-voice
# benchmark and the tests that use them (they skip without it). espeak-ng needs no system package: it comes
# with the espeakng-loader wheel. `make sysdeps` installs it with apt-get where we are root or have sudo;
# elsewhere it says what to do.
sysdeps:
	@test -d /usr/share/pocketsphinx/test/data || { \
	  if command -v apt-get >/dev/null && { [ "$$(id -u)" = 0 ] || sudo -n true 2>/dev/null; }; then \
	    SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	    echo "installing pocketsphinx-testdata (apt-get)"; \
	    $$SUDO apt-get update -qq >/dev/null && $$SUDO env DEBIAN_FRONTEND=noninteractive \
	      apt-get install -y -qq --no-install-recommends pocketsphinx-testdata >/dev/null; \
	  else \
	    echo "pocketsphinx-testdata is missing: install it (Debian/Ubuntu: apt-get install" \
	         "pocketsphinx-testdata); only the unseen-voice benchmark and its tests need it"; \
	  fi; }

# The versions pinned in envs/*.yaml (torch aside: TORCH_SPEC) constrain the pip setup, so that the tests
# run with what the conda envs give (tests/test_envs.py checks they agree). The demo needs only the
# package's own dependencies; the tests add the dev extra.
$(STAMP): pyproject.toml $(wildcard envs/*.yaml)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	grep -h -E '^ +- [A-Za-z0-9_.-]+==' envs/*.yaml | sed -E 's/^ +- //; s/ *#.*//' | grep -v '^torch==' \
		| sort -u > $(VENV)/constraints.txt
	$(BIN)/python -m pip install --quiet -e . -c $(VENV)/constraints.txt
	touch $(STAMP)

$(DEV_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[dev]" -c $(VENV)/constraints.txt
	touch $(DEV_STAMP)

demo: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --cores $(CORES)

# The ablation set of method.md section 6 on the demo (workflow/ablation.yaml; table results/demo/ablation.md).
ablation: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --cores $(CORES) --configfile config.yaml workflow/ablation.yaml

# The demo run (or any config's run: make report ARGS='--configfile my.yaml') and its report.html.
report: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --cores $(CORES) $(ARGS)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --cores $(CORES) $(ARGS) --report report.html
	@echo "report: $(CURDIR)/report.html"

test: $(DEV_STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest tests

# Opt-in (not in CI): start a one-node SLURM with accounting here (Debian; needs root) and run the
# profiles/slurm tests against it. tools/local-slurm.sh stop stops it again.
test-slurm: $(DEV_STAMP)
	$$([ "$$(id -u)" = 0 ] || echo sudo) tools/local-slurm.sh start
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest tests/test_slurm.py

lint: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --lint

bench: $(DEV_STAMP)
	for f in benchmarks/*.py; do [ $$f = benchmarks/measurements.py ] || PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python $$f || exit 1; done
	$(BIN)/python benchmarks/measurements.py

clean:
	rm -rf results logs .snakemake report.html
