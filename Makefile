# make run   - virtualenv, install, migrate the SQLite database in instance/, demo data, serve
# make test  - install the test dependencies and run every test
# make bench - benchmarks against the local PostgreSQL (writes bench/RESULTS.md); sizes in
#              SCALE (open prospects, default 25000,250000), options in BENCH_ARGS (--reuse)
# make bench-national - the same with 2,500,000 prospects added (about 18 GB of disk)
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
FLASK   = $(VENV)/bin/flask --app wsgi
STAMP   = $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 5000

SCALE  ?= 25000,250000
BENCH_ARGS ?=

.PHONY: install translations run test bench bench-national lint clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,postgres]'
	touch $(STAMP)

install: $(STAMP)
	$(PY) scripts/compile_translations.py

run: install
	mkdir -p instance
	$(FLASK) db upgrade
	@if $(FLASK) pipeline seed-demo --prospects $${DEMO_PROSPECTS:-2000} | grep -q '"created": true'; then \
	  echo "Demo data created."; else echo "Database already has data; demo not re-seeded."; fi
	@echo "Sign in at http://$(HOST):$(PORT)/ as supervisor@demo.bank, lead1@demo.bank or manager1@demo.bank (password: demo-password)"
	PIPELINE_SCHEDULER=1 $(FLASK) run --host $(HOST) --port $(PORT)

test: install
	bash scripts/test.sh

bench: install
	$(PY) -c 'import locust' 2>/dev/null || $(PY) -m pip install --quiet -e '.[bench]'
	$(PY) -m pip install --quiet -r bench/peer/requirements.txt
	$(PY) -m bench --scale $(SCALE) $(BENCH_ARGS)

bench-national:
	$(MAKE) bench SCALE=$(SCALE),2500000

lint: install
	$(PY) -m pip install --quiet ruff
	$(VENV)/bin/ruff check pipeline tests bench
	$(PY) -m pip install --quiet bandit pip-audit
	$(VENV)/bin/bandit --quiet --recursive pipeline wsgi.py
	$(PY) scripts/audit_dependencies.py

clean:
	rm -rf $(VENV) instance .pytest_cache
