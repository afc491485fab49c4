"""Dependencies of the routes, as `Annotated` aliases.

`get_settings` returns the settings the app was built with; tests may replace it with
`app.dependency_overrides[get_settings] = lambda: other_settings`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from gateway.services import Services
from gateway.settings import GatewaySettings

__all__ = ["ServicesDep", "SettingsDep", "get_services", "get_settings"]


async def get_settings(request: Request) -> GatewaySettings:
    return request.app.state.settings  # type: ignore[no-any-return]


async def get_services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


SettingsDep = Annotated[GatewaySettings, Depends(get_settings)]
ServicesDep = Annotated[Services, Depends(get_services)]
