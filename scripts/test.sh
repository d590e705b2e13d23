#!/usr/bin/env bash
# The whole test suite, on a fresh Debian machine as root: formatting, lints, unit tables and
# integration tests on real containers (runc or crun, overlayfs, namespaces).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
else
  cargo test --workspace --no-fail-fast
fi
