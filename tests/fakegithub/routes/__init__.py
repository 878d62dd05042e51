"""All routes the fake implements, most specific templates first."""

from __future__ import annotations

from tests.fakegithub.core import Route
from tests.fakegithub.routes import actions, apps, checks, issues, repos


def _literals(route: Route) -> int:
    return sum(1 for seg in route.template.split("/") if seg and not seg.startswith("{"))


ALL_ROUTES: list[Route] = sorted(
    [*apps.routes.items, *repos.routes.items, *actions.routes.items, *checks.routes.items,
     *issues.routes.items], key=lambda r: -_literals(r))
