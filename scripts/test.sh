#!/usr/bin/env bash
# Runs every check and test suite of Wukong, installing any missing tool first:
# formatting, clippy per package, the WASM dependency guard, the Rust tests on SQLite and
# again (those that use the database) on a private PostgreSQL, the release site and its
# size budget, and the browser tests in Debian's Chromium. The Rust tests run under
# cargo-nextest: each test in its own process, ended and named as a failure when it
# outlives its deadline (.config/nextest.toml).
# Every suite runs even when an earlier one fails; the last line is `N passed, N failed`.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

PASSED=0
FAILED=0
LOGS="$(mktemp -d /tmp/wukong-test.XXXXXX)"
PG_DIR=""

summary() {
  echo "$PASSED passed, $FAILED failed"
}

fail_setup() {
  say "set-up failed: $*"
  FAILED=$((FAILED + 1))
  summary
  exit 1
}

# A check that passes or fails as a whole: counts as one test.
check() {
  local name="$1"
  shift
  say "$name"
  if "$@" >"$LOGS/check.log" 2>&1; then
    PASSED=$((PASSED + 1))
  else
    FAILED=$((FAILED + 1))
    echo "FAILED: $name" >&2
    tail -n 60 "$LOGS/check.log" >&2
  fi
}

# What a Rust test run reported, as `passed failed`: nextest's last `Summary` line when there
# is one (timed-out and unstartable tests count as failed), else the sum of libtest's
# `test result:` lines (cargo test).
rust_test_counts() {
  python3 - "$1" <<'PY'
import re, sys

text = re.sub(r"\x1b\[[0-9;]*m", "", open(sys.argv[1], errors="replace").read())
passed = failed = 0
summaries = re.findall(r"^ *Summary \[[^]]*\] [^:]*: (.*)$", text, re.M)
if summaries:
    # e.g. "5 passed (1 slow, 1 leaky), 2 failed, 1 exec failed, 1 timed out, 2 skipped"
    outcomes = re.sub(r"\([^)]*\)", "", summaries[-1])
    for count, outcome in re.findall(r"(\d+) ([a-z][a-z ]*[a-z])", outcomes):
        if outcome == "passed":
            passed += int(count)
        elif outcome in ("failed", "exec failed", "timed out"):
            failed += int(count)
else:
    for ok, bad in re.findall(r"^test result: .*? (\d+) passed; (\d+) failed", text, re.M):
        passed += int(ok)
        failed += int(bad)
print(passed, failed)
PY
}

# A Rust test run (cargo nextest or cargo test): adds up what it reported; a run that fails
# without reporting a failed test (a build error, a crash) counts as one failure.
cargo_tests() {
  local name="$1" log="$LOGS/$2.log"
  shift 2
  say "$name"
  "$@" 2>&1 | tee "$log"
  local status=${PIPESTATUS[0]}
  local counts
  counts="$(rust_test_counts "$log")" || counts="0 0"
  local passed="${counts% *}" failed="${counts#* }"
  if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
  PASSED=$((PASSED + passed))
  FAILED=$((FAILED + failed))
}

# The test deadline works: the test that hangs on purpose is ended and named, and the run
# fails (nextest's deadline-check profile ends it after two seconds; `timeout` ends a run
# whose deadline did not work).
deadline_ends_a_hung_test() {
  local output
  # The same packages as the SQLite run, so that nothing is rebuilt; the build is outside
  # the `timeout`, which is only for a deadline that did not work.
  local run=(cargo nextest run -p server -p app -p simcluster --profile deadline-check --run-ignored only)
  "${run[@]}" --no-run || return 1
  if output="$(timeout 120 "${run[@]}" 2>&1)"; then
    echo "$output"
    echo "the run passed: the hanging test was not ended"
    return 1
  fi
  if ! grep -Eq 'TIMEOUT .*deadline::hangs_until_the_runner_ends_it' <<<"$output"; then
    echo "$output"
    echo "no TIMEOUT line names the hanging test"
    return 1
  fi
}

go_checks() {
  local unformatted
  unformatted="$(cd end2end/controlplane && gofmt -l .)" || return 1
  if [ -n "$unformatted" ]; then
    echo "not gofmt-formatted: $unformatted"
    return 1
  fi
  (cd end2end/controlplane && go vet .)
}

# scripts/cluster-check.sh against the real control plane with the KubeVirt stand-in (both
# started here as processes, as on any cluster): each row of its table counts as a test, and
# a table that lacks a row, or an exit status that disagrees with it, as one failure more.
cluster_check_on_the_control_plane() {
  say "scripts/cluster-check.sh on the control plane with the KubeVirt stand-in"
  local dir plane standin hold kubeconfig="" output status
  dir="$(mktemp -d /tmp/wukong-cluster-check.XXXXXX)"
  mkfifo "$dir/stdin"
  # The control plane runs while its stdin is open: `hold` keeps it so.
  "$WUKONG_CONTROLPLANE" --dir "$dir/plane" --crds end2end/controlplane/crds.json \
    <"$dir/stdin" >"$dir/ready.json" 2>"$dir/plane.log" &
  plane=$!
  exec {hold}>"$dir/stdin"
  for _ in $(seq 150); do
    kubeconfig="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["kubeconfig"])' \
      "$dir/ready.json" 2>/dev/null)" && break
    sleep 1
  done
  if [ -z "$kubeconfig" ]; then
    echo "FAILED: the control plane did not start" >&2
    cat "$dir/plane.log" >&2
    FAILED=$((FAILED + 1))
    exec {hold}>&-
    wait "$plane"
    return
  fi
  cargo build -q -p simcluster --bin simcluster
  target/debug/simcluster standin --kubeconfig "$kubeconfig" --transition-ms 200 \
    >"$dir/standin.log" 2>&1 {hold}>&- &
  standin=$!
  for _ in $(seq 60); do
    grep -q "KubeVirt stand-in at" "$dir/standin.log" && break
    sleep 1
  done
  output="$(scripts/cluster-check.sh --kubeconfig "$kubeconfig" --wait 60 {hold}>&-)"
  status=$?
  echo "$output"
  kill "$standin" 2>/dev/null
  wait "$standin" 2>/dev/null
  exec {hold}>&-
  wait "$plane"
  local passed failed rows
  passed="$(grep -c '  PASS$' <<<"$output")"
  failed="$(grep -Ec '  (FAIL|NOT RUN)' <<<"$output")"
  rows=$((passed + failed))
  PASSED=$((PASSED + passed))
  FAILED=$((FAILED + failed))
  if [ "$rows" -ne 11 ] || { [ "$failed" -eq 0 ] && [ "$status" -ne 0 ]; } ||
    { [ "$failed" -ne 0 ] && [ "$status" -eq 0 ]; }; then
    echo "FAILED: the table has $rows rows (11 expected) and the script exited with $status" >&2
    FAILED=$((FAILED + 1))
  fi
  rm -rf "$dir"
}

# The crates that must never reach the browser bundle.
wasm_tree_is_clean() {
  local tree
  tree="$(cargo tree -p frontend --target wasm32-unknown-unknown -e normal --prefix none)" || return 1
  if grep -E '^(tokio|mio|sqlx[a-z_-]*|hyper[a-z_-]*|axum[a-z_-]*|kube[a-z_-]*) ' <<<"$tree"; then
    echo "server-only crates in the WASM dependency tree (above)"
    return 1
  fi
}

start_postgres() {
  local bin port
  bin="$(postgres_bin)"
  port="$(free_port)"
  PG_DIR="$(mktemp -d /tmp/wukong-pg.XXXXXX)"
  # PostgreSQL refuses to run as root; its own system user runs the private cluster.
  local run=()
  if [ "$(id -u)" = 0 ]; then
    chown postgres: "$PG_DIR"
    run=(runuser -u postgres --)
  fi
  # From inside its own directory: the checkout may be one the postgres user cannot enter.
  (
    cd "$PG_DIR" &&
      "${run[@]}" "$bin/initdb" -D "$PG_DIR/data" -U wukong --auth=trust -E UTF8 >"$LOGS/initdb.log" 2>&1 &&
      "${run[@]}" "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
        -o "-h 127.0.0.1 -p $port -k $PG_DIR -c fsync=off -c max_connections=300" start >/dev/null
  ) || return 1
  export WUKONG_TEST_POSTGRES="postgres://wukong@127.0.0.1:$port"
}

stop_postgres() {
  [ -n "$PG_DIR" ] || return 0
  local run=()
  [ "$(id -u)" = 0 ] && run=(runuser -u postgres --)
  (cd "$PG_DIR" && "${run[@]}" "$(postgres_bin)/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1)
  rm -rf "$PG_DIR"
  PG_DIR=""
}
trap stop_postgres EXIT

playwright_tests() {
  local report="$REPO_ROOT/end2end/test-results/report.json"
  rm -f "$report"
  say "browser tests (Playwright, Debian chromium)"
  (cd end2end && npx playwright test)
  local status=$?
  local counts
  counts="$(python3 - "$report" <<'PY'
import json, sys
try:
    stats = json.load(open(sys.argv[1]))["stats"]
    print(stats.get("expected", 0), stats.get("unexpected", 0) + stats.get("flaky", 0))
except (OSError, ValueError, KeyError):
    print(0, 0)
PY
)"
  local passed="${counts% *}" failed="${counts#* }"
  if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
  PASSED=$((PASSED + passed))
  FAILED=$((FAILED + failed))
}

say "checking tools"
ensure_site_tools || fail_setup "build tools"
ensure_chromium || fail_setup "chromium"
ensure_cargo_nextest || fail_setup "cargo-nextest"
ensure_postgres || fail_setup "PostgreSQL"
ensure_oathtool || fail_setup "oathtool"
ensure_npm "$REPO_ROOT/end2end" || fail_setup "npm packages for the browser tests"
ensure_controlplane || fail_setup "the test control plane"

check "cargo fmt --check" cargo fmt --all --check
check "gofmt and go vet: end2end/controlplane" go_checks
# With `app`'s unit tests: selected beside `server`, `app` gets `ssr` from it and every
# dependency is the build `server` uses (`-p app --features ssr` alone resolves features
# differently and rebuilds 44 crates).
# Without the cluster check, which runs below through its script on one control plane.
cargo_tests "Rust tests on SQLite, app's unit tests and the simulated cluster's tests" sqlite \
  cargo nextest run -p server -p app -p simcluster --profile ci -E 'not test(/^clustercheck::/)'
cluster_check_on_the_control_plane
check "the test deadline ends a hung test and names it" deadline_ends_a_hung_test
if start_postgres; then
  # The integration tests less the modules that never open the application's database
  # (server/tests/api/main.rs), but with the binary's own PostgreSQL test.
  cargo_tests "Rust tests on PostgreSQL" postgres cargo nextest run -p server -p app -p simcluster --profile ci \
    --run-ignored all -E 'binary_id(server::api) & (not test(/^(cli|clustercheck|controlplane|quota_mirror|vms)::/) | test(/^cli::with_postgresql/))'
  stop_postgres
else
  echo "FAILED: could not start PostgreSQL" >&2
  cat "$LOGS/initdb.log" >&2
  FAILED=$((FAILED + 1))
fi
check "clippy: server" cargo clippy -p server --all-targets -- -D warnings
check "clippy: simcluster" cargo clippy -p simcluster --all-targets -- -D warnings
check "clippy: app (ssr)" cargo clippy -p app --features ssr -- -D warnings
check "clippy: app (hydrate, wasm32)" cargo clippy -p app --features hydrate --target wasm32-unknown-unknown -- -D warnings
check "clippy: frontend (wasm32)" cargo clippy -p frontend --target wasm32-unknown-unknown -- -D warnings
check "no server crates in the WASM dependency tree" wasm_tree_is_clean
# The server binary is the one `cargo test` just built; cargo-leptos builds the release site,
# with the brotli and gzip copies it is served as, and the browser tests run on it.
check "build the release site (cargo leptos build --release --precompress --split)" \
  cargo leptos build --release --frontend-only --precompress --split
check "the initial route's JS and WASM are within the size budget" \
  node scripts/bundle-size.mjs target/site --check
playwright_tests

summary
[ "$FAILED" -eq 0 ]
