#!/usr/bin/env bash
# Run the benchmarks in bench/ (all, or those named: scripts/bench.sh billing usage).
# Each benchmark gets Q2C_BENCH_TEMPLATE, a database with the four addons installed (no demo
# data), clones it, measures, prints its figures and writes bench/results/<name>.json.
set -euo pipefail
here="$(dirname "$0")"
source "$here/common.sh"
bash "$here/setup.sh"
mkdir -p "$ROOT/.logs" "$ROOT/bench/results"
template="${Q2C_BENCH_TEMPLATE:-q2c_bench_template}"
dropdb --if-exists "$template" >/dev/null 2>&1
rm -rf "$ROOT/.data/filestore/$template"
echo "q2c: building the benchmark database $template"
"$here/odoo.sh" -d "$template" -i "$Q2C_ADDONS,payment_demo" --without-demo=all --stop-after-init \
  --log-level=warn >"$ROOT/.logs/bench-template.log" 2>&1 || { tail -n 30 "$ROOT/.logs/bench-template.log"; exit 1; }
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for f in "$ROOT"/bench/bench_*.py; do names+=("$(basename "$f" .py | sed 's/^bench_//')"); done
fi
rc=0
for name in "${names[@]}"; do
  echo "== bench $name"
  Q2C_BENCH_TEMPLATE="$template" "$PY" "$ROOT/bench/bench_$name.py" || rc=1
done
exit $rc
