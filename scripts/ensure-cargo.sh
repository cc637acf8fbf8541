#!/usr/bin/env bash
# scripts/ensure-cargo.sh: print the folder holding a Rust `cargo` (for native/, the compiled hot loops,
# built when the venv is synced), installing a toolchain when none exists: cargo on PATH, else
# ~/.cargo/bin (rustup's place, often missing from a non-login PATH), else rustup's minimal stable
# toolchain (with rustfmt and clippy for `make lint`) from static.rust-lang.org into ~/.cargo. The
# linker is the system C compiler (Debian's gcc, installed when missing).
set -euo pipefail
# shellcheck source=scripts/_lib.sh
. "$(dirname "$0")/_lib.sh"

command -v cc > /dev/null || apt_install gcc libc6-dev

if command -v cargo > /dev/null 2>&1 && cargo --version > /dev/null 2>&1; then
  dirname "$(command -v cargo)"
  exit 0
fi
CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"
if [ -x "$CARGO_BIN/cargo" ] && "$CARGO_BIN/cargo" --version > /dev/null 2>&1; then
  echo "$CARGO_BIN"
  exit 0
fi

log "cargo not found; installing Rust (rustup, minimal stable toolchain)"
arch="$(uname -m)-unknown-linux-gnu"
init="$(mktemp)"
trap 'rm -f "$init"' EXIT
curl --proto '=https' --tlsv1.2 -fsSL -o "$init" "https://static.rust-lang.org/rustup/dist/$arch/rustup-init" \
  || die "could not download rustup-init for $arch"
chmod +x "$init"
"$init" -y -q --no-modify-path --profile minimal --default-toolchain stable -c rustfmt -c clippy >&2
[ -x "$CARGO_BIN/cargo" ] || die "rustup did not install cargo into $CARGO_BIN"
echo "$CARGO_BIN"
