#!/usr/bin/env bash
# kubectl 1.32 and 1.33, the clients beluga's Kubernetes API is tested with (issue 17), where the
# machine has none beside its `kubectl`: the upstream release binaries as AWS CDK's npm layers
# carry them (the npm registry is reachable where dl.k8s.io may not be), each package checked
# against its pinned sha512. Installed as /opt/beluga-kubectl/kubectl.1.3{2,3}, with `kubectl`
# (1.33) on the PATH; nothing is done where both are there already (Google's dispatcher has them).
set -euo pipefail
dir=${BELUGA_KUBECTL_DIR:-/opt/beluga-kubectl}
beside_kubectl() {
  local k
  k=$(readlink -f "$(command -v kubectl 2>/dev/null)" 2>/dev/null) || return 1
  [ -x "$(dirname "$k")/kubectl.1.32" ] && [ -x "$(dirname "$k")/kubectl.1.33" ]
}
beside_kubectl && exit 0
packages=(
  "32 2.1.0 sha512-a+zvCLapTg8R0P/Nrecc8mKV+ZgAwvkndn4/zlb43e14zRlc4/ozvmeghUT2eoyyaWJv+PwqgWohEXXec3kpSw=="
  "33 2.2.2 sha512-fikwoTFbX+dpsXV+wdHJslGm2Lpj8tSINtHSDtDC3HRXXEoxg/UvTg4J9KBPIFZCGiFIrf/DFv842bCVHaT85w=="
)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$dir"
for p in "${packages[@]}"; do
  read -r minor version integrity <<<"$p"
  [ -x "$dir/kubectl.1.$minor" ] && continue
  name=lambda-layer-kubectl-v$minor
  echo "installing kubectl 1.$minor (npm @aws-cdk/$name $version)"
  curl -fsSL --retry 3 -o "$tmp/$name.tgz" "https://registry.npmjs.org/@aws-cdk/$name/-/$name-$version.tgz"
  want=$(printf '%s' "${integrity#sha512-}" | base64 -d | od -An -tx1 | tr -d ' \n')
  got=$(sha512sum "$tmp/$name.tgz" | cut -d' ' -f1)
  [ "$got" = "$want" ] || { echo "@aws-cdk/$name $version: checksum mismatch" >&2; exit 1; }
  tar -xzf "$tmp/$name.tgz" -C "$tmp" package/lib/layer.zip
  unzip -p "$tmp/package/lib/layer.zip" kubectl/kubectl >"$tmp/kubectl"
  install -m 0755 "$tmp/kubectl" "$dir/kubectl.1.$minor"
  rm -rf "$tmp/package" "$tmp/kubectl" "$tmp/$name.tgz"
done
ln -sfn kubectl.1.33 "$dir/kubectl"
command -v kubectl >/dev/null || ln -sfn "$dir/kubectl" /usr/local/bin/kubectl
