#!/usr/bin/env bash
# Builds Wukong (release) and runs it on http://127.0.0.1:3000 with an SQLite database in
# ./data. Installs any missing build tool first. Extra arguments go to `wukong`
# (see `target/release/wukong --help`).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

ensure_site_tools
say "building Wukong (release)"
cargo leptos build --release --precompress --split
say "starting Wukong on http://127.0.0.1:3000"
exec target/release/wukong --site-root target/site "$@"
