# Every target creates the virtualenv it needs on first use; nothing is installed globally.
PYTHON ?= python3
AIRFLOW_VERSION ?= 3.3.2
AIRFLOW2_VERSION ?= 2.11.2
VENV ?= .venv
VENV2 ?= .venv-airflow2
PYTEST_ARGS ?=

.PHONY: help venv venv-airflow2 test test-airflow2 lint format demo bench e2e e2e-distributed wheel-check ci clean

help:
	@echo "make demo           run the example DAGs end to end against the local emulator"
	@echo "make test           run the test suite (Airflow $(AIRFLOW_VERSION))"
	@echo "make test-airflow2  run the same suite on Airflow $(AIRFLOW2_VERSION)"
	@echo "make lint           ruff check, ruff format --check, mypy"
	@echo "make bench          print the benchmark figures"
	@echo "make e2e            scheduler + triggerer + PostgreSQL + browser check"
	@echo "make e2e-distributed  CeleryExecutor + Redis + 2 workers + 2 triggerers, load + chaos"
	@echo "make wheel-check    build wheel/sdist, install into a fresh venv, check Airflow sees it"

# $(1) = venv dir, $(2) = Airflow version. The stamp names the version and the
# pyproject hash, so a change to either reinstalls.
define make_venv
	@test -x $(1)/bin/python || $(PYTHON) -m venv $(1)
	@test -x $(1)/bin/uv || $(1)/bin/python -m pip install -q --disable-pip-version-check uv
	$(1)/bin/uv pip install -q --python $(1)/bin/python "apache-airflow==$(2)" -e ".[test,dev]"
	@touch $(1)/.installed-$(2)
endef

$(VENV)/.installed-$(AIRFLOW_VERSION): pyproject.toml
	$(call make_venv,$(VENV),$(AIRFLOW_VERSION))

$(VENV2)/.installed-$(AIRFLOW2_VERSION): pyproject.toml
	$(call make_venv,$(VENV2),$(AIRFLOW2_VERSION))

venv: $(VENV)/.installed-$(AIRFLOW_VERSION)
venv-airflow2: $(VENV2)/.installed-$(AIRFLOW2_VERSION)

test: venv
	$(VENV)/bin/python -m pytest -q $(PYTEST_ARGS)

test-airflow2: venv-airflow2
	$(VENV2)/bin/python -m pytest -q $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check airflow_provider_cased tests example_dags benchmarks scripts
	$(VENV)/bin/ruff format --check airflow_provider_cased tests example_dags benchmarks scripts
	$(VENV)/bin/mypy

format: venv
	$(VENV)/bin/ruff check --fix airflow_provider_cased tests example_dags benchmarks scripts
	$(VENV)/bin/ruff format airflow_provider_cased tests example_dags benchmarks scripts

demo: venv
	$(VENV)/bin/python scripts/demo.py

bench: venv
	$(VENV)/bin/python benchmarks/run_all.py $(BENCH_ARGS)

e2e: venv
	VENV="$(VENV)" bash scripts/e2e.sh

e2e-distributed: venv
	VENV="$(VENV)" bash scripts/e2e_distributed.sh

wheel-check: venv
	$(VENV)/bin/python scripts/wheel_check.py

clean:
	rm -rf $(VENV) $(VENV2) .airflow-* build dist *.egg-info
