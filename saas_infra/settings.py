"""One validated settings object, from the environment and the command line.

The Railway token is held as a SecretStr so that no repr, log line or error shows it. Reading
settings never touches the network.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, SecretStr

from saas_infra.errors import ConfigError

DEFAULT_API_URL = "https://backboard.railway.com/graphql/v2"
SANDBOX_DIR = Path(".saas-infra")
# Read in this order: Railway's name for account and workspace tokens first, then the original
# tool's name (a promise to its users).
TOKEN_VARIABLES = ("RAILWAY_API_TOKEN", "RAILWAY_TOKEN")


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    token: SecretStr | None = None
    # Which environment variable the token came from: Railway's own tools read
    # RAILWAY_API_TOKEN for account and workspace tokens and keep RAILWAY_TOKEN for project
    # tokens (railwayapp/cli src/consts.rs, src/client.rs); the original tool read RAILWAY_TOKEN.
    token_source: str | None = None
    # Set when RAILWAY_API_TOKEN and RAILWAY_TOKEN are both set and differ (the first wins).
    token_conflict: bool = False
    workspace_id: str | None = None
    api_url: str = DEFAULT_API_URL
    tenants_dir: Path = Path("tenants")
    fleet_file: Path | None = None  # None: fleet.yaml beside tenants_dir, when there is one
    sandbox: bool = False
    sandbox_dir: Path = SANDBOX_DIR
    ci: bool = False
    concurrency: int = 8
    max_deletions: int = 3
    lock_timeout: float = 900.0  # seconds to wait for the fleet lock (lock.DEFAULT_TIMEOUT)
    plan_name: str = "HOBBY"  # pacing preset: HOBBY (10/s, 1000/h) or PRO (50/s, 10000/h)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides) -> Settings:
        env = os.environ if env is None else env
        source = next((name for name in TOKEN_VARIABLES if env.get(name)), None)
        token = env.get(source) if source else None
        values: dict[str, Any] = {
            "token": SecretStr(token) if token else None,
            "token_source": source,
            "token_conflict": all(env.get(n) for n in TOKEN_VARIABLES)
            and env.get(TOKEN_VARIABLES[0]) != env.get(TOKEN_VARIABLES[1]),
            "workspace_id": env.get("RAILWAY_WORKSPACE_ID") or env.get("RAILWAY_TEAM_ID") or None,
            "api_url": env.get("RAILWAY_API_URL") or DEFAULT_API_URL,
            "ci": bool(env.get("CI")) and env.get("CI", "").lower() not in ("0", "false", "no"),
            "plan_name": (env.get("SAAS_INFRA_RAILWAY_PLAN") or "HOBBY").upper(),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def require_token(self) -> SecretStr:
        if self.token is None:
            raise ConfigError(
                # The original tool's words, kept: users search for them.
                "RAILWAY_TOKEN environment variable is required",
                hint="export RAILWAY_API_TOKEN=... (Railway's name for an account or workspace "
                "token; RAILWAY_TOKEN is read too when it is unset), "
                "or add --sandbox to try saas-infra against the local emulator",
            )
        return self.token
