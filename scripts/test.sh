#!/usr/bin/env bash
# Run every test: Odoo's runner over the four addons in one database build, then pytest over
# tests/ (live-server tests) against a copy of that database. Prints each runner's summary line
# and exits non-zero on any failure, error or skipped test.
set -uo pipefail
here="$(dirname "$0")"
source "$here/common.sh"
bash "$here/setup.sh" || exit 1
mkdir -p "$ROOT/.logs"
log="$ROOT/.logs/odoo-tests.log"
# One template per checkout: its filestore lives in this checkout's .data/.
base="${Q2C_BASE_DB:-q2c_test_base_$(printf %s "$ROOT" | sha1sum | cut -c1-8)}"
core="sale_management,account,payment,payment_demo,portal,mail"
base_key="$(sha1sum "$ODOO_SRC/odoo/release.py" | cut -c1-12)-$core"

# 1. A template database with Odoo's modules, built once and reused while Odoo is unchanged
#    (under a lock: several test runs may share it).
exec 9>"$ROOT/.logs/template.lock"; flock 9
have_key=$(psql -d "$base" -tAc "select value from ir_config_parameter where key='q2c.test_base_key'" 2>/dev/null || true)
if [ "$have_key" != "$base_key" ] || [ ! -d "$ROOT/.data/filestore/$base" ]; then
  echo "q2c: building the template database $base ($core, demo data)"
  dropdb --if-exists "$base" >/dev/null 2>&1
  rm -rf "$ROOT/.data/filestore/$base"
  if ! "$here/odoo.sh" -d "$base" -i "$core" --stop-after-init --log-level=warn >"$ROOT/.logs/base.log" 2>&1; then
    tail -n 40 "$ROOT/.logs/base.log"; echo "q2c: building $base failed (log: .logs/base.log)"; exit 1
  fi
  psql -q -d "$base" -c "insert into ir_config_parameter(key, value) values ('q2c.test_base_key', '$base_key')"
fi
flock -u 9

# 2. The test database: a fresh copy of the template, the q2c addons installed with their tests.
dropdb --if-exists "$Q2C_TEST_DB" >/dev/null 2>&1
createdb -T "$base" "$Q2C_TEST_DB" || exit 1
rm -rf "$ROOT/.data/filestore/$Q2C_TEST_DB"
[ -d "$ROOT/.data/filestore/$base" ] && cp -r "$ROOT/.data/filestore/$base" "$ROOT/.data/filestore/$Q2C_TEST_DB"
tags="/q2c_billing,/q2c_cpq,/q2c_dunning,/q2c_revrec"
[ -n "${Q2C_TEST_TAGS:-}" ] && tags="$Q2C_TEST_TAGS"
echo "q2c: Odoo tests ($tags), log in .logs/odoo-tests.log"
"$here/odoo.sh" -d "$Q2C_TEST_DB" -i "$Q2C_ADDONS" --test-enable --test-tags "$tags" \
  --stop-after-init --log-level=test --http-port "${Q2C_TEST_PORT:-$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}" >"$log" 2>&1
odoo_rc=$?
"$PY" "$here/odoo_test_summary.py" "$log"
summary_rc=$?
[ $odoo_rc -ne 0 ] && [ $summary_rc -eq 0 ] && { echo "q2c: odoo-bin exited with $odoo_rc"; summary_rc=1; }

# 3. Live-server tests (XML-RPC, concurrency, browser) against copies of the test database.
if [ -n "${Q2C_SKIP_PYTEST:-}" ]; then
  echo "q2c: pytest skipped (Q2C_SKIP_PYTEST set)"; exit 1
fi
echo "q2c: live-server tests (pytest tests/)"
Q2C_TEMPLATE_DB="$Q2C_TEST_DB" "$PY" -m pytest "$ROOT/tests" -p no:cacheprovider -p no:odoo -q -rfEs ${PYTEST_ARGS:-}
py_rc=$?
[ $py_rc -eq 5 ] && echo "q2c: pytest collected no test"

[ $summary_rc -eq 0 ] && [ $py_rc -eq 0 ] && { echo "q2c: all tests passed"; exit 0; }
echo "q2c: TESTS FAILED (odoo: $summary_rc, pytest: $py_rc)"
exit 1
