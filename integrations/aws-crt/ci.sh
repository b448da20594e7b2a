#!/usr/bin/env bash
# CI for the AWS CRT integration (workspace member integrations/aws-crt): installs what the
# CRT's C build needs, builds it, runs the member's tests. Called from .ci/run.
#
# The CRT (aws-lc, s2n-tls, aws-c-*) is compiled from source by mountpoint-s3-crt-sys's
# build script with cmake, and its bindings are generated with bindgen (libclang). Cold,
# that build takes about 6-7 minutes on 2 shared cores; it is cached in target/ afterwards.
# Everything runs in the release profile: one CRT build serves the tests, and the CRT's
# Debug build (which a dev-profile build would add) is never needed here.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v cmake >/dev/null 2>&1 || ! ls /usr/lib/llvm-*/lib/libclang*.so* >/dev/null 2>&1; then
  apt-get update -qq && apt-get install -y -qq cmake libclang-dev
fi

started=$(date +%s)
cargo test -p anywait-aws-crt --release --no-run
echo "aws-crt: build took $(( $(date +%s) - started ))s"

# Linted here, in release, after the install above (so .ci/run's workspace-wide clippy can
# exclude this member and never start a second, Debug, CRT build).
cargo clippy -p anywait-aws-crt --release --all-targets -- -D warnings

started=$(date +%s)
timeout 600 cargo test -p anywait-aws-crt --release
echo "aws-crt: tests took $(( $(date +%s) - started ))s"
