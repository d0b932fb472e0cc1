# vru-risk: every target creates .venv and installs the locked versions when needed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
UV_VERSION := 0.13.9
DATA   ?= data
PERSONS ?= 20000

.PHONY: install demo test lint format bench serve lock clean

install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet "uv==$(UV_VERSION)"
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	@touch $(STAMP)

## demo: the whole pipeline on a generated city, then where to look
demo: $(STAMP)
	$(BIN)/vru generate --data $(DATA) --persons $(PERSONS)
	$(BIN)/vru link --data $(DATA)
	$(BIN)/vru features --data $(DATA)
	MLFLOW_TRACKING_URI=$${MLFLOW_TRACKING_URI:-sqlite:///mlflow.db} $(BIN)/vru train --data $(DATA)
	@echo ""
	@echo "Done. Look at:"
	@echo "  $(DATA)/manifest.json           seed, config hash, row counts of every file"
	@echo "  $(DATA)/geography.parquet       boroughs, BCUs, wards and LSOAs of the synthetic city"
	@echo "  $(DATA)/extracts/               each agency's extract (health, education, social_care, police)"
	@echo "  $(DATA)/linked/report.json      linkage quality, overall and by group; charts in linked/charts/"
	@echo "  $(DATA)/features/manifest.json  every feature with its definition, window and policy"
	@echo "  docs/generator.md               what each extract and column means"
	@echo "  MLflow UI: $(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db"
	@echo "             experiment 'vru-risk' (metrics beside the baseline's), model 'vru-risk' @candidate"

## test: the whole test suite (fails if no test ran)
test: $(STAMP)
	@scripts/ensure-postgres.sh >/dev/null
	$(BIN)/python -m pytest -n 2 --dist loadfile $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy governance serving

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## bench: speed and memory figures as JSON (SIZES="100000 1000000" by default)
SIZES ?= 100000 1000000
bench: $(STAMP)
	$(BIN)/python bench/bench_generate.py --sizes $(SIZES)
	$(BIN)/python bench/bench_link.py --sizes $(SIZES)
	$(BIN)/python bench/bench_train.py --persons 1000000

serve: $(STAMP)
	@echo "The planners' API arrives with its issue; nothing to serve yet." >&2; exit 2

## lock: recompile requirements.lock from pyproject.toml (needs the network)
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
