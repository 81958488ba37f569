# The two commands of the README (`make run`, `make test`) and the inner loop (`make check`,
# `make unit`). Each installs what it needs by itself; `make prereqs` names what the machine lacks.
.PHONY: run test unit check prereqs venv down fabric

ARGS ?=

prereqs:
	@bash scripts/prereqs.sh

venv:
	@bash scripts/prereqs.sh python
	@bash scripts/bootstrap.sh

## Run the pipeline on the local stack with a demo load.
run: prereqs venv
	@bash scripts/run.sh

## Every test: the checks and unit tests first, then the chaincode's tests and the integration tests
## on the real stack (started and stopped here). `make test ARGS="tests/integration/test_x.py -k y"`
## passes arguments to pytest and runs only that, on the test stack.
test: prereqs venv
	@bash scripts/test.sh $(ARGS)

## The unit tests only: no services, about a minute.
unit: venv
	@.venv/bin/python -m pytest -q tests/unit $(ARGS)

## Lint, format check and type check (ruff and mypy, configured in pyproject.toml), and the import
## graph: no loop, libraries kept apart (tests/unit/test_imports.py).
check: venv
	@bash scripts/check.sh

## Stop everything `make run` started.
down: venv
	@.venv/bin/gxctl down

## Install the pinned Fabric release (FROM=tarball-or-dir to use one already on disk).
fabric: venv
	@.venv/bin/gxctl fabric install $(if $(FROM),--from $(FROM))
