#!/usr/bin/env bash
# Installs Debian's Chromium for the browser tests (Playwright drives it; its own browser
# download does not work behind this project's registry-only network). No-op when present.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
    exit 0
fi

# CI runs as root; a developer's machine needs sudo for apt.
if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
else
    SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
