#!/usr/bin/env bash
# ThreadSanitizer over the stress tests, the runtime matrix and the boundary tests:
#
#   RUSTFLAGS=-Zsanitizer=thread cargo +nightly test -Zbuild-std \
#       --target x86_64-unknown-linux-gnu --test stress* --test runtimes* --test boundary
#
# std is rebuilt with the sanitizer (-Zbuild-std), so every atomic and lock in std,
# tokio, smol, async-executor, futures and anywait is instrumented. A report halts
# the test binary (halt_on_error=1) and fails the script. Installs what it needs
# (nightly + rust-src). Own target dir: target/tsan (the std build is cached there).
#
# Cost on 2 shared cores: cold build ~4 min (std + deps + 7 test binaries), after a
# src/ change ~40-50 s; tests 40-90 s (stress ~20-35 s, boundary ~10 s, the rest
# < 5 s each), so ~6 min cold at most. No test needs fewer iterations under TSan.
#
# Environment:
#   TSAN_STRICT=1  never fall back to force_seq_cst_atomics (see "standalone fences").
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

export CARGO_TERM_COLOR=never
export RUST_BACKTRACE=1
started=$(date +%s)
step() { echo; echo "=== tsan: $* (+$(( $(date +%s) - started ))s)"; }

target=x86_64-unknown-linux-gnu
export CARGO_TARGET_DIR="$root/target/tsan"
logs="$CARGO_TARGET_DIR/logs"
mkdir -p "$CARGO_TARGET_DIR"   # a fresh clone has no target dir yet

step "toolchain"
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  rustup toolchain install nightly --profile minimal
fi
rustup component add --toolchain nightly rust-src
rustup run nightly rustc --version

# The stress tests and the runtime matrix (whatever tests/stress*.rs and
# tests/runtimes*.rs exist), plus tests/boundary.rs.
tests=()
for f in tests/stress*.rs tests/runtimes*.rs tests/boundary.rs; do
  [ -e "$f" ] && tests+=(--test "$(basename "$f" .rs)")
done

# TSan does not model standalone fences (`std::sync::atomic::fence`): synchronisation
# made by "Relaxed load, then fence(Acquire)" is invisible to it, and the data it
# publishes is reported as a race although the program is correct. anywait's own
# frames are never suppressed, so while src/ contains such a fence the run would fail
# on that false positive (it did: SlotBits::publish in src/core/slot.rs, reached from
# Rx::poll / Rx::swap_waiter / Rx::on_complete in src/core/oneshot.rs; in the stress
# tests within a second on every run, in tests/runtimes_oneshot.rs on some runs). Until the fence
# is replaced by an Acquire load, the run falls back to TSan's force_seq_cst_atomics,
# which treats every atomic access as SeqCst: data races on plain memory are still
# found, wrong memory orderings are not. Loud in the summary; TSAN_STRICT=1 disables
# the fallback; it disappears by itself once no fence is left in src/.
fences=$(grep -rn --include='*.rs' -E '(^|[^_[:alnum:]])fence\(' src | grep -v '^src/tests/' |
  grep -vE '^[^:]+:[0-9]+:[[:space:]]*//' || true)
mode=strict
tsan_options="halt_on_error=1:second_deadlock_stack=1:suppressions=$root/.ci/tsan.supp"
if [ -n "$fences" ] && [ "${TSAN_STRICT:-0}" != 1 ]; then
  mode=degraded
  tsan_options="$tsan_options:force_seq_cst_atomics=1"
fi

step "build (${tests[*]})"
export RUSTFLAGS="-Zsanitizer=thread"
export RUSTDOCFLAGS="-Zsanitizer=thread"
# json-render-diagnostics: compiler errors still reach stderr readably.
cargo +nightly test -Zbuild-std --target "$target" "${tests[@]}" --no-run \
  --message-format=json-render-diagnostics > "$CARGO_TARGET_DIR/build.json"
mapfile -t bins < <(sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' "$CARGO_TARGET_DIR/build.json")
[ "${#bins[@]}" -gt 0 ] || { echo "tsan: no test binaries built" >&2; exit 1; }

step "run (TSAN_OPTIONS=$tsan_options)"
mkdir -p "$logs"
export TSAN_OPTIONS="$tsan_options"
summary=()
failed=0
for bin in "${bins[@]}"; do
  name=$(basename "$bin"); name=${name%-*}
  log="$logs/$name.log"
  t0=$(date +%s)
  rc=0
  # cargo test runs integration tests from the package root: so do we. --nocapture:
  # a TSan report aborts the process before the harness would print captured output,
  # and the stress tests' seed (ANYWAIT_SEED=..., to replay a run) must reach the log.
  timeout 600 "$bin" --nocapture > "$log" 2>&1 || rc=$?
  secs=$(( $(date +%s) - t0 ))
  reports=$(grep -c '^WARNING: ThreadSanitizer' "$log" || true)
  result=$(grep -E '^test result:' "$log" | tail -1 | sed 's/^test result: //; s/; 0 measured.*//' || true)
  if [ "$rc" = 0 ]; then
    status=ok
  else
    failed=1
    if [ "$rc" = 124 ]; then status="TIMEOUT (600 s)"; elif [ "$reports" -gt 0 ]; then status="TSAN REPORT"; else status="FAILED (exit $rc)"; fi
    echo "--- $name: $status; log: $log"
    # The report (access stacks, trimmed to the frames that say what raced) or the tail.
    if [ "$reports" -gt 0 ]; then
      sed -n '/^WARNING: ThreadSanitizer/,/^SUMMARY: ThreadSanitizer/p' "$log" |
        grep -E '^WARNING|^  [A-Z]|#[0-9]+ .*(anywait|/work/|/tests/|/src/)' | grep -v '/rustlib/src/' | head -60
    else
      tail -40 "$log"
    fi
  fi
  seeds=$(grep -o 'ANYWAIT_SEED=[0-9]*' "$log" | sort -u | tr '\n' ' ' || true)
  summary+=("$(printf '%-18s %-16s %4ss  %s %s' "$name" "$status" "$secs" "$result" "${seeds:+ [$seeds]}")")
done

step "summary"
echo "ThreadSanitizer, mode: $mode"
if [ "$mode" = degraded ]; then
  echo "  DEGRADED: force_seq_cst_atomics=1, because src/ has standalone fences TSan cannot"
  echo "  model (memory-ordering bugs are not detected; data races still are):"
  echo "$fences" | sed 's/^/    /'
  echo "  Replace each by an Acquire load of the same atomic to get the strict run back."
elif [ -n "$fences" ]; then
  echo "  strict despite standalone fences in src/ (TSAN_STRICT=1): expect false positives:"
  echo "$fences" | sed 's/^/    /'
fi
printf '  %s\n' "${summary[@]}"
echo "logs: $logs"
if [ "$failed" != 0 ]; then
  echo "tsan: FAILED in $(( $(date +%s) - started ))s"
  exit 1
fi
echo "tsan: passed in $(( $(date +%s) - started ))s"
