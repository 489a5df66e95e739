"""Settings: one pydantic-settings class, from defaults, a TOML file and AAR_* variables.

Precedence, highest first: explicit arguments (CLI flags), environment variables
(`AAR_AGENTS=5`), the TOML file (`$AAR_CONFIG` or ~/.config/aar/config.toml), defaults.
The app gets settings through `load_settings()`; there is no import-time singleton.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from agents.approvals import ApprovalRule
from sandboxes import SandboxError
from sandboxes.levels import RISKS, check_request


def _config_path() -> Path:
    return Path(os.environ.get("AAR_CONFIG", Path.home() / ".config" / "aar" / "config.toml"))


# experiments.DEFAULT_TESTBED, spelt out: importing experiments costs torch's ~1 s, and
# settings load before any command needs it. tests/agents/test_campaign.py keeps the two equal.
DEFAULT_TESTBED = "stdlib-docstrings-hard"


class Price(BaseModel):
    """Dollars per million tokens of one model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cache_write: float = Field(ge=0, description="5-minute cache writes (1.25x input)")
    cache_read: float = Field(ge=0, description="cache hits (0.1x input)")


DEFAULT_PRICES = {
    # List prices per million tokens (Anthropic, 2026); edit them in a campaign file.
    "claude-opus-4-6": Price(input=5.0, output=25.0, cache_write=6.25, cache_read=0.50),
    "claude-opus-4-5": Price(input=5.0, output=25.0, cache_write=6.25, cache_read=0.50),
    "claude-sonnet-4-5": Price(input=3.0, output=15.0, cache_write=3.75, cache_read=0.30),
    "claude-haiku-4-5": Price(input=1.0, output=5.0, cache_write=1.25, cache_read=0.10),
}


class AarSettings(BaseSettings):
    """Everything a campaign can be configured with."""

    model_config = SettingsConfigDict(env_prefix="AAR_", extra="forbid")

    home: Path = Field(
        default_factory=lambda: Path.home() / ".aar",
        description="Where campaign stores and agent work directories are kept.",
    )
    cache_dir: Path = Field(
        default_factory=lambda: Path.home() / ".cache" / "aar",
        description="Feature cache (safetensors), shared by every campaign.",
    )
    agents: int = Field(
        0, ge=0, le=64, description="Researchers run in parallel (0: 9 for claude, as in the published work; 3 offline)."
    )
    testbed: str = Field(DEFAULT_TESTBED, description="The research problem.")
    testbed_limit: int | None = Field(
        None, ge=200, description="Use only this many items of the testbed (quick trials)."
    )
    sandbox: str = Field("local", description="Sandbox backend for agent code.")
    isolation: Literal["bwrap", "namespaces", "process"] = Field(
        "bwrap",
        description="The least isolation agent code may run at. Below bwrap the host is visible to agent "
        "code; such a level runs only with accept_isolation_risk naming its risk.",
    )
    accept_isolation_risk: str = Field(
        "",
        description="The risk of a weaker isolation level, by name (namespaces: host-files-visible; process: "
        "host-files-network-and-processes-visible): the explicit consent a weaker level needs.",
    )
    experiments_per_agent: int = Field(
        5, ge=1, description="Scored submissions each agent may make in the campaign."
    )
    submissions_per_hour: int = Field(
        20, ge=1, description="Scorer rate limit per agent (a sliding hour); slows label probing."
    )
    campaign_submissions_per_hour: int = Field(
        60, ge=1, description="Scorer rate limit over all agents together (a sliding hour): probing split "
        "across agents gets no more coarse feedback than this."
    )
    reproduce: bool = Field(
        True,
        description="Re-run each agent's best submission on unseen task variants (another "
        "teacher, shuffled weak labels) when it gives its command; verdicts go to the human.",
    )
    reproduction_reruns: int = Field(
        3, ge=2, le=10,
        description="Other-teacher re-runs per reproduction check: the verdict's interval covers the "
        "teacher's own noise only with several (fewer: more verdicts come out 'inconclusive').",
    )
    require_command: bool = Field(
        False,
        description="Refuse (at no quota cost) a submission that does not give the command that "
        "produced it; without this, such submissions are scored and marked 'not reproducible'.",
    )
    researcher: str = Field("baseline", description="Researcher backend: baseline (offline, scripted) or claude.")
    model: str = Field("claude-opus-4-6", description="Claude model for the claude researcher.")
    effort: Literal["low", "medium", "high", "xhigh", "max"] | None = Field(
        None, description="Claude's effort setting (output_config.effort); None leaves the API default."
    )
    base_url: str | None = Field(
        None, description="A Messages API server other than Anthropic's (also ANTHROPIC_BASE_URL)."
    )
    max_tokens: int = Field(16_000, ge=256, description="Output tokens per Claude turn (thinking included).")
    api_max_retries: int = Field(
        4, ge=0, le=20, description="The anthropic SDK's own retries of 429, 5xx and 529 answers."
    )
    turn_attempts: int = Field(
        6, ge=1, le=50, description="Attempts at one turn whose stream broke (or whose retries ran out)."
    )
    turn_retry_base_s: float = Field(
        0.5, gt=0, le=60, description="Backoff before the second attempt at a broken turn; doubles each time (max 30 s)."
    )
    context_window: int = Field(200_000, ge=10_000, description="The model's context window, in tokens.")
    compact_at: float = Field(
        0.8, gt=0.1, le=0.98, description="Compact the conversation when a prompt reaches this share of the window."
    )
    directions: list[str] = Field(
        default_factory=list,
        description="One starting direction per agent (cycled); empty: the researcher's built-in set.",
    )
    prices: dict[str, Price] = Field(
        default_factory=lambda: dict(DEFAULT_PRICES), description="Dollars per million tokens, per model."
    )
    agent_tokens: int | None = Field(None, ge=1, description="Tokens one agent may use (None: no limit).")
    agent_dollars: float | None = Field(None, gt=0, description="Dollars one agent may spend.")
    agent_wall_s: float | None = Field(None, gt=0, description="Seconds one agent may run.")
    campaign_tokens: int | None = Field(None, ge=1, description="Tokens the whole campaign may use.")
    campaign_dollars: float | None = Field(None, gt=0, description="Dollars the whole campaign may spend.")
    approvals: list[ApprovalRule] = Field(
        default_factory=list,
        description="Approval policy: rules {tool, command, path, action} (auto / ask / deny), first match "
        "wins; no match: auto. Changeable live.",
    )
    max_turns: int = Field(60, ge=1, description="Model turns per agent before it is paused for a grant.")
    max_wall_s: float = Field(
        900.0, gt=0, description="Wall-clock budget of the whole campaign, set-up included."
    )
    exec_timeout_s: float = Field(300.0, gt=0, description="Limit on one command in a sandbox.")
    baseline_seeds: int = Field(
        8, ge=1, description="Seeds averaged for the weak and ceiling baselines (cached)."
    )

    @model_validator(mode="after")
    def _default_agents(self) -> "AarSettings":
        if self.agents == 0:
            self.agents = 9 if self.researcher == "claude" else 3
        return self

    @model_validator(mode="after")
    def _isolation_consent(self) -> "AarSettings":
        try:
            check_request(self.isolation, self.accept_isolation_risk)
        except SandboxError as exc:
            raise ValueError(str(exc)) from None
        return self

    @property
    def weakened_isolation(self) -> str | None:
        """The accepted risk when agent code runs below bwrap, else None."""
        return RISKS.get(self.isolation)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls, toml_file=_config_path())
        return (init_settings, env_settings, toml)


class CampaignFileError(Exception):
    """A campaign file that cannot be used; the message names the file and the key."""


def read_campaign_file(path: Path) -> dict[str, Any]:
    """The settings a campaign file (TOML) gives, checked key by key against ``AarSettings``."""
    import tomllib

    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise CampaignFileError(f"campaign file {path}: no such file") from None
    except OSError as exc:
        raise CampaignFileError(f"campaign file {path}: cannot read it ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise CampaignFileError(f"campaign file {path}: not valid TOML ({exc})") from None
    known = AarSettings.model_fields
    for key in data:
        if key not in known:
            close = [k for k in known if k.startswith(key[:3])][:3]
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise CampaignFileError(f"campaign file {path}: unknown key {key!r}{hint}")
    return data


def load_settings(campaign_file: Path | None = None, **overrides: Any) -> AarSettings:
    """Settings with CLI overrides applied (None means 'not given') over a campaign file."""
    given = {k: v for k, v in overrides.items() if v is not None}
    if campaign_file is None:
        return AarSettings(**given)
    from_file = read_campaign_file(campaign_file)
    try:
        AarSettings(**from_file)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise CampaignFileError(f"campaign file {campaign_file}: key {where!r}: {first['msg']}") from None
    return AarSettings(**{**from_file, **given})
