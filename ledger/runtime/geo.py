"""Where a client address is: its country, from an offline IP-geolocation table.

The table is the one `geoip2fast` ships (IPv4 and IPv6, country level: its city tables are not
in the package and are never downloaded). So a scan's place is an ISO 3166-1 alpha-2 country
such as "CN", never a province or a city: the clone rules count distinct countries (and
distinct clients), which is all an address can honestly tell.

Private, loopback, reserved and unlisted addresses have no country (None): they say nothing
about where a phone is, and must not count as a place of their own.
"""

from __future__ import annotations

import ipaddress
import re
import threading
from typing import Any

__all__ = ["Geolocator"]

_COUNTRY = re.compile(r"^[A-Z]{2}$")


class Geolocator:
    """Country of an IP address. The table (~0.2 s to load) is read on first use, once."""

    def __init__(self, data_file: str = "geoip2fast-ipv6.dat.gz") -> None:
        self.data_file = data_file
        self._db: Any = None
        self._lock = threading.Lock()

    def _table(self) -> Any:
        if self._db is None:
            with self._lock:
                if self._db is None:
                    from geoip2fast import GeoIP2Fast

                    self._db = GeoIP2Fast(geoip2fast_data_file=self.data_file, verbose=False)
        return self._db

    def country(self, address: str | None) -> str | None:
        """ISO 3166-1 alpha-2 code, or None for an address with no public location."""
        if not address:
            return None
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return None
        if not ip.is_global:
            return None
        code = getattr(self._table().lookup(str(ip)), "country_code", None)
        return code if isinstance(code, str) and _COUNTRY.match(code) else None
