.PHONY: run test lint format typecheck bench nova-start nova-stop vendor clean-data

run:            ## start the whole marketplace (embedded PostgreSQL unless DATABASE_URL is set)
	bash deploy/run.sh

test:           ## the whole suite plus lint and Django checks (what CI runs)
	bash deploy/test.sh

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/lint-imports && .venv/bin/python deploy/check_import_cycles.py

format:
	.venv/bin/ruff format . && .venv/bin/ruff check --fix .

typecheck:
	.venv/bin/mypy marketplace accounts audit owners renters scheduling provisioning billing demo

vendor:         ## refresh static/vendor from npm (package.json)
	bash deploy/vendor-static.sh

clean-data:     ## forget the embedded database and broker files (stop `make run` first)
	rm -rf .data
