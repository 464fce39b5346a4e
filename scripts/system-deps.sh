#!/usr/bin/env bash
# Debian packages the test suite needs: dciodvfy (dicom3tools) validates the DICOM we write;
# chromium (with chromium-driver) runs the viewer's browser tests and bench/viewer.py;
# xgettext (gettext) lets tests/test_translations.py extract the marked strings; Noto CJK lets
# the browser tests render Japanese pages as a Japanese user's machine does.
# Installs them when missing and we may (root); otherwise says what to install and fails.
set -euo pipefail

declare -A needed=([dciodvfy]=dicom3tools [chromium]=chromium [chromedriver]=chromium-driver
                   [xgettext]=gettext)
missing=()
for cmd in "${!needed[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${needed[$cmd]}")
done
fc-list 2>/dev/null | grep -q "Noto Sans CJK" || missing+=(fonts-noto-cjk)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "Missing system packages: ${missing[*]}. Install them: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "Installing system packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
