#!/usr/bin/env bash
# Installs the Debian packages the test suite needs and nothing installs otherwise:
# Chromium for the browser tests (Playwright drives it; its own browser download does not work
# behind this project's registry-only network), PostgreSQL for the served-stack test (the
# topology of docker-compose.yml run natively: no Docker engine runs on the build machines) and
# docker-compose (v1) to validate docker-compose.yml offline. Only what is missing is installed.
set -euo pipefail

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
command -v docker-compose >/dev/null || missing+=(docker-compose)
if [ ${#missing[@]} -eq 0 ]; then
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
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
