#!/usr/bin/env bash
# Checks that Wukong's VM flows work on a cluster with KubeVirt and CDI, and prints one row
# per flow, PASS or FAIL. The flows are the tests in server/tests/api/clustercheck.rs, run
# through cargo-nextest with Wukong's own cluster code against the cluster the kubeconfig
# names. Each works in a namespace of its own (labelled wukong.io/project=wukong-cluster-check)
# and deletes it. Exits 0 when every flow passed, 1 when one failed, 2 on bad usage.
#
# Usage: scripts/cluster-check.sh --kubeconfig FILE [--wait SECONDS] [--image-url URL] [--jobs N]
#   --wait       how long each step may take (default 600: image pulls and imports are slow)
#   --image-url  the disk image the URL import fetches (default: CirrOS 0.6.2)
#   --jobs       flows run at once (default 2; each running VM needs its memory on a node)
set -uo pipefail
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

usage() {
  sed -n '2,/^set /p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
}

KUBECONFIG_FILE="" JOBS=2
while [ $# -gt 0 ]; do
  case "$1" in
    --kubeconfig) KUBECONFIG_FILE="${2:-}"; shift 2 || usage ;;
    --wait) export WUKONG_CHECK_WAIT_SECS="${2:-}"; shift 2 || usage ;;
    --image-url) export WUKONG_CHECK_IMAGE_URL="${2:-}"; shift 2 || usage ;;
    --jobs) JOBS="${2:-}"; shift 2 || usage ;;
    *) usage ;;
  esac
done
[ -f "$KUBECONFIG_FILE" ] || usage
export WUKONG_CHECK_KUBECONFIG
WUKONG_CHECK_KUBECONFIG="$(realpath "$KUBECONFIG_FILE")"

ensure_cargo_nextest >&2 || exit 2
JUNIT="$REPO_ROOT/target/nextest/cluster-check/junit.xml"
LOG="$(mktemp /tmp/wukong-cluster-check.XXXXXX)"
rm -f "$JUNIT"
say "running the flows against $WUKONG_CHECK_KUBECONFIG (log: $LOG)"
cargo nextest run -p server --profile cluster-check --test-threads "$JOBS" \
  -E 'binary_id(server::api) & test(/^clustercheck::/)' >"$LOG" 2>&1

# Namespaces a flow ended before it could delete them.
if command -v kubectl >/dev/null; then
  kubectl --kubeconfig "$WUKONG_CHECK_KUBECONFIG" delete namespace --wait=false \
    -l wukong.io/project=wukong-cluster-check >/dev/null 2>&1
fi

python3 - "$JUNIT" "$LOG" <<'PY'
import sys
import xml.etree.ElementTree as ET

# Test name (in server/tests/api/clustercheck.rs) and the row it makes, in the table's order.
ROWS = [
    ("connect_and_discovery", "connect/discovery"),
    ("rbac_check", "RBAC check"),
    ("create_from_container_disk", "create from container disk"),
    ("start_until_running", "start -> Running"),
    ("pause_and_unpause", "pause/unpause"),
    ("restart", "restart"),
    ("stop", "stop"),
    ("create_from_url_import", "create from URL import (DataVolume Succeeded)"),
    ("delete_keeping_disks", "delete keeping disks"),
    ("delete_with_disks", "delete with disks"),
    ("watch_events_reach_the_live_store", "watch events reach the live store"),
]

def reason(case):
    """The panic message of a failed test, on one line."""
    for kind in ("failure", "error"):
        found = case.find(kind)
        if found is None:
            continue
        text = "\n".join(filter(None, [found.text, (case.findtext("system-err") or "")]))
        lines = text.splitlines()
        for index, line in enumerate(lines):
            if "panicked at" in line and index + 1 < len(lines):
                return lines[index + 1].strip()[:160]
        return (found.get("message") or "failed").strip()[:160]
    return ""

junit, log = sys.argv[1], sys.argv[2]
outcomes = {}
try:
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = case.get("name", "").removeprefix("clustercheck::")
        outcomes[name] = reason(case) or None
except (OSError, ET.ParseError):
    pass

width = max(len(label) for _, label in ROWS)
print(f"{'FLOW':<{width}}  RESULT")
failed = 0
for name, label in ROWS:
    if name not in outcomes:
        failed += 1
        print(f"{label:<{width}}  NOT RUN")
    elif outcomes[name] is None:
        print(f"{label:<{width}}  PASS")
    else:
        failed += 1
        print(f"{label:<{width}}  FAIL  {outcomes[name]}")
print(f"{len(ROWS) - failed} of {len(ROWS)} flows passed (log: {log})")
sys.exit(1 if failed else 0)
PY
