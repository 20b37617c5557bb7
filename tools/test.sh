#!/usr/bin/env bash
# The whole test suite, as the README gives it and .ci/run calls it: installs the
# test dependencies, checks formatting and lints, then runs every test. Exits
# non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup-test-deps.sh
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --workspace --locked --no-fail-fast
