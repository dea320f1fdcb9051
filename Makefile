# Every target creates the virtualenv it needs on first use; nothing is installed globally.
PYTHON ?= python3
AIRFLOW_VERSION ?= 3.3.2
AIRFLOW2_VERSION ?= 2.11.2
VENV ?= .venv
VENV2 ?= .venv-airflow2
# Resolve the Airflow install as of this UTC instant (uv --exclude-newer), e.g.
# 2026-06-01T00:00:00Z: what existed a few days after the release, which is what
# Airflow's constraints file pins. 3.0.x and 3.2.x need it (see README); empty = newest.
AIRFLOW_EXCLUDE_NEWER ?=
# 2.11.2 came out in mid-March 2026; resolved unconstrained today it pulls cryptography 51,
# whose MultiFernet lacks what 2.11's Fernet code calls (every connection from the
# environment then fails once a Fernet key is configured, as `airflow db migrate` does).
AIRFLOW2_EXCLUDE_NEWER ?= 2026-03-20T00:00:00Z
PYTEST_ARGS ?=
# A venv resolved as of a cut-off gets only what the tests need: the dev tools (ruff is
# pinned to a minor newer than those cut-offs) run in the 3.3 venv (`make lint`).
comma := ,
EXTRAS ?= test$(if $(AIRFLOW_EXCLUDE_NEWER),,$(comma)dev)
# The [ai] extra (common.ai, Python 3.11+) has a venv of its own (`make test-ai`): common.ai's
# api-server plugins load FastAPI into every Airflow process that loads plugins (1.2 s
# each, every Celery task), which `make e2e-distributed` must not count as ours.
VENV_AI ?= .venv-ai
# pytest-xdist workers: half of the suite's time is waiting on polls, so 2 workers about
# halve it even on 2 cores. Each worker has its own AIRFLOW_HOME (tests/conftest.py).
PYTEST_WORKERS ?= 2

.PHONY: help venv venv-airflow2 test test-airflow2 test-ai lint format docs demo bench e2e e2e-distributed wheel-check ci clean

help:
	@echo "make demo           run the example DAGs end to end against the local emulator"
	@echo "make test           run the test suite (Airflow $(AIRFLOW_VERSION))"
	@echo "make test-airflow2  run the same suite on Airflow $(AIRFLOW2_VERSION)"
	@echo "make test-ai        the common.ai tools and their example DAGs (the [ai] extra, $(VENV_AI))"
	@echo "make lint           ruff check, ruff format --check, mypy"
	@echo "make docs           build the docs site into docs/_build/html (warnings are errors)"
	@echo "make bench          print the benchmark figures"
	@echo "make e2e            scheduler + triggerer + PostgreSQL + browser check"
	@echo "make e2e-distributed  CeleryExecutor + Redis + 2 workers + 2 triggerers, load + chaos"
	@echo "make wheel-check    build wheel/sdist, install into a fresh venv, check Airflow sees it"

# The stamp names the version (and the cut-off, colons dropped for make), and the
# target depends on pyproject.toml, so a change to any of them reinstalls.
STAMP = .installed-$(AIRFLOW_VERSION)$(if $(AIRFLOW_EXCLUDE_NEWER),-asof-$(subst :,,$(AIRFLOW_EXCLUDE_NEWER)))

# $(1) = venv dir, $(2) = Airflow version, $(3) = stamp name, $(4) = uv options, $(5) = extras.
define make_venv
	@test -x $(1)/bin/python || $(PYTHON) -m venv $(1)
	@test -x $(1)/bin/uv || $(1)/bin/python -m pip install -q --disable-pip-version-check uv
	$(1)/bin/uv pip install -q --python $(1)/bin/python $(4) "apache-airflow==$(2)" -e ".[$(5)]"
	@touch $(1)/$(3)
endef

# With a cut-off, --reinstall: uv otherwise keeps packages already in the venv (from
# a run without it) that are newer than the cut-off, even with --upgrade.
$(VENV)/$(STAMP): pyproject.toml
	$(call make_venv,$(VENV),$(AIRFLOW_VERSION),$(STAMP),$(if $(AIRFLOW_EXCLUDE_NEWER),--reinstall --exclude-newer "$(AIRFLOW_EXCLUDE_NEWER)"),$(EXTRAS))

STAMP2 = .installed-$(AIRFLOW2_VERSION)$(if $(AIRFLOW2_EXCLUDE_NEWER),-asof-$(subst :,,$(AIRFLOW2_EXCLUDE_NEWER)))

$(VENV2)/$(STAMP2): pyproject.toml
	$(call make_venv,$(VENV2),$(AIRFLOW2_VERSION),$(STAMP2),$(if $(AIRFLOW2_EXCLUDE_NEWER),--reinstall --exclude-newer "$(AIRFLOW2_EXCLUDE_NEWER)"),test$(if $(AIRFLOW2_EXCLUDE_NEWER),,$(comma)dev))

venv: $(VENV)/$(STAMP)
venv-airflow2: $(VENV2)/$(STAMP2)

test: venv
	$(VENV)/bin/python -m pytest -q -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

# The tests that need common.ai (they skip in `make test`): its tools, its example DAGs.
test-ai:
	$(MAKE) venv VENV=$(VENV_AI) EXTRAS=test$(comma)ai
	$(VENV_AI)/bin/python -m pytest -q -n $(PYTEST_WORKERS) tests/ai tests/test_docs.py \
	  tests/test_dags.py::test_example_dags_import_cleanly \
	  "tests/test_dags.py::test_example_dag_succeeds[casedev_ai_agent]" \
	  "tests/test_dags.py::test_example_dag_succeeds[cased_ai_agent]" $(PYTEST_ARGS)

test-airflow2: venv-airflow2
	$(VENV2)/bin/python -m pytest -q -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check airflow_provider_cased tests example_dags benchmarks scripts docs
	$(VENV)/bin/ruff format --check airflow_provider_cased tests example_dags benchmarks scripts docs
	$(VENV)/bin/mypy

format: venv
	$(VENV)/bin/ruff check --fix airflow_provider_cased tests example_dags benchmarks scripts docs
	$(VENV)/bin/ruff format airflow_provider_cased tests example_dags benchmarks scripts docs

# The docs extra goes into the same venv (autodoc imports the provider with its Airflow);
# its own stamp, so `make venv` stays as it was. Offline: no intersphinx, nothing fetched.
DOCS_STAMP = $(VENV)/.installed-docs-$(AIRFLOW_VERSION)

$(DOCS_STAMP): $(VENV)/$(STAMP) pyproject.toml
	$(VENV)/bin/uv pip install -q --python $(VENV)/bin/python "apache-airflow==$(AIRFLOW_VERSION)" -e ".[$(EXTRAS),docs]"
	@touch $@

docs: $(DOCS_STAMP)
	$(VENV)/bin/python -m sphinx -W --keep-going -q -b html docs docs/_build/html
	@echo "docs: docs/_build/html/index.html"

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
	rm -rf $(VENV) $(VENV2) .airflow-* build dist *.egg-info docs/_build
