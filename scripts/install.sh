#!/usr/bin/env bash
# Installs tracejail and what its tests need on a fresh Debian machine (run as root).
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
for pair in libseccomp2:/usr/lib/x86_64-linux-gnu/libseccomp.so.2 gcc:/usr/bin/gcc strace:/usr/bin/strace \
            bubblewrap:/usr/bin/bwrap procps:/bin/ps iproute2:/bin/ip util-linux:/usr/bin/unshare; do
  pkg=${pair%%:*}; file=${pair#*:}
  [ -e "$file" ] || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore -e '.[test]'
