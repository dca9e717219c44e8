# The two setup commands of the README: `make demo` and `make test`. Both install what they need first.
VENV ?= $(or $(GANFORGE_VENV),$(HOME)/.cache/ganforge/venv)
export GANFORGE_VENV := $(VENV)

.PHONY: demo test setup lint

setup:
	bash scripts/setup_env.sh

demo: setup
	$(VENV)/bin/ganforge train

lint: setup
	$(VENV)/bin/ruff check .

test: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/python -m pytest -q -n 2 --dist loadfile
