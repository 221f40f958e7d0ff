#!/usr/bin/env bash
# Everything the demo and the tests need on this machine: Debian packages, the virtualenv with
# Odoo 18.0, a reachable PostgreSQL. Each step is skipped when already done.
set -euo pipefail
here="$(dirname "$0")"
source "$here/common.sh"
q2c_require_odoo
if command -v dpkg-query >/dev/null; then bash "$here/system-deps.sh"; fi
bash "$here/venv.sh"
bash "$here/pg.sh"
