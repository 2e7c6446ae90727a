# The two Quick-start commands. Each creates (or reuses) the virtual environment .venv,
# installs kinmix into it with the extras it needs, then runs.
PYTHON ?= python3
VENV := .venv

.PHONY: demo test

# Install kinmix with every optional backend and run the main job on the bundled data.
demo:
	$(PYTHON) -m venv $(VENV) && $(VENV)/bin/pip install -q ".[all]" && $(VENV)/bin/kinmix demo

# Install the test dependencies and run the whole test suite (what CI runs).
test:
	$(PYTHON) -m venv $(VENV) && $(VENV)/bin/pip install -q ".[test]" && $(VENV)/bin/python -m pytest -q
