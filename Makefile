# Two commands on a fresh machine: `make demo` and `make test`. Both bootstrap .venv/ first (once per
# requirements hash). On the robot cell, source the distro's ROS 2 and use `make FLAVOUR=cell ...`.
SHELL := /bin/bash
FLAVOUR ?= wheels
VENV := .venv
PY := $(VENV)/bin/python
export PYTHONUNBUFFERED := 1

.PHONY: venv demo test bench doctor clean

venv:
	@tools/bootstrap.sh $(FLAVOUR)

demo: venv
	$(VENV)/bin/inspection demo --out runs/demo

test: venv
	$(PY) -m pytest -q tests

bench: venv
	@for script in bench/*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

doctor: venv
	$(VENV)/bin/inspection doctor

clean:
	rm -rf $(VENV) .inspection build *.egg-info .pytest_cache .hypothesis
