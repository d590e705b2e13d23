#!/usr/bin/env bash
# The demo, on a fresh Debian machine as root: builds beluga, starts a private daemon, imports a
# busybox image built from busybox-static, and runs the sidecar example (a web pod whose log agent
# ships to a log-collector pod) the way a user would.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo build -q -p beluga
beluga=$PWD/target/debug/beluga
work=$(mktemp -d /tmp/beluga-demo.XXXXXX)
export BELUGA_SOCKET=$work/beluga.sock
"$beluga" daemon --root "$work/state" --socket "$BELUGA_SOCKET" 2>"$work/daemon.log" &
daemon=$!
cleanup() {
  "$beluga" delete pod web log-collector --grace-period=1 >/dev/null 2>&1 || true
  "$beluga" delete configmap log-agent-config >/dev/null 2>&1 || true
  kill "$daemon" 2>/dev/null || true
  wait "$daemon" 2>/dev/null || true
  # The Services' rules outlive a daemon (as kube-proxy's do): the demo's go with it.
  "$beluga" daemon --cleanup 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
for _ in $(seq 100); do [ -S "$BELUGA_SOCKET" ] && break; sleep 0.05; done
run() { echo "\$ beluga $*"; "$beluga" "$@"; echo; }
scripts/busybox-rootfs.sh "$work/rootfs"
run image import "$work/rootfs" --tag localhost/busybox:1
run apply -f examples/sidecar-logging.yaml
run wait pod/log-collector --for=condition=Ready --timeout=60s
run wait pod/web --for=condition=Ready --timeout=60s
run get pods -o wide
run exec web -c app -- wget -qO- http://localhost:8080/
run exec web -c app -- wget -qO- http://localhost:8080/cgi-bin/hit
sleep 1.5 # the agent's tail -F checks the file once a second
run logs web -c log-agent
run logs log-collector
run delete pod web log-collector
run delete configmap log-agent-config
run get pods
