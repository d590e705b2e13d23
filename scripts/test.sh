#!/usr/bin/env bash
# The whole test suite, on a fresh Debian machine as root: formatting, lints, unit tables and
# integration tests on real containers (crun where it can run, runc again for the lifecycle
# tests; overlayfs, namespaces).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# Build first, so the leak check's snapshot is taken with nothing of ours running.
snapshot=$(mktemp /tmp/beluga-leak-check.XXXXXX)
trap 'rm -f "$snapshot"' EXIT
status=0
matrix=(--test pods --test probes --test scenarios --test resilience --test images --test network)
if cargo nextest --version >/dev/null 2>&1; then
  # `-p beluga` alone unifies features differently and rebuilds: built here too, so that no
  # compiler or build script runs (and leaves its temporary files) after the snapshot.
  cargo nextest run --workspace --no-run
  cargo nextest run -p beluga --no-run "${matrix[@]}"
  scripts/leak-check.sh snapshot "$snapshot"
  cargo nextest run --workspace --no-fail-fast || status=$?
  # The runtime matrix: the suite runs on the runtime chosen for this host (crun here); the
  # lifecycle tests run again on runc, so that every path stays covered on both.
  BELUGA_TEST_RUNTIME=runc cargo nextest run -p beluga --no-fail-fast "${matrix[@]}" || status=$?
else
  cargo test --workspace --no-run
  cargo test -p beluga --no-run "${matrix[@]}"
  scripts/leak-check.sh snapshot "$snapshot"
  cargo test --workspace --no-fail-fast || status=$?
  BELUGA_TEST_RUNTIME=runc cargo test -p beluga --no-fail-fast "${matrix[@]}" || status=$?
fi
# Whatever the tests' own verdict, nothing of theirs may outlive them.
scripts/leak-check.sh compare "$snapshot" || status=1
exit "$status"
