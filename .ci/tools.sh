#!/usr/bin/env bash
# Debian packages some tests drive for real: kubectl (the Kubernetes source's fake API server
# is checked with it), Chromium (the web UI is rendered and clicked in it) and setpriv from
# util-linux (crwatch runs without the capabilities that let root read a chmod 000
# directory, test/e2e/unreadable-dir.test.ts). A fresh machine
# lacks them; install them from Debian's archive, the only package source besides npm.
set -euo pipefail

missing=()
command -v kubectl >/dev/null || missing+=(kubernetes-client)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v setpriv >/dev/null || missing+=(util-linux)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
