"""The researcher's system prompt (a file in the package) and its starting directions."""

from __future__ import annotations

from importlib import resources

from agents.settings import AarSettings

BRIEF = "Begin. Read data/TASK.md, then work on your direction; share what you find on the forum."


def system_prompt(settings: AarSettings, *, agent_id: str, n_agents: int, direction: str) -> str:
    """The system prompt of one agent: task, tools, forum, budget, rules, its direction."""
    template = resources.files("agents.prompts").joinpath("researcher.md").read_text(encoding="utf-8")
    budget = [f"{settings.experiments_per_agent} scored submissions", f"{settings.max_turns} turns"]
    if settings.agent_dollars is not None:
        budget.append(f"${settings.agent_dollars:g}")
    if settings.agent_tokens is not None:
        budget.append(f"{settings.agent_tokens} tokens")
    if settings.agent_wall_s is not None:
        budget.append(f"{settings.agent_wall_s / 3600:.1f} hours")
    return template.format(agent_id=agent_id, n_agents=n_agents, testbed=settings.testbed,
                           budget=", ".join(budget) + " (the supervisor may grant more)", direction=direction)


def directions_for(settings: AarSettings) -> list[str]:
    """The campaign's directions: the settings' own, else the researcher backend's built-in set."""
    if settings.directions:
        return list(settings.directions)
    if settings.researcher == "claude":
        from agents.claude import CLAUDE_DIRECTIONS

        return list(CLAUDE_DIRECTIONS)
    from agents.baseline import DIRECTIONS

    return [d.text for d in DIRECTIONS]
