#!/usr/bin/env bash
# The demo, on a fresh Debian machine as root: builds beluga, starts a private daemon, imports a
# busybox image built from busybox-static, and runs the sidecar example (a web pod whose log agent
# ships to a log-collector pod) the way a user would: with the real kubectl, through the
# kubeconfig `beluga kubeconfig` prints.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo build -q -p beluga
beluga=$PWD/target/debug/beluga
work=$(mktemp -d /tmp/beluga-demo.XXXXXX)
export BELUGA_SOCKET=$work/beluga.sock
"$beluga" daemon --root "$work/state" --socket "$BELUGA_SOCKET" --api-listen 127.0.0.1:0 \
  2>"$work/daemon.log" &
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
k() { echo "\$ kubectl $*"; kubectl "$@"; echo; }
scripts/busybox-rootfs.sh "$work/rootfs"
run image import "$work/rootfs" --tag localhost/busybox:1
echo "\$ beluga kubeconfig > kubeconfig; export KUBECONFIG=\$PWD/kubeconfig"
"$beluga" kubeconfig >"$work/kubeconfig"
export KUBECONFIG=$work/kubeconfig KUBECACHEDIR=$work/kube-cache
echo
k version
k apply -f examples/sidecar-logging.yaml
k wait pod/log-collector --for=condition=Ready --timeout=60s
k wait pod/web --for=condition=Ready --timeout=60s
k get pods -o wide
k exec web -c app -- wget -qO- http://localhost:8080/
k exec web -c app -- wget -qO- http://localhost:8080/cgi-bin/hit
sleep 1.5 # the agent's tail -F checks the file once a second
k logs web -c log-agent
k logs log-collector
k delete pod web log-collector
k delete configmap log-agent-config
k get pods
