# wagate: `make run` serves on the defaults, `make test` runs the whole suite.
# Both bootstrap what they need on a fresh machine (uv, the locked packages,
# and for tests the Debian PostgreSQL server when run as root).

.PHONY: run test test-fast lint format bench docs bootstrap system-deps runtime-deps test-clients clean

VENV := .venv/bin

bootstrap:
	@scripts/bootstrap.sh

system-deps:
	@scripts/system-deps.sh

runtime-deps:
	@scripts/system-deps.sh --runtime

test-clients:
	@scripts/test-clients.sh

run: bootstrap runtime-deps
	$(VENV)/wagate serve

# Two workers (pytest-xdist), each with its own PostgreSQL server: the suite is
# mostly waiting on servers and databases, so two processes share two cores well.
test: bootstrap system-deps test-clients
	$(VENV)/pytest -n 2

# SQLite only, without the server-process walk-throughs: the quick inner loop.
test-fast: bootstrap
	WAGATE_TEST_SKIP_POSTGRES=1 $(VENV)/pytest -m "not slow" -q

lint: bootstrap
	$(VENV)/ruff check src tests benchmarks
	$(VENV)/ruff format --check src tests benchmarks
	$(VENV)/mypy
	$(VENV)/lint-imports

format: bootstrap
	$(VENV)/ruff format src tests benchmarks
	$(VENV)/ruff check --fix src tests benchmarks

bench: bootstrap system-deps
	$(VENV)/python -m benchmarks

docs: bootstrap
	$(VENV)/wagate config-docs > docs/configuration.md

clean:
	rm -rf .venv .pytest_cache .mypy_cache .ruff_cache
