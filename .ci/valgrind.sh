#!/usr/bin/env bash
# Valgrind memcheck (--leak-check=full --error-exitcode=1) over
#   - the unit tests (cargo test --lib),
#   - the runtime matrix (tests/runtimes*.rs),
#   - the C test SDK's tests (cargo test -p anywait-testsdk: FFI through the C SDK),
# each test binary run on its own with --test-threads=1 from its package's directory
# (as cargo test would). Installs valgrind (Debian package) if missing.
# Own target dir: target/valgrind.
#
# Suppressions: testsdk/valgrind.supp (Rust std's current-thread handle, async-io's driver
# thread) and .ci/valgrind.supp (std / glibc / runtime memory still in use at exit;
# each entry explains itself). None matches a frame of anywait; only "possibly lost".
#
# Cost on 2 cores: cold build ~3 min, warm ~5 s; memcheck ~2 min in all. Per binary:
# ffi (testsdk) ~40 s, runtimes_stream ~15 s, unit tests ~20 s, the others < 10 s each.
# No binary comes near the 3 min where it would need a filtered subset, so all run
# in full.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

export CARGO_TERM_COLOR=never
export RUST_BACKTRACE=1
started=$(date +%s)
step() { echo; echo "=== valgrind: $* (+$(( $(date +%s) - started ))s)"; }

export CARGO_TARGET_DIR="$root/target/valgrind"
logs="$CARGO_TARGET_DIR/logs"
mkdir -p "$CARGO_TARGET_DIR"   # a fresh clone has no target dir yet

step "valgrind"
if ! command -v valgrind >/dev/null 2>&1; then
  apt-get update -qq && apt-get install -y -qq valgrind
fi
valgrind --version

step "build"
runtimes=()
for f in tests/runtimes*.rs; do
  [ -e "$f" ] && runtimes+=(--test "$(basename "$f" .rs)")
done
# json-render-diagnostics: compiler errors still reach stderr readably.
{
  cargo test --lib "${runtimes[@]}" --no-run --message-format=json-render-diagnostics
  cargo test -p anywait-testsdk --no-run --message-format=json-render-diagnostics
} > "$CARGO_TARGET_DIR/build.json"
# "<package dir> <executable>" per test binary.
mapfile -t bins < <(sed -n \
  's/.*"manifest_path":"\([^"]*\)\/Cargo\.toml".*"executable":"\([^"]*\)".*/\1 \2/p' \
  "$CARGO_TARGET_DIR/build.json")
[ "${#bins[@]}" -gt 0 ] || { echo "valgrind: no test binaries built" >&2; exit 1; }

step "memcheck"
mkdir -p "$logs"
vg=(valgrind --leak-check=full --error-exitcode=1 --num-callers=50 -s
    --suppressions="$root/testsdk/valgrind.supp" --suppressions="$root/.ci/valgrind.supp")
summary=()
failed=0
for entry in "${bins[@]}"; do
  dir=${entry%% *}; bin=${entry#* }
  name=$(basename "$bin"); name=${name%-*}
  [ "$dir" = "$root" ] || name="$(basename "$dir")/$name"
  log="$logs/${name//\//_}.log"
  echo "memcheck: $name"
  t0=$(date +%s)
  rc=0
  (cd "$dir" && timeout 600 "${vg[@]}" "$bin" --test-threads=1) > "$log" 2>&1 || rc=$?
  secs=$(( $(date +%s) - t0 ))
  errors=$(grep -E '^==[0-9]+== ERROR SUMMARY' "$log" | tail -1 | sed 's/^==[0-9]*== ERROR SUMMARY: //' || true)
  result=$(grep -E '^test result:' "$log" | tail -1 | sed 's/^test result: //; s/; 0 measured.*//' || true)
  if [ "$rc" = 0 ]; then
    status=clean
  else
    failed=1
    if [ "$rc" = 124 ]; then status="TIMEOUT (600 s)"; else status="FAILED (exit $rc)"; fi
    echo "--- $name: $status; log: $log"
    # The memcheck records (leaks, invalid accesses), without the -s repeat at the end.
    sed -n '1,/^==[0-9]*== ERROR SUMMARY/p' "$log" | grep -E '^==[0-9]+== ' |
      grep -vE '^==[0-9]+== +(at|by) 0x[0-9A-F]+: .*(library/(alloc|core|std)/|rustlib)' | head -120
    grep -E 'panicked|FAILED|^failures' "$log" | head -20 || true
  fi
  summary+=("$(printf '%-26s %-16s %4ss  %s  [memcheck: %s]' "$name" "$status" "$secs" "$result" "$errors")")
done

step "summary"
printf '  %s\n' "${summary[@]}"
echo "suppressions used (all binaries):"
cat "$logs"/*.log | grep -E '^--[0-9]+-- +used_suppression:' |
  awk '{n[$4] += $3} END {for (s in n) printf "    %4d  %s\n", n[s], s}' | sort -k2
echo "logs: $logs"
if [ "$failed" != 0 ]; then
  echo "valgrind: FAILED in $(( $(date +%s) - started ))s"
  exit 1
fi
echo "valgrind: passed in $(( $(date +%s) - started ))s"
