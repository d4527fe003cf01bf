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

# Every bench/*.py, with lighter settings for the long ones so the whole run stays near 10 min on 2 cores
# (run a script alone, without them, for its full figures). Each prints its own wall time at the end.
bench: venv
	@for script in bench/*.py; do \
	  case $$script in \
	    bench/soak.py) args="--minutes 1 --report-every 20";; \
	    bench/vision_node.py) args="--frames 4";; \
	    *) args="";; \
	  esac; \
	  echo "== $$script $$args"; start=$$(date +%s); \
	  $(PY) $$script $$args || exit 1; \
	  echo "== $$script: $$(( $$(date +%s) - start )) s"; \
	done

doctor: venv
	$(VENV)/bin/inspection doctor

clean:
	rm -rf $(VENV) .inspection build *.egg-info .pytest_cache .hypothesis
