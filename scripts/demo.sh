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
[ "${1:-}" = "--no-serve" ] && exit 0
echo "q2c: serving $Q2C_DB on http://localhost:$Q2C_PORT (login admin / admin); Ctrl-C stops"
exec "$here/odoo.sh" -d "$Q2C_DB" --db-filter "^$Q2C_DB\$" --http-port "$Q2C_PORT" --log-level=info
