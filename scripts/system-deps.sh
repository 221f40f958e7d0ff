#!/usr/bin/env bash
# Install the Debian packages Odoo 18.0 and the test suite need, when missing.
# Safe to run again: it installs nothing when everything is present.
set -euo pipefail
pkgs=(libpq-dev libldap2-dev libsasl2-dev postgresql wkhtmltopdf chromium fonts-dejavu-core)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null; then
  echo "q2c: missing Debian packages: ${missing[*]} (install them as root)" >&2
  exit 1
fi
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
echo "q2c: installing Debian packages: ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
