#!/usr/bin/env bash
# The official MCP conformance suite's client scenarios (initialize,
# tools_call) against `retrain tools --conformance URL`: the suite starts a
# test server, runs the client with the server's URL as its last argument,
# and checks what the client sent.
#
# Prints "ok NAME", "FAIL NAME: reason" or "skip NAME: reason" per scenario
# and ends with "N passed, N failed" (tests/run-all sums these).
#   RETRAIN_BIN   the binary under test (default ./retrain)
#   RETRAIN_ROOT  the project root (default: two levels above this script)
set -u
root=${RETRAIN_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${RETRAIN_BIN:-$root/retrain}
node=$root/.deps/npm/node_modules/.bin/node
suite=$root/.deps/npm/node_modules/@modelcontextprotocol/conformance/dist/index.js
scenarios=(initialize tools_call)

passed=0
failed=0
finish() {
  echo "$passed passed, $failed failed"
  [ "$failed" = 0 ]
  exit
}

[ -x "$bin" ] || { echo "FAIL conformance-client: no binary at $bin (run make)"; failed=1; finish; }
if ! [ -x "$node" ] || ! [ -f "$suite" ]; then
  echo "skip conformance-client: Node 22 or the conformance package is missing from .deps (run scripts/install-deps)"
  finish
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/retrain-conformance-client-XXXXXX")
trap 'rm -rf "$tmp"' EXIT

for s in "${scenarios[@]}"; do
  timeout 120 "$node" "$suite" client --command "$bin tools --conformance" --scenario "$s" \
    -o "$tmp/results" >"$tmp/$s.log" 2>&1
  rc=$?
  # The suite writes one checks.json per scenario run; every check must be
  # SUCCESS or INFO.
  verdict=$("$node" - "$tmp/results" "$s" <<'JS'
const fs = require('fs'), path = require('path');
const [dir, name] = process.argv.slice(2);
const runs = fs.existsSync(dir) ? fs.readdirSync(dir).filter(d => d.startsWith(name + '-')) : [];
if (!runs.length) { console.log('no results'); process.exit(0); }
const checks = JSON.parse(fs.readFileSync(path.join(dir, runs[0], 'checks.json'), 'utf8'));
const bad = checks.filter(c => c.status !== 'SUCCESS' && c.status !== 'INFO');
const ok = checks.filter(c => c.status === 'SUCCESS');
if (bad.length) console.log(bad.map(c => `${c.id}: ${c.errorMessage || c.status}`).join('; ').slice(0, 300));
else if (!ok.length) console.log('no check succeeded');
else console.log('ok');
JS
)
  if [ "$verdict" = ok ] && [ "$rc" = 0 ]; then
    echo "ok client-$s"
    passed=$((passed + 1))
  else
    echo "FAIL client-$s: ${verdict} (suite status $rc)"
    tail -n 30 "$tmp/$s.log" >&2
    failed=$((failed + 1))
  fi
done
finish
