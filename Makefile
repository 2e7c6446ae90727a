# The two Quick-start commands. Each creates (or reuses) the virtual environment .venv,
# installs kinmix into it with the extras it needs, then runs.
PYTHON ?= python3
VENV := .venv

.PHONY: demo test docs

# Install kinmix with every optional backend and run the main job on the bundled data.
demo:
	$(PYTHON) -m venv $(VENV) && $(VENV)/bin/pip install -q ".[all]" && $(VENV)/bin/kinmix demo

# Install the test dependencies and run the whole test suite (what CI runs).
test:
	$(PYTHON) -m venv $(VENV) && $(VENV)/bin/pip install -q ".[test]" && $(VENV)/bin/python -m pytest -q

# Build the documentation site (docs/_build/html) and run every example on it.
docs:
	$(PYTHON) -m venv $(VENV) && $(VENV)/bin/pip install -q ".[docs]" && $(VENV)/bin/sphinx-build -W --keep-going -b html docs docs/_build/html && $(VENV)/bin/sphinx-build -W --keep-going -b doctest docs docs/_build/doctest
