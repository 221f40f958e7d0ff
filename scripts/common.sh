# Shared settings for the q2c scripts (sourced, not run).
# shellcheck shell=bash
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ODOO_SRC="${ODOO_SRC:-/opt/odoo}"
VENV="${Q2C_VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"
Q2C_DB="${Q2C_DB:-q2c_demo}"
Q2C_PORT="${Q2C_PORT:-8069}"
Q2C_TEST_DB="${Q2C_TEST_DB:-q2c_test}"
Q2C_ADDONS="q2c_billing,q2c_cpq,q2c_dunning,q2c_revrec"
ADDONS_PATH="$ODOO_SRC/odoo/addons,$ODOO_SRC/addons,$ROOT/addons"
# PostgreSQL: PGHOST/PGPORT/PGUSER when set, else the machine's cluster (see pg.sh).
export PGUSER="${PGUSER:-$(id -un)}"

q2c_require_odoo() {
  if [ ! -f "$ODOO_SRC/odoo-bin" ] || [ ! -f "$ODOO_SRC/odoo/release.py" ]; then
    cat >&2 <<MSG
q2c: no Odoo 18.0 source tree at ODOO_SRC=$ODOO_SRC.
Get Odoo 18.0 Community one of these ways, then run the command again:
  git clone --depth 1 --branch 18.0 https://github.com/odoo/odoo.git $ODOO_SRC
  (or set ODOO_SRC to an existing Odoo 18.0 checkout)
or use the Docker route instead: docker compose up   (see README.md)
MSG
    exit 2
  fi
  if ! grep -q "version_info = (18, 0" "$ODOO_SRC/odoo/release.py"; then
    echo "q2c: $ODOO_SRC is not Odoo 18.0 (see odoo/release.py); set ODOO_SRC to an Odoo 18.0 tree." >&2
    exit 2
  fi
}

q2c_db_args() {
  local args=()
  [ -n "${PGHOST:-}" ] && args+=(--db_host "$PGHOST")
  [ -n "${PGPORT:-}" ] && args+=(--db_port "$PGPORT")
  args+=(--db_user "$PGUSER")
  [ -n "${PGPASSWORD:-}" ] && args+=(--db_password "$PGPASSWORD")
  echo "${args[@]}"
}
