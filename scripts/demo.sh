#!/usr/bin/env bash
# Create (once) the demo database with the four q2c addons and demo data, then serve it in the
# foreground on Q2C_PORT. A second run reuses the database.
set -euo pipefail
here="$(dirname "$0")"
source "$here/common.sh"
bash "$here/setup.sh"
installed=$(psql -d "$Q2C_DB" -tAc "select count(*) from ir_module_module where name in ('q2c_billing','q2c_cpq','q2c_dunning','q2c_revrec') and state='installed'" 2>/dev/null || echo 0)
if [ "$installed" != "4" ]; then
  echo "q2c: creating database $Q2C_DB with the q2c addons and demo data (a few minutes the first time)"
  # payment_demo (a core module, not a dependency): the demo's saved cards and automatic payments.
  "$here/odoo.sh" -d "$Q2C_DB" -i "$Q2C_ADDONS,payment_demo" --stop-after-init --log-level=warn
fi
# The demo history (customers, subscriptions, invoices, payments, dunning, revenue over the
# past 18 months): generated once per database, Q2C_DEMO_CUSTOMERS customers (default 300; 0
# for none), the same data for the same Q2C_DEMO_SEED. Not part of the test databases.
generated=$(psql -d "$Q2C_DB" -tAc "select count(*) from ir_config_parameter where key='q2c_billing.demo_generated'" 2>/dev/null || echo 0)
if [ "$generated" = "0" ] && [ "${Q2C_DEMO_CUSTOMERS:-300}" != "0" ]; then
  echo "q2c: generating the demo history of ${Q2C_DEMO_CUSTOMERS:-300} customers (about half an hour for 300 on 2 cores; Q2C_DEMO_CUSTOMERS=50 for a smaller one)"
  "$here/odoo.sh" shell -d "$Q2C_DB" --log-level=warn --no-http <<'PY'
import os
summary = env["q2c.demo.generator"]._q2c_generate(
    customers=int(os.environ.get("Q2C_DEMO_CUSTOMERS") or 300),
    seed=int(os.environ.get("Q2C_DEMO_SEED") or 2026),
    commit=True,
)
env.cr.commit()
print("q2c: demo history:", ", ".join(f"{key} {value}" for key, value in summary.items()))
PY
fi
[ "${1:-}" = "--no-serve" ] && exit 0
echo "q2c: serving $Q2C_DB on http://localhost:$Q2C_PORT (login admin / admin); Ctrl-C stops"
exec "$here/odoo.sh" -d "$Q2C_DB" --db-filter "^$Q2C_DB\$" --http-port "$Q2C_PORT" --log-level=info
