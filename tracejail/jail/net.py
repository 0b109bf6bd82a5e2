"""Network namespace: only 'lo' exists; it stays down unless --iface_lo asks for it.

pyroute2 is imported only when lo is brought up (it costs start-up time)."""
from __future__ import annotations

from tracejail.errors import SetupError


def lo_up() -> None:
    try:
        from pyroute2 import IPRoute
        with IPRoute() as ip:
            idx = ip.link_lookup(ifname="lo")
            if not idx:
                raise SetupError("no 'lo' interface in the jail's network namespace")
            ip.link("set", index=idx[0], state="up")
    except SetupError:
        raise
    except Exception as e:  # pyroute2 raises its own NetlinkError types
        raise SetupError(f"bringing up lo: {e}") from None
