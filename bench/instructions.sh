#!/usr/bin/env bash
# Instructions per request on a server's main thread, under callgrind: an A/B
# measure that this machine's noise does not reach (requests/s and CPU time
# per request move 15-30% between rounds here; these counts move under 1%).
#
#   bench/instructions.sh [-n REQUESTS] [-r ROUNDS] [-p ROUTE] NAME='COMMAND' [NAME='COMMAND' ...]
#
# COMMAND starts a server on PORT (replaced by a free port per run), e.g.
#
#   bench/instructions.sh -r 3 \
#     own='node bench/servers/frameworks/serve.mjs --cluster --app bench/servers/frameworks/node-handler.mjs --port PORT' \
#     gw='node dist/cli/bin.js -b 127.0.0.1:PORT -w 1 --interface node bench/servers/frameworks/node-handler.mjs'
#
# Each run: the server under `valgrind --tool=callgrind --trace-children=yes
# --separate-threads=yes` (gwserver's master and worker both), 2,000 warm-up
# requests (h2load --h1, 10 connections), the counters zeroed, REQUESTS more
# (default 6,000), the counters dumped. The figure is the main thread of the
# process of the tree that executed the most instructions (the worker, for
# gwserver), divided by REQUESTS. Not CPU time: a cache miss counts as one
# instruction. Time-driven work (timers, heartbeats) is inflated about 50x
# under valgrind, but costs a worker ~115k instructions a second: under 1%
# of these figures. Needs valgrind and nghttp2-client (h2load).
set -euo pipefail

requests=6000
rounds=1
route=hello
while getopts 'n:r:p:' opt; do
  case $opt in
    n) requests=$OPTARG ;;
    r) rounds=$OPTARG ;;
    p) route=$OPTARG ;;
    *) echo "usage: $0 [-n REQUESTS] [-r ROUNDS] [-p ROUTE] NAME='COMMAND' ..." >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || { echo "usage: $0 [-n REQUESTS] [-r ROUNDS] [-p ROUTE] NAME='COMMAND' ..." >&2; exit 2; }
for tool in valgrind callgrind_control h2load curl; do
  command -v "$tool" >/dev/null || { echo "$0: $tool is missing (apt-get install valgrind nghttp2-client curl)" >&2; exit 2; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

descendants() {
  local pid=$1 child
  echo "$pid"
  for child in $(pgrep -P "$pid" || true); do descendants "$child"; done
}

free_port() {
  node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# run NAME COMMAND: prints the main thread's instructions per request
run() {
  local name=$1 cmd=$2 port out vpid tree best=0 file ir
  port=$(free_port)
  out="$work/$name.$RANDOM"
  mkdir -p "$out"
  # shellcheck disable=SC2086 # COMMAND is split into words on purpose
  valgrind --tool=callgrind --trace-children=yes --separate-threads=yes --callgrind-out-file="$out/cg.%p" \
    ${cmd//PORT/$port} >"$out/stdout" 2>"$out/stderr" &
  vpid=$!
  for _ in $(seq 1 600); do
    curl -s -o /dev/null -m 5 "http://127.0.0.1:$port/$route" && break
    sleep 0.5
  done
  h2load --h1 -n 2000 -c 10 "http://127.0.0.1:$port/$route" >/dev/null 2>&1
  # shellcheck disable=SC2046 # one pid per word
  tree=$(descendants "$vpid" | tr '\n' ' ')
  # shellcheck disable=SC2086
  callgrind_control -z $tree >/dev/null 2>&1
  if ! h2load --h1 -n "$requests" -c 10 "http://127.0.0.1:$port/$route" 2>&1 | grep -q "$requests succeeded"; then
    echo "$name: not every request succeeded" >&2
  fi
  # shellcheck disable=SC2086
  callgrind_control -d $tree >/dev/null 2>&1
  kill -TERM "$vpid" 2>/dev/null || true
  for pid in $tree; do kill -TERM "$pid" 2>/dev/null || true; done
  wait "$vpid" 2>/dev/null || true
  for file in "$out"/cg.*.1-01; do
    [ -f "$file" ] || continue
    ir=$(awk '/^(summary|totals):/ { print $2; exit }' "$file")
    [ "${ir:-0}" -gt "$best" ] && best=$ir
  done
  echo $((best / requests))
}

printf '%-24s %s\n' variant "main-thread instructions per request, each round"
declare -A results
for r in $(seq 1 "$rounds"); do
  for arg in "$@"; do
    name=${arg%%=*}
    results[$name]+="$(run "$name" "${arg#*=}") "
    [ "$r" = "$rounds" ] && printf '%-24s %s\n' "$name" "${results[$name]}"
  done
done
