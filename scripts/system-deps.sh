#!/usr/bin/env bash
# Installs the Debian packages the tests need, only if they are missing.
set -euo pipefail

packages=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || packages+=(postgresql)
command -v exiftool >/dev/null 2>&1 || packages+=(libimage-exiftool-perl)
# ffprobe: the Reels spec check before a reel enters review.
command -v ffprobe >/dev/null 2>&1 || packages+=(ffmpeg)
# The web UI's browser tests (Playwright drives Debian's chromium; no browser download).
command -v chromium >/dev/null 2>&1 || packages+=(chromium)

if [ ${#packages[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
  sudo=""
elif command -v sudo >/dev/null; then
  sudo="sudo"
else
  echo "system-deps: please install: ${packages[*]} (apt-get install ${packages[*]})" >&2
  exit 2
fi
echo "system-deps: installing ${packages[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
# Debian's package may start a cluster of its own; the tests start their own throwaway one.
