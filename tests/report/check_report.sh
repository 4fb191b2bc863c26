#!/usr/bin/env bash
# `retrain report` in a real browser: a run folder is made here (GRPO
# metrics over 20 steps with evaluations, per-function rewards, a NaN,
# episodes whose text holds markup, evaluation reports), its report is
# rendered by headless Chromium (Debian's chromium package) into a
# screenshot and a dump of the DOM. Checks: the page refers to nothing
# outside itself, the screenshot shows the plots (their line colours are
# there), the DOM holds every <svg> and no <script>, and the page logs
# nothing to the console. Prints ok/FAIL/skip lines and "N passed, N failed".
# The screenshot stays at build/report-check/report.png for a person to see.
set -u
root=${RETRAIN_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${RETRAIN_BIN:-$root/retrain}
pass=0
fail=0
ok() { echo "ok $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1: $2"; fail=$((fail + 1)); }

chromium=$(command -v chromium || true)
if [ -z "$chromium" ]; then
  echo "skip report_browser: chromium is not installed (scripts/install-deps installs it)"
  echo "0 passed, 0 failed"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
keep="$root/build/report-check"
rm -rf "$keep"
mkdir -p "$keep"
run="$keep/run"
mkdir -p "$run/logs" "$run/eval/step-10" "$run/eval/step-20"

# ---- the run folder
awk 'BEGIN {
  for (s = 1; s <= 20; s++) {
    r = 0.15 + 0.03 * s + 0.04 * sin(s)
    printf "{\"step\": %d, \"epoch\": %.2f, \"timestamp\": 1700000000.0, \"loss\": %.5f, ", s, s / 20, 0.4 / s
    printf "\"reward\": %.4f, \"reward_std\": 0.21, \"rewards/execution_accuracy/mean\": %.4f, ", r, r * 0.8
    printf "\"rewards/format/mean\": %.4f, \"frac_reward_zero_std\": 0.25, ", 0.15 + 0.002 * s
    printf "\"kl\": %s, \"entropy\": %.3f, ", (s == 7 ? "NaN" : sprintf("%.5f", 0.0015 * s)), 1.3 - 0.03 * s
    printf "\"clip_ratio/region_mean\": 0.01, \"completions/mean_length\": %.1f, ", 180 + 6 * s
    printf "\"episode_length\": %.2f, \"tool_usage_rate\": %.3f, \"answer_rate\": %.3f, ", 2.5 + 0.08 * s, 0.4 + 0.025 * s, 0.7 + 0.01 * s
    printf "\"grad_norm\": %.4f, \"learning_rate\": %g, \"num_tokens\": %d, ", 0.8 / sqrt(s), 1e-5 * (1 - (s - 1) / 20), 4096 * s
    printf "\"sql_accuracy\": %.4f, \"time/generation_s\": %.2f, \"time/tool_calls_s\": 0.6, ", r * 0.7, 4 + 0.1 * s
    printf "\"time/reward_s\": 0.2, \"time/update_s\": 2.1, \"time/generation_tokens_per_s\": %.1f, ", 850 + 4 * s
    printf "\"time/update_tokens_per_s\": %.1f", 2900 + 15 * s
    if (s % 10 == 0) printf ", \"eval_accuracy\": %.3f, \"time/eval_s\": 12.5", 0.1 + 0.01 * s
    printf "}\n"
  }
}' >"$run/logs/metrics.jsonl"
cat >"$run/resolved_config.json" <<'EOF'
{"model": {"name_or_path": "models/Qwen2.5-0.5B-Instruct", "peft_config": {"r": 8, "lora_alpha": 16,
 "target_modules": ["q_proj", "v_proj"]}},
 "environment": {"type": "spider2", "env_specific_config": {"spider2_data_path": "data/train.jsonl"}},
 "algorithm": {"name": "grpo", "hyperparameters": {"learning_rate": 1e-05, "batch_size": 8,
  "num_generations": 4, "max_steps": 20, "beta": 0.04, "loss_type": "dapo", "temperature": 1.0}},
 "reward_setup": {"rollout_reward_configs": {"execution_accuracy": {"weight": 1.0},
  "format": {"weight": 0.2}}}}
EOF
printf '{"accuracy": 0.2, "correct": 4, "evaluated": 20, "agent": {"tool_use_rate": 0.75, "mean_turns": 3.4}}\n' \
  >"$run/eval/step-10/report.json"
printf '{"accuracy": 0.3, "correct": 6, "evaluated": 20, "agent": {"tool_use_rate": 0.9, "mean_turns": 3.1}}\n' \
  >"$run/eval/step-20/report.json"
for s in 1 20; do
  for r in 0 0.5 1; do
    printf '{"step": %d, "task": "local%03d", "question": "How many <b>orders</b> in 2024?", "reward": %s, ' \
      $s $((s * 10 + ${r/./})) $r
    printf '"text": "<|im_start|>user\\nHow many orders? <script>console.error(\\"injected\\")</script>\\n'
    printf '<|im_start|>assistant\\n<tool_call>{\\"name\\": \\"execute_query\\", \\"arguments\\": {\\"query\\": '
    printf '\\"SELECT count(*) FROM orders WHERE a < 3 && b > 2\\"}}</tool_call></pre>\\n<answer>42</answer>"}\n'
  done
done >"$run/logs/episodes.jsonl"

# ---- the report
html="$keep/report.html"
if "$bin" report "$run" -o "$html" >"$tmp/out" 2>"$tmp/err" && [ -s "$html" ]; then
  ok "report_written"
else
  bad "report_written" "$(cat "$tmp/err")"
  echo "$pass passed, $fail failed"
  exit 1
fi
nsvg=$(grep -o '<svg' "$html" | wc -l)
if [ "$nsvg" -ge 10 ]; then ok "report_has_plots ($nsvg)"; else bad "report_has_plots" "$nsvg <svg> elements"; fi
refs=$(grep -oiE 'https?://|(src|href|srcset)=|url\(|@import' "$html" | sort -u | tr '\n' ' ')
if [ -z "$refs" ]; then ok "report_refers_to_nothing_outside"; else bad "report_refers_to_nothing_outside" "found: $refs"; fi

# ---- the browser: no network (every host resolves to nothing), its own profile
browse() {
  timeout 120 "$chromium" --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --user-data-dir="$tmp/profile" --host-resolver-rules="MAP * ~NOTFOUND" "$@" "file://$html"
}
png="$keep/report.png"
if browse --screenshot="$png" --window-size=1280,2400 >"$tmp/shot.out" 2>"$tmp/shot.err"; then
  size=$(stat -c %s "$png" 2>/dev/null || echo 0)
  # a blank 1280x2400 page compresses to a few KB
  if [ "$size" -gt 40000 ]; then ok "report_screenshot ($png, $((size / 1024)) KB)"
  else bad "report_screenshot" "$png is $size bytes"; fi
else
  bad "report_screenshot" "chromium failed: $(grep -v dbus "$tmp/shot.err" | tail -n 5)"
fi

# the plots drawn: pixels in the first two line colours (#1f77b4, #d62728)
# and many colours in all (python3's zlib decodes the PNG; no imaging library)
if [ -s "$png" ] && command -v python3 >/dev/null 2>&1; then
  counts=$(python3 - "$png" <<'PY'
import struct, sys, zlib
data = open(sys.argv[1], 'rb').read()
pos, idat = 8, []
while pos < len(data):
    n, typ = struct.unpack('>I4s', data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    pos += 12 + n
    if typ == b'IHDR':
        w, h, depth, ctype, _, _, interlace = struct.unpack('>IIBBBBB', body)
    elif typ == b'IDAT':
        idat.append(body)
if depth != 8 or ctype not in (2, 6) or interlace:
    print('unsupported PNG: depth %d, colour type %d, interlace %d' % (depth, ctype, interlace))
    sys.exit(0)
raw = zlib.decompress(b''.join(idat))
bpp = 3 if ctype == 2 else 4
stride = w * bpp
prev = bytearray(stride)
colors = {}
i = 0
for y in range(h):
    f = raw[i]
    line = bytearray(raw[i + 1:i + 1 + stride])
    i += 1 + stride
    if f == 1:
        for x in range(bpp, stride):
            line[x] = (line[x] + line[x - bpp]) & 255
    elif f == 2:
        line = bytearray((a + b) & 255 for a, b in zip(line, prev))
    elif f == 3:
        for x in range(stride):
            left = line[x - bpp] if x >= bpp else 0
            line[x] = (line[x] + ((left + prev[x]) >> 1)) & 255
    elif f == 4:
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    prev = line
    for x in range(0, stride, bpp):
        px = bytes(line[x:x + 3])
        colors[px] = colors.get(px, 0) + 1
print(len(colors), colors.get(b'\x1f\x77\xb4', 0), colors.get(b'\xd6\x27\x28', 0))
PY
)
  read -r ncolors blue red <<<"$counts"
  if [[ "$ncolors" =~ ^[0-9]+$ ]] && [ "$ncolors" -ge 50 ] && [ "${blue:-0}" -ge 500 ] && [ "${red:-0}" -ge 500 ]; then
    ok "report_screenshot_shows_plots ($ncolors colours, $blue blue and $red red line pixels)"
  else
    bad "report_screenshot_shows_plots" "$counts"
  fi
else
  echo "skip report_screenshot_shows_plots: no screenshot or no python3"
fi

# the DOM as the browser built it, and what the page logged
if browse --enable-logging=stderr --v=0 --dump-dom >"$tmp/dom.html" 2>"$tmp/dom.err"; then
  domsvg=$(grep -o '<svg' "$tmp/dom.html" | wc -l)
  if [ "$domsvg" = "$nsvg" ]; then ok "report_dom_svgs ($domsvg)"
  else bad "report_dom_svgs" "the DOM has $domsvg <svg> elements, the file $nsvg"; fi
  if ! grep -q '<script' "$tmp/dom.html" && grep -q '&lt;script&gt;console.error' "$tmp/dom.html"; then
    ok "report_dom_episode_text_stays_text"
  else
    bad "report_dom_episode_text_stays_text" "$(grep -o '.\{40\}script.\{40\}' "$tmp/dom.html" | head -n 3)"
  fi
else
  bad "report_dom_svgs" "chromium failed: $(grep -v dbus "$tmp/dom.err" | tail -n 5)"
fi
# Console messages come as "INFO:CONSOLE:1] ..." (older builds:
# "CONSOLE(1)"); the page has no script, so any is a failure. Chromium's
# own lines (dbus, GPU, sandbox) are not console lines.
console=$(cat "$tmp/shot.err" "$tmp/dom.err" 2>/dev/null | grep -E 'CONSOLE[(:]' | head -n 5)
if [ -z "$console" ]; then ok "report_console_clean"; else bad "report_console_clean" "$console"; fi

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
