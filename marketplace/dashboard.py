"""The landing page's dashboard panels, one registry for every app.

The project package imports none of the apps, so the apps that hold the figures (scheduling's
bookings, billing's money, notifications) register their panels here in ``AppConfig.ready()``; the
home view renders the panels for the roles the signed-in user has, in ``order``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from django.http import HttpRequest

Role = Literal["renter", "owner", "everyone"]  # "everyone": every signed-in user, once
Builder = Callable[[HttpRequest], dict[str, Any]]


@dataclass(frozen=True)
class Panel:
    role: Role
    order: int
    template: str  # rendered with the builder's dict as ``panel``
    build: Builder


_panels: dict[str, Panel] = {}


def register_panel(name: str, *, role: Role, order: int, template: str, build: Builder) -> None:
    """Add (or replace, by ``name``: ``ready()`` may run twice) one panel of a role's dashboard."""
    _panels[name] = Panel(role, order, template, build)


def roles_of(user: Any) -> list[Role]:
    roles: list[Role] = []
    if getattr(user, "is_renter", False):
        roles.append("renter")
    if getattr(user, "is_owner", False):
        roles.append("owner")
    return roles


def panels_for(request: HttpRequest, role: Role) -> list[dict[str, Any]]:
    """The role's panels, built for this request: ``[{"template": ..., "panel": {...}}]``."""
    chosen = sorted((p for p in _panels.values() if p.role == role), key=lambda p: p.order)
    return [{"template": p.template, "panel": p.build(request)} for p in chosen]
