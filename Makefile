# Q2C for Odoo 18.0: see README.md. ODOO_SRC (default /opt/odoo), Q2C_DB, Q2C_PORT, PG* apply.
.PHONY: demo test serve db setup bench lint clean

demo:          ## create the demo database (once) and serve it on Q2C_PORT (default 8069)
	@bash scripts/demo.sh

test:          ## run all tests: Odoo's runner over the addons, then the live-server tests
	@bash scripts/test.sh

serve:         ## serve the existing demo database
	@bash scripts/demo.sh

db:            ## create the demo database without serving it
	@bash scripts/demo.sh --no-serve

setup:         ## Debian packages, virtualenv with Odoo, PostgreSQL
	@bash scripts/setup.sh

bench:         ## run the benchmarks (bench/)
	@bash scripts/bench.sh

lint:          ## ruff, pylint-odoo and XML checks through pre-commit
	@bash scripts/setup.sh && .venv/bin/pre-commit run --all-files

clean:         ## drop the project's databases and remove the virtualenv and data
	-@bash -c 'source scripts/common.sh; for db in $$Q2C_DB $$Q2C_TEST_DB; do dropdb --if-exists $$db; done; psql -d postgres -tAc "select datname from pg_database where datname like '"'"'q2c_live_%'"'"' or datname like '"'"'q2c_test_base_%'"'"'" | xargs -r -n1 dropdb --if-exists'
	rm -rf .venv .data .logs .pgdata
