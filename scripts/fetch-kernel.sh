#!/usr/bin/env bash
# Fetch a Linux 7.x kernel with io_uring BPF ops (CONFIG_IO_URING_BPF_OPS=y) for the test VM, and make
# sure the host has QEMU and a static busybox to boot it with.
#
# Asks apt (through the private configuration in scripts/apt-private.sh, which leaves the machine's own
# package set alone) for every version of `linux-image-cloud-amd64` in sid and trixie-backports, newest first;
# follows its dependencies to `linux-binary-<kver>` (usr/lib/modules/<kver>/vmlinuz) and `linux-base-<kver>`
# (the `config` beside it); keeps the first kernel whose config enables IO_URING_BPF_OPS.
#
# Results:
#   .cache/uringbpf/debs/*.deb                      the downloaded packages
#   .cache/uringbpf/kernel/<kver>/{vmlinuz,config}  the extracted kernel
#   .cache/uringbpf/kernel/current -> <kver>        the kernel the VM boots
#
# A fast no-op when `current` already holds a suitable kernel. Options:
#   --refresh     look for a newer kernel even if one is present
#   --no-host     do not check or install host packages (qemu-system-x86, busybox-static)
#   --busybox     only fetch a static busybox for the guest: busybox-static's from sid (a static binary
#                 runs anywhere) extracted into $UBPF_CACHE/vm/busybox; no root needed (`uringbpf vm
#                 setup` calls this when the host has no static busybox)
# Environment: UBPF_CACHE overrides the cache root (default <repo>/.cache/uringbpf).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
UBPF_CACHE="${UBPF_CACHE:-$(cd "$here/.." && pwd)/.cache/uringbpf}"
export UBPF_CACHE
KERNEL_DIR="$UBPF_CACHE/kernel"
DEB_DIR="$UBPF_CACHE/debs"

refresh=0
host=1
busybox_only=0
for arg in "$@"; do
  case "$arg" in
    --refresh) refresh=1 ;;
    --no-host) host=0 ;;
    --busybox) busybox_only=1 ;;
    -h|--help) sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "fetch-kernel: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

log() { echo "fetch-kernel: $*" >&2; }

# --- host packages -------------------------------------------------------------------------------------
install_host_packages() {
  local missing=() p
  for p in qemu-system-x86 busybox-static; do
    if ! dpkg -s "$p" 2>/dev/null | grep -q '^Status: install ok installed'; then missing+=("$p"); fi
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    log "missing host packages: ${missing[*]} (run as root or install them: apt-get install ${missing[*]})"
    return 1
  fi
  log "installing host packages: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

has_bpf_ops() { grep -q '^CONFIG_IO_URING_BPF_OPS=y' "$1" 2>/dev/null; }

kernel_ok() { # DIR
  [ -s "$1/vmlinuz" ] && [ -s "$1/config" ] && has_bpf_ops "$1/config"
}

fetch_kernel() {
  if [ "$refresh" -eq 0 ] && kernel_ok "$KERNEL_DIR/current"; then
    return 0
  fi

  # shellcheck source=apt-private.sh
  source "$here/apt-private.sh"
  apt_private_init

  # Versions of the meta package, each with the kernel image package it depends on, newest first.
  local candidates
  candidates=$(apt_private_cache show linux-image-cloud-amd64 2>/dev/null | awk '
    /^Version:/ { v = $2 }
    /^Depends:/ { if (match($0, /linux-image-[0-9][^ ,]*-cloud-amd64/)) print v, substr($0, RSTART, RLENGTH) }
  ' | sort -u | sort -r -k1,1V)
  # Only 7.x and newer kernels can have io_uring BPF ops; order by Debian version semantics.
  candidates=$(echo "$candidates" | while read -r ver img; do
    [ -n "$ver" ] || continue
    local kver="${img#linux-image-}"
    case "$kver" in [0-6].*) continue ;; esac
    echo "$ver $img"
  done | sort_debian_versions)
  if [ -z "$candidates" ]; then
    log "apt knows no linux-image-cloud-amd64 of version 7 or newer (sid, trixie-backports)"
    return 1
  fi

  local ver img kver deps bin_pkg base_pkg tmp
  while read -r ver img; do
    kver="${img#linux-image-}"
    if kernel_ok "$KERNEL_DIR/$kver"; then
      ln -sfn "$kver" "$KERNEL_DIR/current"
      log "using cached kernel $kver"
      return 0
    fi
    if [ -e "$KERNEL_DIR/$kver/rejected" ]; then continue; fi
    deps=$(apt_private_cache show "$img=$ver" 2>/dev/null | awk '/^Depends:/ { print; exit }')
    bin_pkg=$(grep -oF "linux-binary-${kver}" <<<"$deps" | head -n1 || true)
    base_pkg=$(grep -oF "linux-base-${kver}" <<<"$deps" | head -n1 || true)
    if [ -z "$bin_pkg" ] || [ -z "$base_pkg" ]; then
      log "$img $ver: no linux-binary/linux-base dependency found (Depends: ${deps#Depends: }); skipping"
      continue
    fi
    log "trying $kver ($ver): $bin_pkg, $base_pkg"
    apt_private_download "$DEB_DIR" "$bin_pkg=$ver" "$base_pkg=$ver"
    tmp=$(mktemp -d)
    local deb
    for deb in "$DEB_DIR/${bin_pkg}_"*.deb "$DEB_DIR/${base_pkg}_"*.deb; do
      dpkg-deb -x "$deb" "$tmp"
    done
    local vmlinuz config
    vmlinuz=$(ls "$tmp"/usr/lib/modules/*/vmlinuz "$tmp"/boot/vmlinuz-* 2>/dev/null | head -n1 || true)
    config=$(ls "$tmp"/usr/lib/modules/*/config "$tmp"/boot/config-* 2>/dev/null | head -n1 || true)
    if [ -z "$vmlinuz" ] || [ -z "$config" ]; then
      log "$kver: packages hold no vmlinuz/config (found: '${vmlinuz}' '${config}'); skipping"
      rm -rf "$tmp"; continue
    fi
    mkdir -p "$KERNEL_DIR/$kver"
    if ! has_bpf_ops "$config"; then
      log "$kver: CONFIG_IO_URING_BPF_OPS is not set; trying an older one"
      touch "$KERNEL_DIR/$kver/rejected"
      rm -rf "$tmp"; continue
    fi
    install -m 0644 "$vmlinuz" "$KERNEL_DIR/$kver/vmlinuz"
    install -m 0644 "$config" "$KERNEL_DIR/$kver/config"
    echo "$ver" > "$KERNEL_DIR/$kver/debian-version"
    rm -rf "$tmp"
    ln -sfn "$kver" "$KERNEL_DIR/current"
    log "kernel $kver ready in $KERNEL_DIR/$kver"
    return 0
  done <<<"$candidates"
  log "no candidate kernel has CONFIG_IO_URING_BPF_OPS=y"
  return 1
}

# Reads "VERSION REST" lines and prints them newest Debian version first.
sort_debian_versions() {
  local lines=() line i j tmp
  while read -r line; do [ -n "$line" ] && lines+=("$line"); done
  # insertion sort with dpkg --compare-versions (a handful of lines)
  for ((i = 1; i < ${#lines[@]}; i++)); do
    tmp="${lines[i]}"; j=$((i - 1))
    while ((j >= 0)) && dpkg --compare-versions "${tmp%% *}" gt "${lines[j]%% *}"; do
      lines[j + 1]="${lines[j]}"; j=$((j - 1))
    done
    lines[j + 1]="$tmp"
  done
  [ "${#lines[@]}" -gt 0 ] && printf '%s\n' "${lines[@]}"
  return 0
}

# A static busybox for the guest's initramfs, without root: sid's busybox-static.
fetch_busybox() {
  local out="$UBPF_CACHE/vm/busybox"
  [ -x "$out" ] && { echo "$out"; return 0; }
  # shellcheck source=apt-private.sh
  source "$here/apt-private.sh"
  apt_private_init
  log "downloading busybox-static (sid)"
  apt_private_download "$DEB_DIR" busybox-static 2> >(grep -v unsandboxed >&2)
  local tmp; tmp=$(mktemp -d)
  dpkg-deb -x "$(ls "$DEB_DIR"/busybox-static_*.deb | head -n1)" "$tmp"
  mkdir -p "$(dirname "$out")"
  local bb
  bb=$(ls "$tmp"/usr/bin/busybox "$tmp"/bin/busybox 2>/dev/null | head -n1 || true)
  if [ -z "$bb" ]; then log "busybox-static holds no busybox binary"; rm -rf "$tmp"; return 1; fi
  install -m 0755 "$bb" "$out.tmp"
  mv "$out.tmp" "$out"
  rm -rf "$tmp"
  log "busybox ready in $out"
  echo "$out"
}

if [ "$busybox_only" -eq 1 ]; then fetch_busybox; exit 0; fi
if [ "$host" -eq 1 ]; then install_host_packages; fi
mkdir -p "$KERNEL_DIR"
fetch_kernel
echo "$KERNEL_DIR/$(readlink "$KERNEL_DIR/current" 2>/dev/null || cat "$KERNEL_DIR/current")"
