#!/usr/bin/env bash
# Run odoo-bin from the project's virtualenv with the project's addons path and data dir.
# Usage: scripts/odoo.sh [shell] [odoo-bin arguments...]
set -euo pipefail
source "$(dirname "$0")/common.sh"
q2c_require_odoo
# A subcommand (shell) goes before the options.
command=()
[ "${1:-}" = "shell" ] && { command=(shell); shift; }
# shellcheck disable=SC2046
exec "$PY" "$ODOO_SRC/odoo-bin" "${command[@]}" --addons-path "$ADDONS_PATH" --data-dir "$ROOT/.data" \
  $(q2c_db_args) "$@"
