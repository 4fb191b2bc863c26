#!/usr/bin/env bash
# The official MCP Inspector CLI (@modelcontextprotocol/inspector 2.x)
# drives `retrain mcp-db` over stdio: directly, and through a Claude-style
# mcpServers config file. Prints ok/FAIL/skip lines and "N passed, N failed".
set -u
root=${RETRAIN_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${RETRAIN_BIN:-$root/retrain}
node="$root/.deps/npm/node_modules/.bin/node"
inspector="$root/.deps/npm/node_modules/.bin/mcp-inspector"
pass=0
fail=0
ok() { echo "ok $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1: $2"; fail=$((fail + 1)); }

if [ ! -x "$node" ] || [ ! -e "$inspector" ]; then
  echo "skip inspector: .deps/npm is not installed (run scripts/install-deps)"
  echo "0 passed, 0 failed"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
db="$tmp/shop.db"
sqlite3 "$db" "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, price REAL);
  INSERT INTO items VALUES (1, 'apple', 0.5), (2, 'pear', 0.75);" || { bad setup "sqlite3 failed"; }

inspect() { # runs the Inspector CLI with a time limit; JSON result on stdout
  timeout 60 "$node" "$inspector" --cli --format json -q "$@" 2>"$tmp/stderr"
}
# field FILE JS-EXPRESSION: evaluates an expression over the parsed JSON `r`
field() { "$node" -e 'const j = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); const r = j.result ?? j; process.stdout.write(String(eval(process.argv[2])))' "$1" "$2"; }

# 1. tools/list over stdio
if inspect -e "DB_URL=sqlite:///$db" "$bin" mcp-db --method tools/list >"$tmp/list.json"; then
  names=$(field "$tmp/list.json" 'r.tools.map(t => t.name).join(",")')
  if [ "$names" = "all_table_names,filter_table_names,schema_definitions,execute_query" ]; then
    ok "inspector_tools_list"
  else
    bad "inspector_tools_list" "tools were: $names"
  fi
  desc=$(field "$tmp/list.json" 'r.tools[3].description')
  case "$desc" in
    *"Connected to sqlite version "*" database $db.") ok "inspector_description_connection_line" ;;
    *) bad "inspector_description_connection_line" "$desc" ;;
  esac
else
  bad "inspector_tools_list" "inspector failed: $(head -c 400 "$tmp/stderr")"
fi

# 2. tools/call execute_query with params
want=$'1. row\nname: pear\nprice: 0.75\n\nResult: 1 rows'
if inspect -e "DB_URL=sqlite:///$db" "$bin" mcp-db --method tools/call --tool-name execute_query \
     --tool-args-json '{"query": "SELECT name, price FROM items WHERE id = :id", "params": {"id": 2}}' \
     >"$tmp/call.json"; then
  got=$(field "$tmp/call.json" 'r.content[0].text')
  if [ "$got" = "$want" ]; then ok "inspector_execute_query"; else bad "inspector_execute_query" "got: $got"; fi
else
  bad "inspector_execute_query" "inspector failed: $(head -c 400 "$tmp/stderr")"
fi

# 3. a failing query is a normal result that says Error:
if inspect -e "DB_URL=sqlite:///$db" "$bin" mcp-db --method tools/call --tool-name execute_query \
     --tool-args-json '{"query": "SELECT nope FROM items"}' >"$tmp/err.json"; then
  got=$(field "$tmp/err.json" 'r.content[0].text')
  case "$got" in
    "Error: (sqlite3.OperationalError) no such column: nope"*) ok "inspector_error_text" ;;
    *) bad "inspector_error_text" "got: $got" ;;
  esac
else
  bad "inspector_error_text" "inspector failed: $(head -c 400 "$tmp/stderr")"
fi

# 4. the same through a Claude-style mcpServers config file
cat >"$tmp/mcp.json" <<JSON
{"mcpServers": {"shop": {"command": "$bin", "args": ["mcp-db"],
  "env": {"DB_URL": "sqlite:///$db", "MCP_DB_READ_ONLY": "1"}}}}
JSON
if inspect --config "$tmp/mcp.json" --server shop --method tools/call --tool-name schema_definitions \
     --tool-args-json '{"table_names": ["items"]}' >"$tmp/cfg.json"; then
  got=$(field "$tmp/cfg.json" 'r.content[0].text')
  want=$'items:\n    id: primary key, INTEGER, nullable, primary_key=1\n    name: TEXT\n    price: REAL, nullable'
  if [ "$got" = "$want" ]; then ok "inspector_config_file"; else bad "inspector_config_file" "got: $got"; fi
else
  bad "inspector_config_file" "inspector failed: $(head -c 400 "$tmp/stderr")"
fi
if inspect --config "$tmp/mcp.json" --server shop --method tools/call --tool-name execute_query \
     --tool-args-json '{"query": "DELETE FROM items"}' >"$tmp/ro.json"; then
  got=$(field "$tmp/ro.json" 'r.content[0].text')
  rows=$(sqlite3 "$db" "SELECT count(*) FROM items")
  case "$got" in
    "Error: "*"readonly database"*) [ "$rows" = 2 ] && ok "inspector_config_read_only" || bad "inspector_config_read_only" "rows left: $rows" ;;
    *) bad "inspector_config_read_only" "got: $got" ;;
  esac
else
  bad "inspector_config_read_only" "inspector failed: $(head -c 400 "$tmp/stderr")"
fi

# 5. the same server over Streamable HTTP
port=$("$node" -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')
DB_URL="sqlite:///$db" "$bin" mcp-db --http "127.0.0.1:$port" 2>"$tmp/http.log" &
server=$!
for _ in $(seq 100); do grep -q "serving MCP" "$tmp/http.log" 2>/dev/null && break; sleep 0.05; done
if inspect "http://127.0.0.1:$port/mcp" --method tools/call --tool-name execute_query \
     --tool-args-json '{"query": "SELECT count(*) AS n FROM items"}' >"$tmp/http.json"; then
  got=$(field "$tmp/http.json" 'r.content[0].text')
  want=$'1. row\nn: 2\n\nResult: 1 rows'
  if [ "$got" = "$want" ]; then ok "inspector_http"; else bad "inspector_http" "got: $got"; fi
else
  bad "inspector_http" "inspector failed: $(head -c 400 "$tmp/stderr")"
fi
kill "$server" 2>/dev/null
wait "$server" 2>/dev/null

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
