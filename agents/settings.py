"""Settings: one pydantic-settings class, from defaults, a TOML file and AAR_* variables.

Precedence, highest first: explicit arguments (CLI flags), environment variables
(`AAR_AGENTS=5`), the TOML file (`$AAR_CONFIG` or ~/.config/aar/config.toml), defaults.
The app gets settings through `load_settings()`; there is no import-time singleton.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


def _config_path() -> Path:
    return Path(os.environ.get("AAR_CONFIG", Path.home() / ".config" / "aar" / "config.toml"))


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
    agents: int = Field(3, ge=1, le=64, description="Researchers run in parallel.")
    testbed: str = Field("stdlib-docstrings", description="The research problem.")
    testbed_limit: int | None = Field(
        None, ge=200, description="Use only this many items of the testbed (quick trials)."
    )
    sandbox: str = Field("local", description="Sandbox backend for agent code.")
    experiments_per_agent: int = Field(
        5, ge=1, description="Scored submissions each agent may make in the campaign."
    )
    submissions_per_hour: int = Field(
        20, ge=1, description="Scorer rate limit per agent (a sliding hour); slows label probing."
    )
    reproduce: bool = Field(
        True,
        description="Re-run each agent's best submission on unseen task variants (another "
        "teacher, shuffled weak labels) when it gives its command; verdicts go to the human.",
    )
    require_command: bool = Field(
        False,
        description="Refuse (at no quota cost) a submission that does not give the command that "
        "produced it; without this, such submissions are scored and marked 'not reproducible'.",
    )
    max_turns: int = Field(60, ge=1, description="Model turns per agent before it is stopped.")
    max_wall_s: float = Field(
        900.0, gt=0, description="Wall-clock budget of the whole campaign, set-up included."
    )
    exec_timeout_s: float = Field(300.0, gt=0, description="Limit on one command in a sandbox.")
    baseline_seeds: int = Field(
        8, ge=1, description="Seeds averaged for the weak and ceiling baselines (cached)."
    )

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


def load_settings(**overrides: Any) -> AarSettings:
    """Settings with CLI overrides applied (None means 'not given')."""
    return AarSettings(**{k: v for k, v in overrides.items() if v is not None})
