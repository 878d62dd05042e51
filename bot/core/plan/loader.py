"""Config text → plan: the `plan:` section through bot.core.config (one YAML reader)."""

from __future__ import annotations

from bot.core.plan.model import Plan


def plan_from_text(text: str, source: str = ".github/ci-truth.yml",
                   ) -> tuple[Plan | None, list[str]]:
    """(plan or None when there is no `plan:` section, configured signature names).

    Raises ConfigError (ConfigErrors: every problem, the first as the headline).
    """
    from bot.core.config import parse_config  # config imports bot.core.plan lazily too

    config = parse_config(text, source=source)
    plan = config.plan if isinstance(config.plan, Plan) else None
    return plan, list(config.signatures)
