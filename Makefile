# The two quick-start commands (`make demo`, `make test`) create and install the virtual
# environment themselves when it is missing or older than pyproject.toml / requirements.lock.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Every registered use case and variant (forks included), read from the registry at run time.
USE_CASES = $$($(BIN)/python -c "from shared.core.usecase import registry; print(*registry())")

.PHONY: demo test bench bench-quick serve lint docs format lock venv clean audit

$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)  ## train every use case on built-in data, store and track them, print a summary
	$(BIN)/pilotpack demo --allow-synthetic  # built-in data: serving it is a choice, recorded

# One worker per core (pytest-xdist). A file's tests stay on one worker, so its module-scoped
# servers start once; the slowest files start first; every worker has its own stores
# (tests/conftest.py).
test: $(STAMP)  ## the whole test suite (real-data tests skip when ../shared/data is absent)
	@# The pack's modules compiled once: the suite starts ~250 Python processes (CLI runs, servers),
	@# and where PYTHONDONTWRITEBYTECODE is set each would compile them again (0.15 s CPU each).
	$(BIN)/python -m compileall -q -j 0 shared usecases tests
	$(BIN)/pytest -n auto --dist loadfile --durations=15

bench: $(STAMP)  ## full benchmark of every use case (needs `make demo` first)
	@for uc in $(USE_CASES); do $(BIN)/pilotpack bench $$uc || exit 1; done
	$(BIN)/python -m shared.ops.batch_benchmark  # pilotpack score vs the plain pandas + onnxruntime floor

bench-quick: $(STAMP)  ## what CI runs: fewer requests, fails only on p99 over the use case's SLA or any error
	@for uc in $(USE_CASES); do $(BIN)/pilotpack bench $$uc --quick || exit 1; done

serve: $(STAMP)  ## every use case on http://127.0.0.1:3000 (Swagger UI at /)
	$(BIN)/pilotpack serve

audit: $(STAMP)  ## known vulnerabilities in requirements.lock (pip-audit); SKIPPED when no database is reachable
	.ci/audit

lint: $(STAMP)  ## formatting, lint, the layers contract (.importlinter), the Alertmanager config
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	@if command -v amtool >/dev/null 2>&1; then amtool check-config monitoring/alertmanager.yml; \
	elif [ "$${PILOTPACK_REQUIRE_REAL_DATA:-0}" = 1 ]; then \
	  echo "amtool is missing (apt-get install prometheus-alertmanager) and CI requires it" >&2; exit 1; \
	else echo "amtool check-config: SKIPPED (apt-get install prometheus-alertmanager)"; fi

docs: $(STAMP)  ## the manual (docs/, mkdocs); a broken link or page fails the build
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

lock: $(STAMP)  ## re-pin each dependency set after changing pyproject.toml (--upgrade: all afresh)
	$(BIN)/python .ci/lock

clean:
	rm -rf $(VENV) mlflow.db mlartifacts reports site
