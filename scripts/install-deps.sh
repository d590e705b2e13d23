#!/usr/bin/env bash
# Installs what beluga and its tests need on Debian (run as root): the OCI runtimes,
# busybox-static (the test image), the standard CNI plugins and iproute2 (pod networking), and
# for the registry tests docker-registry, skopeo (which pushes the test image to it) and
# apache2-utils (htpasswd, for a registry that wants a login); curl and unzip fetch the kubectl
# clients the API is tested with (scripts/install-kubectl.sh).
# Rust (cargo) must already be there.
set -euo pipefail
need=()
for pkg in runc crun busybox-static tar openssl util-linux iproute2 iptables nftables containernetworking-plugins docker-registry skopeo apache2-utils ca-certificates curl unzip; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "cargo is required (https://rustup.rs)" >&2; exit 1; }
"$(dirname "$0")/install-kubectl.sh"
