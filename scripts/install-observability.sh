#!/usr/bin/env bash
# Installs Prometheus and Alertmanager from Debian's packages, once (idempotent): the tests that
# need a real scraper and a real alert router use them, and promtool and amtool (same packages)
# check the deploy files. Nothing is started here.
set -euo pipefail
if command -v prometheus >/dev/null && command -v prometheus-alertmanager >/dev/null \
  && command -v promtool >/dev/null && command -v amtool >/dev/null; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
else
  SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends prometheus prometheus-alertmanager >/dev/null
# Debian's packages start nothing without systemd, but be sure no service holds the ports.
pkill -x prometheus 2>/dev/null || true
pkill -x prometheus-alertmanager 2>/dev/null || true
command -v prometheus >/dev/null && command -v prometheus-alertmanager >/dev/null && command -v amtool >/dev/null
