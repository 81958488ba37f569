# The two commands of the README. Each installs what it needs (venv, jars, Postgres) by itself.
.PHONY: run test venv down fabric

venv:
	@bash scripts/bootstrap.sh

## Run the pipeline on the local stack with a demo load.
run: venv
	@bash scripts/run.sh

## Run every test: unit tests, then integration tests on the real stack (started and stopped here).
test: venv
	@bash scripts/test.sh

## Stop everything `make run` started.
down: venv
	@.venv/bin/gxctl down

## Install the pinned Fabric release (FROM=tarball-or-dir to use one already on disk).
fabric: venv
	@.venv/bin/gxctl fabric install $(if $(FROM),--from $(FROM))
