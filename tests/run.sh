#!/usr/bin/env bash
# The one command that sets up and runs every test on a fresh machine:
#   bash tests/run.sh [pytest args]
# It installs what the tests need if missing (Mosquitto via apt when run as
# root or with sudo; a venv in .venv with the dev extra; MicroPython type
# stubs in typings/), then runs pytest. "No tests ran" is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."

# Mosquitto: the tests start their own private brokers. openssl: the TLS
# test makes its certificates. mdbtools: mdb-export reads Arbin .res files.
# chromium: the dashboard's browser tests drive it through Playwright.
need=""
if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then need="$need mosquitto"; fi
if ! command -v openssl >/dev/null 2>&1; then need="$need openssl"; fi
if ! command -v mdb-export >/dev/null 2>&1; then need="$need mdbtools"; fi
if [ ! -x /usr/bin/chromium ]; then need="$need chromium"; fi
if [ -n "$need" ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  echo "installing:$need"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $need >/dev/null
  # The packaged broker service is not needed.
  $SUDO systemctl disable --now mosquitto >/dev/null 2>&1 || true
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]'

# MicroPython stubs replace the standard library's types, so they live apart
# from the host's environment, one folder per port.
for port in rp2 esp32; do
  if [ ! -f "typings/$port/machine.pyi" ]; then
    .venv/bin/python -m pip install -q --disable-pip-version-check --target "typings/$port" "micropython-$port-stubs"
  fi
done

set +e
# -P: the current folder is not put on sys.path, so a bare `import host` that
# only works from a checkout fails here as it would for an installed wheel.
# -n 2: two pytest-xdist workers (CI has 2 cores; much of a HIL or broker
# test's time is waiting); the longest test starts first (run_first in
# tests/conftest.py). Give -n 0 to run in one process.
.venv/bin/python -P -m pytest -n 2 "$@"
rc=$?
set -e
if [ "$rc" = 5 ]; then
  echo "pytest collected no tests: failing" >&2
  exit 1
fi
exit "$rc"
