# vru-risk: every target creates .venv and installs the locked versions when needed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
UV_VERSION := 0.13.9
DATA   ?= data
PERSONS ?= 30000
DEMO_BOARD := demo-board
TRACKING := MLFLOW_TRACKING_URI=$${MLFLOW_TRACKING_URI:-sqlite:///mlflow.db}

.PHONY: install demo test test-cluster lint format bench serve lock clean mutation

install: $(STAMP)

# --compile-bytecode: where PYTHONDONTWRITEBYTECODE is set, nothing caches bytecode and every
# command would recompile MLflow, pandas and scikit-learn on import (8 s instead of 2.5 s here)
$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet "uv==$(UV_VERSION)"
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -r requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	@touch $(STAMP)

## demo: the whole pipeline on synthetic people in real London areas, then where to look
demo: $(STAMP)
	$(BIN)/vru generate --data $(DATA) --persons $(PERSONS)
	$(BIN)/vru link --data $(DATA)
	$(BIN)/vru features --data $(DATA)
	$(TRACKING) $(BIN)/vru train --data $(DATA)
	@umask 077; mkdir -p $(DEMO_BOARD)
	@umask 077; test -f $(DEMO_BOARD)/board.pem || $(BIN)/vru keys board-init -q \
	    --private-key $(DEMO_BOARD)/board.pem --public-key $(DEMO_BOARD)/board.pub > $(DEMO_BOARD)/board.b64
	@umask 077; test -f $(DEMO_BOARD)/board2.pem || $(BIN)/vru keys board-init -q \
	    --private-key $(DEMO_BOARD)/board2.pem --public-key $(DEMO_BOARD)/board2.pub > $(DEMO_BOARD)/board2.b64
	@umask 077; test -f $(DEMO_BOARD)/release.pem || $(BIN)/vru keys release-init -q \
	    --private-key $(DEMO_BOARD)/release.pem --public-key $(DEMO_BOARD)/release.pub > $(DEMO_BOARD)/release.b64
	@$(BIN)/python scripts/demo_configs.py configs $(DEMO_BOARD)/board.b64,$(DEMO_BOARD)/board2.b64 $(DEMO_BOARD) $(DEMO_BOARD)/release.b64
	$(TRACKING) $(BIN)/vru evaluate --programme youth-workers --data $(DATA) --quiet \
	    --publish --release-key $(DEMO_BOARD)/release.pem
	$(TRACKING) $(BIN)/vru audit --data $(DATA) -g $(DEMO_BOARD)/governance.yaml
	$(TRACKING) $(BIN)/vru review --demo --version candidate -g $(DEMO_BOARD)/governance.yaml \
	    --signing-key $(DEMO_BOARD)/board.pem
	$(TRACKING) $(BIN)/vru review --demo --version candidate -g $(DEMO_BOARD)/governance.yaml \
	    --signing-key $(DEMO_BOARD)/board2.pem
	$(TRACKING) $(BIN)/vru promote --version candidate -g $(DEMO_BOARD)/governance.yaml
	$(TRACKING) $(BIN)/vru release --data $(DATA) -c $(DEMO_BOARD)/release.yaml -g $(DEMO_BOARD)/governance.yaml
	@umask 077; test -s $(DEMO_BOARD)/planner.token || $(BIN)/vru keys create -q --role planner \
	    --name "demo planner" -c $(DEMO_BOARD)/serving.yaml > $(DEMO_BOARD)/planner.token
	@umask 077; test -s $(DEMO_BOARD)/admin.token || $(BIN)/vru keys create -q --role admin \
	    --name "demo operator" -c $(DEMO_BOARD)/serving.yaml > $(DEMO_BOARD)/admin.token
	@umask 077; test -s $(DEMO_BOARD)/board.token || $(BIN)/vru keys create -q --role board \
	    --name "demo board member" -c $(DEMO_BOARD)/serving.yaml > $(DEMO_BOARD)/board.token
	@chmod 600 $(DEMO_BOARD)/*.token $(DEMO_BOARD)/*.pem  # also those an older demo wrote 0644
	@echo ""
	@echo "Done. Look at:"
	@echo "  $(DATA)/manifest.json           seed, config hash, row counts of every file"
	@echo "  $(DATA)/geography.parquet       London's real LSOAs, wards, boroughs and BCUs (synthetic people)"
	@echo "  $(DATA)/extracts/               each agency's extract (health, education, social_care, police)"
	@echo "  $(DATA)/linked/report.json      linkage quality, overall and by group; charts in linked/charts/"
	@echo "  $(DATA)/features/manifest.json  every feature with its definition, window and policy"
	@echo "  docs/generator.md               what each extract and column means"
	@echo "  MLflow UI: $(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db"
	@echo "             experiment 'vru-risk' (metrics beside the baseline's), model 'vru-risk' @candidate and @champion"
	@echo "  audit-reports/               the ethics board's report (report.html) and audit.json"
	@echo "  evaluations/youth-workers/   did the demo's programme work? (report.html, event_study.png)"
	@echo "  programmes/                  its result as published for planners (signed; /planner/programmes)"
	@echo "  releases/CURRENT             the area release the API serves (areas.parquet, series.parquet, manifest.json)"
	@echo "  $(DEMO_BOARD)/                  the DEMO board key, configs, API keys (*.token) and audit logs"
	@echo ""
	@echo "Start the planners' API:  make serve SERVING_CONFIG=$(DEMO_BOARD)/serving.yaml"
	@echo "then, in another terminal:"
	@echo "  curl -s -H \"Authorization: Bearer \$$(cat $(DEMO_BOARD)/planner.token)\" \\"
	@echo "       'http://127.0.0.1:8000/v1/areas?level=borough&sort=-rate_per_1000&limit=5'"
	@echo "  API docs: http://127.0.0.1:8000/docs"
	@echo "  web pages: http://127.0.0.1:8000/ - sign in with the key in $(DEMO_BOARD)/planner.token"
	@echo "             or $(DEMO_BOARD)/board.token (a decision is signed with a member key: $(DEMO_BOARD)/board.pem or board2.pem; quorum 2)"

## test: the whole test suite on two workers, a module per worker (--dist loadfile in
## pyproject.toml), in a random order (pytest-randomly); fails if no test ran
test: $(STAMP)
	@scripts/ensure-postgres.sh >/dev/null
	@scripts/ensure-java.sh >/dev/null
	@scripts/ensure-chromium.sh >/dev/null
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

## test-cluster: link, features and the release on a standalone Spark cluster (a master and two
## workers started here), each against DuckDB; about 3 minutes, kept out of `make test` for time
test-cluster: $(STAMP)
	@scripts/ensure-java.sh >/dev/null
	$(BIN)/python -m pytest -m cluster $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy governance serving

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## bench: every stage at each size (SIZES), Spark beside DuckDB at SPARK_SIZES; JSON in
## bench/results/, a table on stdout. The stage benchmarks (bench/README.md) run on their own.
SIZES ?= 100000 1000000
SPARK_SIZES ?= 100000
bench: $(STAMP)
	@scripts/ensure-java.sh >/dev/null
	$(BIN)/python bench/bench_pipeline.py --sizes $(SIZES) --spark-sizes $(SPARK_SIZES)

## serve: the planners' API on the current release (SERVING_CONFIG=configs/serving.yaml)
SERVING_CONFIG ?= configs/serving.yaml
serve: $(STAMP)
	$(BIN)/vru serve -c $(SERVING_CONFIG)

## mutation: mutmut over the control modules, one at a time (mutation/modules.toml names each
## module and the tests that guard it; MODULES="gates disclosure" runs only those). Scratch
## copies in .mutation/, the summary in mutation/results.json (both git-ignored); not part
## of `make test`. README "Testing" has the scores and the survivors.
MODULES ?=
mutation: $(STAMP)
	$(BIN)/python mutation/run.py $(MODULES)

## lock: recompile requirements.lock from pyproject.toml (needs the network)
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --extra dev --extra spark --python-version 3.11 -o requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
