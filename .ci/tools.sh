#!/usr/bin/env bash
# Debian packages some tests drive for real: kubectl (the Kubernetes source's fake API server
# is checked with it) and Chromium (the web UI is rendered and clicked in it). A fresh machine
# lacks them; install them from Debian's archive, the only package source besides npm.
set -euo pipefail

missing=()
command -v kubectl >/dev/null || missing+=(kubernetes-client)
[ -x /usr/bin/chromium ] || missing+=(chromium)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
