#!/usr/bin/env bash
# Gateway benchmarks (docs/gateway.md), with `tern bench`:
#  1. added latency of a cache-miss pass-through: the same non-cacheable
#     requests against the upstream directly and through the gateway;
#  2. exact-cache hit throughput: one deterministic request repeated.
# Usage: bench/gateway/run.sh [TERN_BIN] [OUT_DIR]
# Env: MODEL (default ../shared/models/stories260K.gguf), N (requests, 400),
#      HIT_SECONDS (10), HIT_CONC (32), GW_CPUS (taskset list for the gateway, e.g. 0,1).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
B="${1:-$ROOT/build/release/tern}"
OUT="${2:-$(mktemp -d)}"
MODEL="${MODEL:-$ROOT/../shared/models/stories260K.gguf}"
N="${N:-400}"
HIT_SECONDS="${HIT_SECONDS:-10}"
HIT_CONC="${HIT_CONC:-32}"
PIN=()
[ -n "${GW_CPUS:-}" ] && PIN=(taskset -c "$GW_CPUS")
mkdir -p "$OUT"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 200); do (echo > /dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; return 1; }

UP=$(free_port); GW=$(free_port)
"$B" serve -m "$MODEL" --alias up --port "$UP" --threads 1 --log-requests false 2> "$OUT/upstream.log" &
UP_PID=$!
cat > "$OUT/gw.yaml" <<YAML
log-requests: true
http-threads: 2
models:
  up: {url: 'http://127.0.0.1:$UP/v1', model: up, price: {input: 1, output: 2}}
store: {kind: memory}
YAML
"${PIN[@]}" "$B" serve --config "$OUT/gw.yaml" --port "$GW" 2> "$OUT/gateway.log" &
GW_PID=$!
trap 'kill $GW_PID $UP_PID 2>/dev/null; wait 2>/dev/null' EXIT
wait_port "$UP"; wait_port "$GW"

# 1. Pass-through: completions, 4 output tokens, not cacheable (no temperature 0
# or seed), one request at a time, interleaved in rounds so that machine load
# affects both sides alike.
COMMON=(--endpoint completions --no-stream --concurrency 1 --input-len 16 --output-len 4 --warmup 5 -q)
for round in 1 2; do
  "$B" bench --url "http://127.0.0.1:$UP" --model up "${COMMON[@]}" --requests "$N" --json "$OUT/direct-$round.json" > /dev/null
  "$B" bench --url "http://127.0.0.1:$GW" --model up "${COMMON[@]}" --requests "$N" --json "$OUT/gateway-$round.json" > /dev/null
done

# The gateway's own per-request account covers phase 1 only: phase 2 starts
# with HIT_CONC concurrent misses that queue behind each other.
PASS_LINES=$(wc -l < "$OUT/gateway.log")

# 2. Exact-cache hits: one prompt, temperature 0, many connections.
echo "Tell me a story about a cat" > "$OUT/one-prompt.txt"
"$B" bench --url "http://127.0.0.1:$GW" --model up --endpoint chat --no-stream --temperature 0 \
  --prompts "$OUT/one-prompt.txt" --output-len 8 --concurrency "$HIT_CONC" --duration "$HIT_SECONDS" --warmup 50 -q \
  --json "$OUT/hits.json" > /dev/null
curl -s "http://127.0.0.1:$GW/metrics" | grep '^tern_gateway_cache_total' > "$OUT/hits-metrics.txt" || true

python3 - "$OUT" "$PASS_LINES" <<'PY'
import json, sys, os
out = sys.argv[1]
pass_lines = int(sys.argv[2])
def pt(name):
    p = json.load(open(os.path.join(out, name)))["points"][0]
    return p
print("pass-through e2e latency (ms), completions, 4 tokens, concurrency 1")
print(f"{'run':<12}{'n':>6}{'p50':>9}{'p95':>9}{'p99':>9}")
rows = {}
for side in ("direct", "gateway"):
    for r in (1, 2):
        p = pt(f"{side}-{r}.json")
        e = p["e2e_ms"]
        rows[(side, r)] = e
        print(f"{side + '-' + str(r):<12}{p['succeeded']:>6}{e['p50']:>9.3f}{e['p95']:>9.3f}{e['p99']:>9.3f}")
for r in (1, 2):
    d, g = rows[("direct", r)], rows[("gateway", r)]
    print(f"added, round {r}: p50 {g['p50']-d['p50']:+.3f}  p95 {g['p95']-d['p95']:+.3f}  p99 {g['p99']-d['p99']:+.3f}")
# The gateway's own account: per request, its time minus the upstream's
# (request written -> response complete), from its JSON log lines.
ov = []
for i, line in enumerate(open(os.path.join(out, "gateway.log"))):
    if i >= pass_lines: break
    if '"overhead_ms"' in line:
        try: ov.append(float(json.loads(line)["overhead_ms"]))
        except Exception: pass
ov.sort()
if ov:
    q = lambda f: ov[min(len(ov) - 1, int(f * len(ov)))]
    print(f"gateway-measured overhead (ms), pass-through phase, {len(ov)} requests: p50 {q(0.5):.3f} p95 {q(0.95):.3f} p99 {q(0.99):.3f} max {ov[-1]:.3f}")
h = pt("hits.json")
print(f"exact-cache hits: {h['succeeded']} ok, {h['failed']} failed, {h['request_throughput']:.0f} req/s, "
      f"e2e p50 {h['e2e_ms']['p50']:.3f} ms p99 {h['e2e_ms']['p99']:.3f} ms")
print(open(os.path.join(out, "hits-metrics.txt")).read())
PY
