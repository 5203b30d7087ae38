# Everyday commands. Each one is also spelled out in README.md.
.PHONY: run test test-postgres lint format ci

run:           ## set up and serve the app with the demo data
	scripts/run

test:          ## the whole suite on SQLite
	scripts/test

test-postgres: ## the whole suite on PostgreSQL and Redis (local services)
	DATABASE_URL=postgres://root@127.0.0.1:5432/tracker REDIS_URL=redis://127.0.0.1:6379/0 scripts/test

lint:
	.venv/bin/ruff format --check .
	.venv/bin/ruff check .
	.venv/bin/mypy
	.venv/bin/python manage.py spectacular --validate --fail-on-warn --file /dev/null

format:
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

ci:            ## what CI runs
	bash .ci/run
