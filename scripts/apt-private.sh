#!/usr/bin/env bash
# Private apt configuration for fetching packages from other Debian suites (bookworm-backports, unstable,
# trixie-backports) without touching the machine's own package set. The mirror is taken from the machine's
# own apt sources, so no archive host name is written in this repository.
#
# Source this file, then call:
#   apt_private_init            # writes sources, runs `apt-get update` against them (once a day at most)
#   apt_private get-cmd ARGS    # runs apt-get with the private configuration
#   apt_private_download DIR PKG[=VER]...   # downloads .deb files into DIR (cached)
#   apt_private_cache_policy PKG
set -euo pipefail

UBPF_CACHE="${UBPF_CACHE:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.cache/uringbpf}"
APT_DIR="$UBPF_CACHE/apt"

# The Debian mirror URI the machine already uses for its bookworm suites.
apt_mirror_uri() {
  local uri=""
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -e "$f" ] || continue
    # deb822: take the URIs line of a stanza whose Suites mention bookworm (not -security)
    uri=$(awk 'BEGIN{RS=""} /Suites:[^\n]*bookworm( |$|-updates)/ && !/security/ { if (match($0, /URIs:[ \t]*[^ \t\n]+/)) { s=substr($0, RSTART, RLENGTH); sub(/URIs:[ \t]*/, "", s); print s; exit } }' "$f")
    [ -n "$uri" ] && break
  done
  if [ -z "$uri" ] && [ -e /etc/apt/sources.list ]; then
    uri=$(awk '$1=="deb" && $0 ~ / bookworm / && $0 !~ /security/ { for (i=2;i<=NF;i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' /etc/apt/sources.list)
  fi
  if [ -z "$uri" ]; then
    echo "uringbpf: cannot find a Debian mirror for bookworm in /etc/apt/sources.list(.d)" >&2
    return 1
  fi
  echo "${uri%/}"
}

apt_private_opts() {
  echo "-o Dir::Etc::SourceList=$APT_DIR/sources.list -o Dir::Etc::SourceParts=/dev/null" \
       "-o Dir::State::Lists=$APT_DIR/lists -o Dir::Cache=$APT_DIR/cache" \
       "-o Dir::State::status=$APT_DIR/status -o Debug::NoLocking=1" \
       "-o APT::Architecture=amd64 -o Acquire::Languages=none -o Acquire::Check-Valid-Until=false"
}

apt_private() {
  # shellcheck disable=SC2046
  apt-get $(apt_private_opts) "$@"
}

apt_private_cache() {
  # shellcheck disable=SC2046
  apt-cache $(apt_private_opts) "$@"
}

apt_private_init() {
  mkdir -p "$APT_DIR/lists/partial" "$APT_DIR/cache/archives/partial"
  touch "$APT_DIR/status"
  local mirror; mirror=$(apt_mirror_uri)
  local want="deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror bookworm-backports main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie-backports main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror sid main"
  local stamp="$APT_DIR/updated"
  if [ "$(cat "$APT_DIR/sources.list" 2>/dev/null)" != "$want" ] || [ ! -e "$stamp" ] || \
     [ -n "$(find "$stamp" -mmin +1440 2>/dev/null)" ]; then
    printf '%s\n' "$want" > "$APT_DIR/sources.list"
    echo "uringbpf: updating private apt lists (bookworm-backports, trixie-backports, sid)" >&2
    if ! apt_private update -qq >"$APT_DIR/update.log" 2>&1; then
      # Newer suites may be signed with keys bookworm's keyring lacks; retry trusting the mirror's lists.
      sed -i 's/\[signed-by=[^]]*\]/[trusted=yes]/' "$APT_DIR/sources.list"
      apt_private update -qq >"$APT_DIR/update.log" 2>&1 || { cat "$APT_DIR/update.log" >&2; return 1; }
    fi
    touch "$stamp"
  fi
}

# apt_private_download DIR PKG[=VER]... : download each package's .deb into DIR unless present.
apt_private_download() {
  local dir="$1"; shift
  mkdir -p "$dir"
  local p name ver
  for p in "$@"; do
    name="${p%%=*}"
    if ls "$dir/${name}_"*.deb >/dev/null 2>&1; then continue; fi
    (cd "$dir" && apt_private download -qq "$p" >/dev/null) || { echo "uringbpf: cannot download $p" >&2; return 1; }
  done
}
