# Everything a new user needs: `make demo` and `make test` on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_OUT ?= demo-out
DEMO_TASK ?= synthetic
DEMO_MODELS ?= majority prior uniform

.PHONY: install demo test clean

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
	$(BIN)/python -m pip install -q -e ".[test,hf]" ./examples/harness-example-plugin
	$(BIN)/python -m ruff check .
	@# both cores: each test file runs whole in one of two worker processes (module fixtures shared, Ray tests together)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

clean:
	rm -rf $(VENV) $(DEMO_OUT) results *.egg-info
