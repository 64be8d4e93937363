#!/usr/bin/env bash
# Install the system packages the integration tests drive for real: a Docker engine, a registry,
# debootstrap (to make a base image without pulling one) and Chromium (browser tests).
# As root on Debian/Ubuntu it installs what is missing; otherwise it only reports.
set -euo pipefail
packages=(docker.io docker-registry debootstrap chromium)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing system packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "note: missing system packages (${missing[*]}): their integration tests will be skipped." >&2
  echo "      install them with: sudo apt-get install ${missing[*]}" >&2
fi
