# Shared helpers for the set-up, run and test scripts. Sourced, not run.

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CARGO_LEPTOS_VERSION="0.3.10"
CARGO_NEXTEST_VERSION="0.9.151"
export PATH="$HOME/.cargo/bin:$PATH"
# Tools that would fetch their own binaries must not: only package registries are reachable.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

APT_UPDATED=""
apt_install() {
  if [ -z "$APT_UPDATED" ]; then
    as_root apt-get update -qq
    APT_UPDATED=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# The wasm-bindgen version Cargo.lock pins; the CLI must match it exactly.
wasm_bindgen_version() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3; exit }' "$REPO_ROOT/Cargo.lock"
}

ensure_wasm_target() {
  rustup target list --installed | grep -qx wasm32-unknown-unknown && return
  say "installing the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
}

ensure_cargo_leptos() {
  if cargo leptos --version 2>/dev/null | grep -q " $CARGO_LEPTOS_VERSION\$"; then return; fi
  say "building cargo-leptos $CARGO_LEPTOS_VERSION (no_downloads; about 20 minutes on 2 cores)"
  cargo install cargo-leptos --version "$CARGO_LEPTOS_VERSION" --locked --features no_downloads
}

# The test runner: every test in its own process, with a deadline (.config/nextest.toml).
# Built without the self-update feature, so it never fetches anything of its own.
ensure_cargo_nextest() {
  if cargo nextest --version 2>/dev/null | grep -q "^cargo-nextest $CARGO_NEXTEST_VERSION "; then return; fi
  say "building cargo-nextest $CARGO_NEXTEST_VERSION (about 15 CPU-minutes)"
  cargo install cargo-nextest --version "$CARGO_NEXTEST_VERSION" --locked \
    --no-default-features --features default-no-update
}

ensure_wasm_bindgen() {
  local version
  version="$(wasm_bindgen_version)"
  if wasm-bindgen --version 2>/dev/null | grep -q " $version\$"; then return; fi
  say "building wasm-bindgen-cli $version (about 7 minutes)"
  # Without --locked: one of its locked dependency versions is no longer in the registry.
  cargo install wasm-bindgen-cli --version "$version" --force
}

# npm packages of one folder, installed exactly as its lock file says.
ensure_npm() {
  local dir="$1"
  local stamp="$dir/node_modules/.installed-from-lock"
  if cmp -s "$dir/package-lock.json" "$stamp"; then
    return
  fi
  say "installing npm packages in ${dir#"$REPO_ROOT"/}"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) && cp "$dir/package-lock.json" "$stamp"
}

# wasm-opt, which cargo-leptos runs on release builds, from npm's binaryen.
ensure_wasm_opt() {
  ensure_npm "$REPO_ROOT/scripts"
  export PATH="$REPO_ROOT/scripts/node_modules/.bin:$PATH"
}

ensure_chromium() {
  command -v chromium >/dev/null && return
  say "installing Debian's chromium"
  apt_install chromium
}

# oathtool plays the authenticator app in tests: an independent TOTP implementation.
ensure_oathtool() {
  command -v oathtool >/dev/null && return
  say "installing Debian's oathtool"
  apt_install oathtool
}

postgres_bin() {
  local initdb
  initdb="$(ls -1d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1)"
  [ -n "$initdb" ] && dirname "$initdb"
}

ensure_postgres() {
  [ -n "$(postgres_bin)" ] && return
  say "installing Debian's PostgreSQL"
  apt_install postgresql
}

# The browser consoles' libraries (noVNC, xterm.js), from scripts/package.json into the
# site's assets (public/console-assets, git-ignored), so that they are served from Wukong's own
# origin like the rest of the site. Copied again only when the lock file changed.
ensure_console_assets() {
  ensure_npm "$REPO_ROOT/scripts"
  local from="$REPO_ROOT/scripts/node_modules" to="$REPO_ROOT/public/console-assets"
  # The stamp stays out of the site, which would serve it.
  local stamp="$from/.console-assets-from-lock"
  if [ -d "$to" ] && cmp -s "$REPO_ROOT/scripts/package-lock.json" "$stamp"; then
    return
  fi
  say "copying noVNC and xterm.js into public/console-assets"
  rm -rf "$to"
  mkdir -p "$to/novnc" "$to/xterm"
  cp -R "$from/@novnc/novnc/core" "$from/@novnc/novnc/vendor" "$from/@novnc/novnc/LICENSE.txt" "$to/novnc/"
  cp "$from/@xterm/xterm/lib/xterm.mjs" "$from/@xterm/xterm/css/xterm.css" "$to/xterm/"
  cp "$from/@xterm/xterm/LICENSE" "$to/xterm/LICENSE"
  cp "$from/@xterm/addon-fit/lib/addon-fit.mjs" "$to/xterm/"
  cp "$REPO_ROOT/scripts/package-lock.json" "$stamp"
}

# Everything `cargo leptos` needs to build the site.
ensure_site_tools() {
  ensure_wasm_target
  ensure_wasm_bindgen
  ensure_cargo_leptos
  ensure_wasm_opt
  ensure_console_assets
}

# The real Kubernetes control plane the cluster tests run against (end2end/controlplane):
# built with the machine's Go from the module proxy, once; later builds come from Go's build
# cache in seconds. The version flags make `kubectl version` see the release it is.
ensure_controlplane() {
  command -v go >/dev/null || { echo "Go is not installed" >&2; return 1; }
  local dir="$REPO_ROOT/end2end/controlplane" version
  version="$(cd "$dir" && go list -m -f '{{.Version}}' k8s.io/kubernetes)" || return 1
  local minor="${version#v1.}"
  minor="${minor%%.*}"
  say "building the test control plane (Kubernetes $version; about 5 minutes the first time)"
  (cd "$dir" && go build -o "$REPO_ROOT/target/controlplane/controlplane" -ldflags "\
    -X k8s.io/component-base/version.gitVersion=$version \
    -X k8s.io/component-base/version.gitMajor=1 \
    -X k8s.io/component-base/version.gitMinor=$minor" .) || return 1
  export WUKONG_CONTROLPLANE="$REPO_ROOT/target/controlplane/controlplane"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
