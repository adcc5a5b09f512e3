#!/usr/bin/env bash
# Make sure a Chromium for the browser tests exists (Debian's package; never a download
# of a browser build of its own), with a font for Chinese, so the Chinese pages and their
# screenshots show characters rather than empty boxes.
set -euo pipefail
have_chromium=0
for c in "${CHROMIUM:-}" /usr/bin/chromium /usr/bin/chromium-browser; do
  if [ -n "$c" ] && [ -x "$c" ]; then have_chromium=1; fi
done
have_cjk=0
if command -v fc-list >/dev/null 2>&1 && [ -n "$(fc-list :lang=zh 2>/dev/null)" ]; then
  have_cjk=1
fi
if [ "$have_chromium" = 1 ] && [ "$have_cjk" = 1 ]; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing chromium and fonts-noto-cjk (Debian packages) for the browser tests" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq chromium fonts-noto-cjk) >/dev/null
  exit 0
fi
[ "$have_chromium" = 1 ]
