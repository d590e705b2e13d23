#!/usr/bin/env bash
# The whole test suite, on a fresh Debian machine as root: formatting, lints, unit tables and
# integration tests on real containers (runc or crun, overlayfs, namespaces).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# Build first, so the leak check's snapshot is taken with nothing of ours running.
snapshot=$(mktemp /tmp/beluga-leak-check.XXXXXX)
trap 'rm -f "$snapshot"' EXIT
status=0
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-run
  scripts/leak-check.sh snapshot "$snapshot"
  cargo nextest run --workspace --no-fail-fast || status=$?
else
  cargo test --workspace --no-run
  scripts/leak-check.sh snapshot "$snapshot"
  cargo test --workspace --no-fail-fast || status=$?
fi
# Whatever the tests' own verdict, nothing of theirs may outlive them.
scripts/leak-check.sh compare "$snapshot" || status=1
exit "$status"
