#!/usr/bin/env bash
# Create .venv with Odoo 18.0 (from ODOO_SRC) and the project's Python requirements.
# Idempotent: a stamp records what was installed; a second run with the same inputs is instant.
set -euo pipefail
source "$(dirname "$0")/common.sh"
q2c_require_odoo

stamp="$VENV/.q2c-stamp"
want="$(cat "$ODOO_SRC/requirements.txt" "$ROOT/requirements.txt" "$ROOT/scripts/constraints.txt" | sha1sum | cut -c1-40) $ODOO_SRC"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && "$PY" -c "import odoo" 2>/dev/null; then
  exit 0
fi
echo "q2c: building the virtual environment in $VENV (Odoo from $ODOO_SRC)"
[ -x "$PY" ] || python3 -m venv "$VENV"
q2c_pip() {
  # The machine's pip configuration names a local index that may be absent: hide that noise.
  "$PY" -m pip install -q --disable-pip-version-check "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}
pip=(q2c_pip)
# Odoo's pinned packages that build from source import pkg_resources: old setuptools, no isolation.
"${pip[@]}" "setuptools<70" wheel "Cython<3"
# cbor2==5.4.2 (pinned for Python < 3.12) builds as version 0.0.0 and pip rejects it: install
# Odoo's requirements with that pin swapped for the versions in scripts/constraints.txt.
reqs="$VENV/odoo-requirements.txt"
sed -E 's/^cbor2==5\.4\.2/cbor2==5.4.6/' "$ODOO_SRC/requirements.txt" > "$reqs"
"${pip[@]}" --no-build-isolation -c "$ROOT/scripts/constraints.txt" -r "$reqs"
"${pip[@]}" --no-build-isolation --no-deps -e "$ODOO_SRC"
"${pip[@]}" -c "$ROOT/scripts/constraints.txt" -r "$ROOT/requirements.txt"
echo "$want" > "$stamp"
