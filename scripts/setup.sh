#!/usr/bin/env bash
# Installs the system libraries vae-dist links against and builds the release binary. Safe to run again.
# --with-browser also installs Chromium, for scripts/check-report-browser.sh (report.html in a real browser).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(libopenmpi-dev openmpi-bin libopenblas-dev libpng-dev libjpeg-dev libturbojpeg0-dev libcairo2-dev fonts-dejavu-core pkg-config iproute2)
for argument in "$@"; do
    case "$argument" in
        --with-browser) packages+=(chromium) ;;
        *) echo "setup: unknown option $argument (known: --with-browser)" >&2; exit 64 ;;
    esac
done
missing=()
for p in "${packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi

swift build -c release --product vae-dist
echo "setup: built $(swift build -c release --show-bin-path)/vae-dist"
