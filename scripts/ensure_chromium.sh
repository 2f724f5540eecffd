#!/usr/bin/env bash
# Make sure a headless Chromium exists for the test suite (tests/test_cli_report.py renders the HTML report
# in it: DOM dump and screenshot).
#
# Looks for the binaries the test looks for (chromium, chromium-browser, google-chrome) and apt-installs
# Debian's `chromium` package (plus a font, so text renders) only when none is found. Playwright's browser
# download is not used: it needs hosts other than the package registries.
set -euo pipefail

for name in chromium chromium-browser google-chrome; do
  if path="$(command -v "$name")"; then
    echo "ensure_chromium: found $path"
    exit 0
  fi
done

echo "ensure_chromium: no chromium found: installing the chromium package"
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure_chromium: no apt-get here; install Chromium yourself (the report's browser test skips without it)" >&2
  exit 1
fi
SUDO=()
if [[ "$(id -u)" -ne 0 ]]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "ensure_chromium: need root (or sudo) to apt-get install chromium" >&2
    exit 1
  fi
  SUDO=(sudo)
fi

"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold chromium fonts-dejavu-core

if path="$(command -v chromium)"; then
  echo "ensure_chromium: installed $path"
else
  echo "ensure_chromium: installed chromium, but no chromium executable found" >&2
  exit 1
fi
