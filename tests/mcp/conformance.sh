#!/usr/bin/env bash
# The official MCP conformance suite (@modelcontextprotocol/conformance, run
# with Node 22 from .deps) against `retrain mcp-db --http` over a copy of the
# chinook SQLite database. Every server scenario runs; those listed in
# conformance-expected-failures.yml call fixtures a database server does not
# have and must fail, all others must pass. A second server with --sse (every
# reply an SSE stream) runs the scenarios that pass in the first run and do not
# depend on the reply format (server-sse-polling does: over SSE it calls a
# fixture tool on the stream).
#
# Prints "ok NAME", "FAIL NAME: reason" or "skip NAME: reason" per scenario and
# ends with "N passed, N failed" (tests/run-all sums these).
#   RETRAIN_BIN   the binary under test (default ./retrain)
#   RETRAIN_ROOT  the project root (default: two levels above this script)
set -u
root=${RETRAIN_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${RETRAIN_BIN:-$root/retrain}
node=$root/.deps/npm/node_modules/.bin/node
suite=$root/.deps/npm/node_modules/@modelcontextprotocol/conformance/dist/index.js
expected=$root/tests/mcp/conformance-expected-failures.yml
sse_scenarios=(server-initialize logging-set-level ping tools-list tools-call-error
               server-sse-multiple-streams dns-rebinding-protection)

passed=0
failed=0
finish() {
  echo "$passed passed, $failed failed"
  [ "$failed" = 0 ]
  exit
}
skip_all() {
  echo "skip conformance: $1"
  finish
}

[ -x "$bin" ] || { echo "FAIL conformance: no binary at $bin (run make)"; failed=1; finish; }
[ -x "$node" ] && [ -f "$suite" ] || skip_all "Node 22 or the conformance package is missing from .deps (run scripts/install-deps)"
case "$("$node" --version 2>/dev/null)" in
  v2[2-9].*|v[3-9][0-9].*) ;;
  *) skip_all "$node is not Node 22 or newer" ;;
esac

tmp=$(mktemp -d "${TMPDIR:-/tmp}/retrain-conformance-XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do
    kill -TERM "$p" 2>/dev/null
  done
  for p in "${pids[@]}"; do
    wait "$p" 2>/dev/null
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

db=$tmp/chinook.sqlite
if [ -f "$root/../shared/spider2/databases/chinook.sqlite" ]; then
  cp "$root/../shared/spider2/databases/chinook.sqlite" "$db"
elif command -v sqlite3 >/dev/null; then
  sqlite3 "$db" "CREATE TABLE artists(ArtistId INTEGER PRIMARY KEY, Name TEXT);
                 INSERT INTO artists VALUES (1, 'AC/DC'), (2, 'Accept');"
else
  skip_all "neither ../shared/spider2/databases/chinook.sqlite nor sqlite3 to make a database"
fi

# Starts a server on a free port (port 0: the server picks one and names it
# on stderr); sets url and server_pid.
start_server() {
  local log=$1; shift
  DB_URL="sqlite:///$db" "$bin" mcp-db --http 127.0.0.1:0 "$@" 2>"$log" &
  server_pid=$!
  pids+=("$server_pid")
  url=
  for _ in $(seq 100); do
    url=$(sed -n 's|.*serving MCP at \(http://[^ ]*\).*|\1|p' "$log" | head -n 1)
    [ -n "$url" ] && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  return 1
}

# Stops a server with SIGTERM; it must exit with status 0 within 5 s.
stop_server() {
  local pid=$1 name=$2 i
  kill -TERM "$pid" 2>/dev/null
  for i in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "FAIL $name: the server did not stop within 5 s of SIGTERM"
    failed=$((failed + 1))
    kill -KILL "$pid" 2>/dev/null
    return
  fi
  wait "$pid"
  local rc=$?
  if [ "$rc" = 0 ]; then
    echo "ok $name"
    passed=$((passed + 1))
  else
    echo "FAIL $name: exit status $rc after SIGTERM"
    failed=$((failed + 1))
  fi
}

# Prints one line per scenario from the suite's checks.json files under
# $1 (a scenario fails on any FAILURE or WARNING check, as the suite's own
# baseline check counts them), with names prefixed by $2; scenarios in the
# expected-failures file $3 ("" for none) must fail.
verdicts() {
  "$node" - "$1" "$2" "$3" <<'EOF'
const fs = require('fs'), path = require('path');
const [dir, prefix, expectedFile] = process.argv.slice(2);
const expected = new Map();
if (expectedFile)
  for (const line of fs.readFileSync(expectedFile, 'utf8').split('\n')) {
    const m = line.match(/^\s+-\s+(\S+)\s*(?:#\s*(.*))?$/);
    if (m) expected.set(m[1], m[2] || 'listed in conformance-expected-failures.yml');
  }
const seen = new Set();
const entries = fs.existsSync(dir) ? fs.readdirSync(dir).sort() : [];
for (const d of entries) {
  const file = path.join(dir, d, 'checks.json');
  if (!fs.existsSync(file)) continue;
  const name = d.replace(/^server-/, '').replace(/-\d{4}-\d{2}-\d{2}T[\d-]+Z$/, '');
  seen.add(name);
  let checks;
  try { checks = JSON.parse(fs.readFileSync(file, 'utf8')); }
  catch (e) { console.log(`FAIL ${prefix}${name}: unreadable results (${e.message})`); continue; }
  const bad = checks.filter(c => c.status === 'FAILURE' || c.status === 'WARNING');
  const why = bad.map(c => `${c.status === 'WARNING' ? 'warning: ' : ''}${c.errorMessage || c.description}`)
                 .join('; ').replace(/\s+/g, ' ').slice(0, 300);
  if (expected.has(name)) {
    if (bad.length) console.log(`skip ${prefix}${name}: ${expected.get(name)}`);
    else console.log(`FAIL ${prefix}${name}: passes but is listed as an expected failure`);
  } else if (bad.length) {
    console.log(`FAIL ${prefix}${name}: ${why}`);
  } else {
    console.log(`ok ${prefix}${name}`);
  }
}
for (const name of expected.keys())
  if (!seen.has(name)) console.log(`FAIL ${prefix}${name}: listed as an expected failure but not run`);
EOF
}

# Prints the verdict lines; a suite that failed with no failing scenario
# to show for it adds a FAIL line of its own.
report() {
  local out
  out=$(verdicts "$1" "$2" "$3")
  printf '%s\n' "$out"
  if [ "$4" != 0 ] && ! printf '%s\n' "$out" | grep -q '^FAIL'; then
    echo "FAIL ${2}conformance: the suite exited with status $4"
  fi
}

# ---- every scenario, default replies (JSON unless SSE is asked for) ----
if ! start_server "$tmp/server.log"; then
  echo "FAIL conformance: the server did not start:"
  sed 's/^/  /' "$tmp/server.log"
  failed=$((failed + 1))
  finish
fi
timeout 600 "$node" "$suite" server --url "$url" --suite all --expected-failures "$expected" \
  -o "$tmp/results" >"$tmp/suite.log" 2>&1
rc=$?
# The suite exits 1 for an unexpected failure or a stale entry; our own
# verdicts say which. Show its output when something went wrong.
report "$tmp/results" "" "$expected" "$rc" >"$tmp/verdicts"
cat "$tmp/verdicts"
if grep -q '^FAIL' "$tmp/verdicts"; then
  echo "--- conformance output:" >&2
  tail -n 60 "$tmp/suite.log" >&2
  echo "--- server log:" >&2
  tail -n 20 "$tmp/server.log" >&2
fi
passed=$((passed + $(grep -c '^ok' "$tmp/verdicts")))
failed=$((failed + $(grep -c '^FAIL' "$tmp/verdicts")))
stop_server "$server_pid" "server-stops-on-sigterm"

# ---- SSE replies (--sse) ----
if ! start_server "$tmp/server-sse.log" --sse; then
  echo "FAIL sse:conformance: the server did not start:"
  sed 's/^/  /' "$tmp/server-sse.log"
  failed=$((failed + 1))
  finish
fi
for s in "${sse_scenarios[@]}"; do
  timeout 120 "$node" "$suite" server --url "$url" --scenario "$s" -o "$tmp/results-sse" \
    >>"$tmp/suite-sse.log" 2>&1
done
report "$tmp/results-sse" "sse:" "" 0 >"$tmp/verdicts-sse"
cat "$tmp/verdicts-sse"
if grep -q '^FAIL' "$tmp/verdicts-sse"; then
  echo "--- conformance output (--sse):" >&2
  tail -n 60 "$tmp/suite-sse.log" >&2
fi
passed=$((passed + $(grep -c '^ok' "$tmp/verdicts-sse")))
failed=$((failed + $(grep -c '^FAIL' "$tmp/verdicts-sse")))
stop_server "$server_pid" "sse:server-stops-on-sigterm"
finish
