#!/usr/bin/env bash
# The whole test suite, as root (the tests build real jails).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec python3 -m pytest -q "$@"
