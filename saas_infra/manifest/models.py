"""The tenant manifest, version 1, as pydantic models: the one definition of what a valid tenant is.

Every rule a manifest must meet lives here, with a message that says what to write instead. The
JSON schema is generated from these models (see schema.py). No I/O and no YAML here; loading
and editing files is loader.py's and edit.py's job.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)
from pydantic.json_schema import JsonDict, JsonValue
from pydantic_core import PydanticCustomError

from saas_infra import tenancy
from saas_infra.tenancy import (
    RAILWAY_PREFIX,
    RESERVED_VARIABLES,
    SECRET_WORDS,
    looks_secret,
)

MANIFEST_VERSION = 1
DEFAULT_REPO = "LuthienResearch/luthien-proxy"
DEFAULT_BRANCH = "main"
DEFAULT_GRACE_DAYS = 7
MAX_GRACE_DAYS = 365  # a longer grace period is almost certainly a typo (7000 for 7)
MAX_VARIABLE_BYTES = 4096

# The values luthien-proxy's gateway accepts for AUTH_MODE (src/luthien_proxy/credential_manager.py,
# AuthMode; config_fields.py makes "both" its default). "proxy_key" is the pre-rename spelling.
AuthMode = Literal["client_key", "passthrough", "both"]
AUTH_MODES: tuple[str, ...] = ("client_key", "passthrough", "both")
DEFAULT_AUTH_MODE: AuthMode = "both"

NAME_MAX = 63
NAME_PATTERN = r"^[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$"
_OWNER = r"[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}"
_REPO_NAME = r"[A-Za-z0-9._-]{1,100}"
REPO_PATTERN = rf"^{_OWNER}/{_REPO_NAME}$"
VARIABLE_NAME_PATTERN = r"^[A-Z_][A-Z0-9_]*$"
# A pinned commit: the full SHA, as serviceInstanceDeployV2(commitSha:) needs it (a short SHA
# never matches on Railway: the emulator's commits.py has the evidence).
COMMIT_PATTERN = r"^[0-9a-f]{40}$"
TIER_PATTERN = r"^[a-z][a-z0-9_-]{0,62}$"
# An environment variable the pass reads a secret from (POSIX names: no lower-case rule).
ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
# The provider key luthien-proxy needs to answer client-key traffic (HTTP 500 without it).
PROVIDER_KEY = "ANTHROPIC_API_KEY"

# The gateway's deploy settings on Railway (serviceInstanceUpdate; emulator/instances.py holds
# the evidence). An absent field means Railway's default, set and kept on every pass, except the
# health check, which saas-infra turns on: /health is luthien-proxy's liveness endpoint.
DEFAULT_HEALTHCHECK_PATH = "/health"
DEFAULT_HEALTHCHECK_TIMEOUT = 300  # seconds; Railway's healthcheckTimeout default
MAX_HEALTHCHECK_TIMEOUT = 3600  # a longer wait is almost certainly a typo
RestartPolicyName = Literal["on_failure", "always", "never"]  # Railway's ON_FAILURE, ALWAYS, NEVER
DEFAULT_RESTART_POLICY: RestartPolicyName = "on_failure"
DEFAULT_RESTART_RETRIES = 10  # Railway's restartPolicyMaxRetries default
MAX_RESTART_RETRIES = 100
DEFAULT_REPLICAS = 1
# The most any Railway plan allows per service (Pro: 42; Hobby 6, Free 1): Railway itself
# refuses more than the workspace's plan allows, and apply reports its answer for the tenant.
MAX_REPLICAS = 42
HEALTHCHECK_PATH_PATTERN = r"^/[^\s?#]{0,2047}$"
# A Railway deploy region id as its `regions` query lists them (`name`: us-west2,
# europe-west4-drams3a, ...). Only the shape is checked offline; a pass checks the id against
# Railway's own list (manifest/regions.py), since Railway adds and retires regions.
REGION_PATTERN = r"^[a-z][a-z0-9]*(?:-[a-z0-9]+){0,7}$"
REGION_MAX = 63
# The gateway's resource limits (serviceInstanceLimitsUpdate: vCPUs, memoryGB per replica). The
# most any Railway plan allows (Pro: 32 vCPU / 32 GB; Hobby 8 / 8, Free 1 / 0.5: the emulator's
# instances.py holds the evidence); Railway refuses more than the workspace's plan allows.
MAX_VCPUS = 32.0
MAX_MEMORY_GB = 32.0
# The Postgres volume's backup schedules (volumeInstanceBackupScheduleUpdate kinds DAILY, WEEKLY,
# MONTHLY: every 24 h / 7 d / 30 d, kept 6 d / 1 month / 3 months). On by default: daily.
BackupKind = Literal["daily", "weekly", "monthly"]
BACKUP_KINDS: tuple[str, ...] = ("daily", "weekly", "monthly")
DEFAULT_BACKUPS: tuple[str, ...] = ("daily",)


_OWNER_RE = re.compile(_OWNER)
_REPO_NAME_RE = re.compile(_REPO_NAME)
_VARIABLE_RE = re.compile(VARIABLE_NAME_PATTERN)
_ENV_NAME_RE = re.compile(ENV_NAME_PATTERN)
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_HOST = r"(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+|localhost)(?::[0-9]+)?|[A-Za-z0-9-]+:[0-9]+"
_IMAGE_RE = re.compile(
    rf"(?:(?:{_HOST})/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>[A-Za-z0-9_+.-]+:[A-Za-z0-9=_-]+))?"
)
_SHA256_RE = re.compile(r"sha256:[0-9a-f]{64}")
IMAGE_PATTERN = (
    rf"^(?:(?:{_HOST})/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
    r"(?:(?::(?!latest(?:@|$))[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})(?:@sha256:[0-9a-f]{64})?"
    r"|(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?@sha256:[0-9a-f]{64})$"
)


def check_name(value: str) -> str:
    """Tenant names become the Railway project `luthien-<name>` (rules from the original CLI)."""
    if not value:
        raise ValueError("must not be empty")
    if len(value) > NAME_MAX:
        raise ValueError(f"is {len(value)} characters long; the limit is {NAME_MAX}")
    if not value[0].isascii() or not value[0].isalpha() or not value[0].islower():
        raise ValueError(f"'{value}' must start with a lowercase letter")
    if value.endswith("-"):
        raise ValueError(f"'{value}' must not end with a hyphen")
    if not re.fullmatch(NAME_PATTERN, value):
        raise ValueError(f"'{value}' may contain only lowercase letters, digits and hyphens")
    return value


def _key_name(value: str, pattern: str, what: str) -> str:
    """A name fleet.yaml keys things by (a tier, a channel)."""
    if not re.fullmatch(pattern, value):
        raise ValueError(
            f"'{value}' is not a {what} name (a lowercase letter, then lowercase letters, "
            "digits, - or _; at most 63 characters)"
        )
    return value


def check_tier(value: str) -> str:
    return _key_name(value, TIER_PATTERN, "tier")


def check_region(value: str) -> str:
    if len(value) > REGION_MAX or not re.fullmatch(REGION_PATTERN, value):
        raise ValueError(
            f"'{value}' is not a Railway region id (lowercase letters, digits and hyphens, as "
            "Railway's regions list names them, e.g. europe-west4-drams3a or us-west2)"
        )
    return value


def _check_repo(value: str) -> str:
    example = f"e.g. {DEFAULT_REPO}"
    if "://" in value or value.startswith(("git@", "github.com")):
        raise ValueError(f"give the GitHub repository as owner/repo, not a URL ({example})")
    owner, slash, name = value.partition("/")
    if not slash or "/" in name or not owner or not name:
        raise ValueError(f"'{value}' must be a GitHub repository as owner/repo ({example})")
    if not _OWNER_RE.fullmatch(owner):
        raise ValueError(
            f"'{owner}' is not a GitHub user or organisation name (letters, digits and single "
            "inner hyphens, at most 39 characters)"
        )
    if name.endswith(".git"):
        raise ValueError(f"drop the .git suffix: {owner}/{name[:-4]}")
    if not _REPO_NAME_RE.fullmatch(name) or name in (".", ".."):
        raise ValueError(f"'{name}' is not a GitHub repository name (letters, digits, . _ -)")
    return value


def _check_branch(value: str) -> str:
    """The parts of `git check-ref-format --branch` that a typo can plausibly break."""
    if not value:
        raise ValueError("must not be empty")
    if len(value) > 255:
        raise ValueError("is longer than 255 characters")
    if value.startswith("refs/"):
        raise ValueError("give the branch name alone, without refs/heads/")
    bad = sorted({c for c in value if c in " ~^:?*[\\" or ord(c) < 0x20 or ord(c) == 0x7F})
    if bad:
        shown = ", ".join(repr(c) for c in bad)
        raise ValueError(f"'{value}' contains characters git refuses in a branch name: {shown}")
    if value.startswith("-") or value == "@" or ".." in value or "@{" in value:
        raise ValueError(f"'{value}' is not a valid git branch name")
    parts = value.split("/")
    if any(not p or p.startswith(".") or p.endswith(".lock") for p in parts) or value.endswith("."):
        raise ValueError(f"'{value}' is not a valid git branch name")
    return value


def _check_commit(value: str) -> str:
    if re.fullmatch(r"[0-9a-fA-F]{40}", value):
        if value != value.lower():
            raise ValueError(f"write the commit in lower case: {value.lower()}")
        return value
    if re.fullmatch(r"[0-9a-fA-F]{4,39}", value):
        raise ValueError(
            f"'{value}' is a short SHA ({len(value)} hex digits); give the full 40 "
            "(`git rev-parse <sha>`): Railway deploys a commit only by its full SHA"
        )
    raise ValueError(f"'{value}' is not a commit SHA (40 hex digits, e.g. from `git rev-parse HEAD`)")


def _check_image(value: str) -> str:
    if "://" in value:
        raise ValueError("give an image reference without a URL scheme (registry/path:tag)")
    match = _IMAGE_RE.fullmatch(value) if len(value) <= 512 else None
    if match is None:
        raise ValueError(
            f"'{value}' is not an image reference (expected registry/path:tag or "
            "registry/path@sha256:<64 hex>)"
        )
    digest, tag = match.group("digest"), match.group("tag")
    if digest is not None:
        if not _SHA256_RE.fullmatch(digest):
            raise ValueError("the digest must be sha256: followed by 64 lowercase hex digits")
        return value
    if tag is None:
        raise ValueError(
            "is not pinned: add a version tag (:1.2.3) or a digest (@sha256:...), so a deploy "
            "runs exactly what the manifest names"
        )
    if tag.lower() == "latest":
        raise ValueError("':latest' is not a pin: use a version tag or an @sha256: digest")
    return value


def set_on_railway(name: str) -> bool:
    """A secret-looking gateway variable: manifests may not hold it, so operators set it on
    Railway, and the reconciler leaves it alone instead of removing it as drift."""
    return looks_secret(name) and name not in RESERVED_VARIABLES


def _check_variable_name(value: str) -> str:
    if not _VARIABLE_RE.fullmatch(value):
        raise ValueError(
            f"'{value}' is not a variable name (upper-case letters, digits and underscores, "
            "not starting with a digit)"
        )
    if value in RESERVED_VARIABLES:
        raise ValueError(f"{value} is reserved: {RESERVED_VARIABLES[value]}")
    if value.startswith(RAILWAY_PREFIX):
        raise ValueError(
            f"{value} is reserved: names starting with {RAILWAY_PREFIX} are Railway's"
        )
    word = next((w for w in SECRET_WORDS if w in value), None)
    if word is not None:
        raise ValueError(
            f"{value} looks like a secret (it contains {word}); secrets never go in manifests, "
            f"which live in git. Name it under gateway.secrets instead ({value}: {{from_env: VAR}}: "
            "the pass reads it from its environment variable VAR), or set it on Railway"
        )
    return value


def _check_secret_name(value: str) -> str:
    """A gateway secret's name. It must look like a secret: saas-infra's reading of Railway
    keeps no value of such a name, and leaves it alone when the manifest stops naming it."""
    if not _VARIABLE_RE.fullmatch(value):
        raise ValueError(
            f"'{value}' is not a variable name (upper-case letters, digits and underscores, "
            "not starting with a digit)"
        )
    if value in RESERVED_VARIABLES:
        raise ValueError(f"{value} is reserved: {RESERVED_VARIABLES[value]}")
    if value.startswith(RAILWAY_PREFIX):
        raise ValueError(
            f"{value} is reserved: names starting with {RAILWAY_PREFIX} are Railway's"
        )
    if not looks_secret(value):
        raise ValueError(
            f"{value} does not look like a secret (its name contains none of "
            f"{', '.join(SECRET_WORDS)}); saas-infra reads such values back from Railway and "
            "would show them. Put a non-secret value under variables, or name the secret so"
        )
    return value


def _check_env_name(value: str) -> str:
    if not _ENV_NAME_RE.fullmatch(value):
        raise ValueError(
            f"'{value}' is not an environment variable name (letters, digits and underscores, "
            "not starting with a digit)"
        )
    return value


def _check_variable_value(value: str) -> str:
    size = len(value.encode("utf-8"))
    if size > MAX_VARIABLE_BYTES:
        raise ValueError(f"is {size} bytes long; the limit is {MAX_VARIABLE_BYTES}")
    return value


def _to_utc(value: Any) -> Any:
    """Manifest times must say their zone: a naive time is ambiguous by hours, and deletion
    deadlines are computed from it. Accepts a YAML timestamp or an RFC 3339 string."""
    example = "write it in UTC with a Z, e.g. 2026-11-26T10:00:00Z"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"is not a timestamp; {example}") from None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"has no time zone; {example}")
        # Whole seconds: the deadline is also written into Railway's marker, and the two must
        # compare equal or every pass would rewrite the marker.
        return value.astimezone(UTC).replace(microsecond=0)
    if isinstance(value, date):
        raise ValueError(f"is a date without a time; {example}")
    return value  # let pydantic report the wrong type


def _not_bool(value: Any) -> Any:
    # True == 1 in Python, and pydantic's Literal[1] would accept it even in strict mode.
    if isinstance(value, bool):
        raise PydanticCustomError("literal_error", "Input should be 1", {"expected": "1"})
    return value


TenantName = Annotated[str, AfterValidator(check_name)]
RepoName = Annotated[str, AfterValidator(_check_repo)]
BranchName = Annotated[str, AfterValidator(_check_branch)]
ImageRef = Annotated[str, AfterValidator(_check_image)]
CommitSha = Annotated[str, AfterValidator(_check_commit)]
VariableName = Annotated[str, AfterValidator(_check_variable_name)]
VariableValue = Annotated[str, AfterValidator(_check_variable_value)]
SecretName = Annotated[str, AfterValidator(_check_secret_name)]
EnvName = Annotated[str, AfterValidator(_check_env_name)]
UtcDatetime = Annotated[datetime, BeforeValidator(_to_utc)]
RegionId = Annotated[str, AfterValidator(check_region)]


class _Model(BaseModel):
    # strict: YAML's 1.1 booleans (yes/on) and numbers must not silently become strings or ints.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


_RESERVED_NAMES: list[JsonValue] = [*sorted(RESERVED_VARIABLES)]
_VARIABLE_NAMES_SCHEMA: JsonDict = {
    "pattern": VARIABLE_NAME_PATTERN,
    "not": {
        "anyOf": [
            {"enum": _RESERVED_NAMES},
            {"pattern": f"^{RAILWAY_PREFIX}"},
            {"pattern": "|".join(SECRET_WORDS)},
        ]
    },
}

_SECRET_NAMES_SCHEMA: JsonDict = {
    "pattern": VARIABLE_NAME_PATTERN,
    "allOf": [
        {"pattern": "|".join(SECRET_WORDS)},
        {"not": {"anyOf": [{"enum": _RESERVED_NAMES}, {"pattern": f"^{RAILWAY_PREFIX}"}]}},
    ],
}

_SOURCE_SCHEMA: JsonDict = {
    "oneOf": [
        {"required": ["repo"], "not": {"required": ["image"]}},
        {
            "required": ["image"],
            "not": {"anyOf": [{"required": ["repo"]}, {"required": ["branch"]},
                              {"required": ["commit"]}]},
        },
    ]
}


def _check_healthcheck_path(value: str) -> str:
    if not re.fullmatch(HEALTHCHECK_PATH_PATTERN, value):
        raise ValueError(
            f"'{value}' is not a URL path: start it with / and leave out spaces, a query (?) "
            f"and a fragment (#), e.g. {DEFAULT_HEALTHCHECK_PATH}"
        )
    return value


HealthcheckPath = Annotated[str, AfterValidator(_check_healthcheck_path)]
_PATH_FIELD: dict[str, Any] = {
    "description": "Path Railway probes until it answers 200 before a deploy goes live "
    f"(healthcheckPath). Default {DEFAULT_HEALTHCHECK_PATH}, luthien-proxy's liveness endpoint.",
    "json_schema_extra": {"pattern": HEALTHCHECK_PATH_PATTERN},
}
_TIMEOUT_FIELD: dict[str, Any] = {
    "ge": 1, "le": MAX_HEALTHCHECK_TIMEOUT,
    "description": "Seconds Railway waits for the health check before the deploy fails "
    f"(healthcheckTimeout). Default {DEFAULT_HEALTHCHECK_TIMEOUT}.",
}
_POLICY_FIELD: dict[str, Any] = {
    "description": "When Railway restarts the gateway's process (restartPolicyType): "
    "on_failure (default), always, never.",
}
_RETRIES_FIELD: dict[str, Any] = {
    "ge": 0, "le": MAX_RESTART_RETRIES,
    "description": "Restarts after failures before Railway gives up (restartPolicyMaxRetries); "
    f"only with on_failure. Default {DEFAULT_RESTART_RETRIES}.",
}
_SLEEP_FIELD: dict[str, Any] = {
    "description": "Railway's app sleeping (sleepApplication): the gateway sleeps when idle and "
    "wakes on a request. Default false.",
}
_REPLICAS_FIELD: dict[str, Any] = {
    "ge": 1, "le": MAX_REPLICAS,
    "description": "Gateway replicas in its region (multiRegionConfig numReplicas). Default "
    f"{DEFAULT_REPLICAS}; at most what the workspace's plan allows (Railway refuses more).",
}


_REGION_FIELD: dict[str, Any] = {
    "description": "Railway deploy region of the tenant's services (gateway, Postgres, Redis), "
    "by its id in Railway's regions list (e.g. europe-west4-drams3a); set through "
    "multiRegionConfig. Moving a tenant that has data migrates its database volumes (downtime): "
    "apply does it only with --allow-region-move. Absent: saas-infra leaves placement to Railway.",
    "json_schema_extra": {"pattern": REGION_PATTERN, "maxLength": REGION_MAX},
}


def _field(default: Any, spec: dict[str, Any]) -> Any:
    """A Field with one of the specs above: the same rules for a manifest and a fleet default."""
    return Field(default, **spec)


class HealthCheck(_Model):
    """The gateway's health check: Railway gates each deploy on it."""

    path: HealthcheckPath = _field(DEFAULT_HEALTHCHECK_PATH, _PATH_FIELD)
    timeout: int = _field(DEFAULT_HEALTHCHECK_TIMEOUT, _TIMEOUT_FIELD)


class RestartPolicy(_Model):
    """When Railway restarts the gateway."""

    policy: RestartPolicyName = _field(DEFAULT_RESTART_POLICY, _POLICY_FIELD)
    max_retries: int = _field(DEFAULT_RESTART_RETRIES, _RETRIES_FIELD)


class HealthCheckDefaults(_Model):
    """HealthCheck's fields, each optional: what the fleet file gives every manifest."""

    path: HealthcheckPath | None = _field(None, _PATH_FIELD)
    timeout: int | None = _field(None, _TIMEOUT_FIELD)


class RestartDefaults(_Model):
    """RestartPolicy's fields, each optional."""

    policy: RestartPolicyName | None = _field(None, _POLICY_FIELD)
    max_retries: int | None = _field(None, _RETRIES_FIELD)


_VCPUS_FIELD: dict[str, Any] = {
    "gt": 0, "le": MAX_VCPUS,
    "description": "vCPUs per gateway replica (Railway's resource limit, serviceInstanceLimitsUpdate "
    f"vCPUs). Default: the plan's maximum (no limit set). At most {MAX_VCPUS:g}, and what the "
    "workspace's plan allows (Hobby 8, Free 1; Railway refuses more).",
}
_MEMORY_FIELD: dict[str, Any] = {
    "gt": 0, "le": MAX_MEMORY_GB,
    "description": "Memory in GB per gateway replica (Railway's resource limit, memoryGB). Default: "
    f"the plan's maximum (no limit set). At most {MAX_MEMORY_GB:g}, and what the workspace's plan "
    "allows (Hobby 8, Free 0.5).",
}
_BACKUPS_FIELD: dict[str, Any] = {
    "description": "The Postgres volume's backup schedules (Railway's volume backup schedule kinds): "
    "daily (kept 6 days), weekly (kept 1 month), monthly (kept 3 months). Default [daily]; [] turns "
    "scheduled backups off (existing backups are kept until they expire).",
    "json_schema_extra": {"uniqueItems": True, "maxItems": len(BACKUP_KINDS)},
}


def _unique_kinds(value: list[str]) -> list[str]:
    seen = [kind for index, kind in enumerate(value) if kind in value[:index]]
    if seen:
        raise ValueError(f"'{seen[0]}' is listed twice; name each schedule kind once")
    return value


BackupKinds = Annotated[list[BackupKind], AfterValidator(_unique_kinds)]


class Resources(_Model):
    """The gateway's resource limits per replica; a field left out is the plan's maximum."""

    vcpus: float | None = _field(None, _VCPUS_FIELD)
    memory_gb: float | None = _field(None, _MEMORY_FIELD)


class PostgresSpec(_Model):
    """The tenant's Postgres service (Railway's official template) and its volume."""

    backups: BackupKinds = _field(list(DEFAULT_BACKUPS), _BACKUPS_FIELD)


class PostgresDefaults(_Model):
    """PostgresSpec's fields, each optional: what the fleet file gives every manifest."""

    backups: BackupKinds | None = _field(None, _BACKUPS_FIELD)


class SecretRef(_Model):
    """Where the pass finds a secret's value: never the value itself, which stays out of git."""

    from_env: EnvName = Field(
        description="The environment variable of the pass (a CI secret) holding the value.",
        json_schema_extra={"pattern": ENV_NAME_PATTERN},
    )


_SECRETS_SCHEMA: JsonDict = {"propertyNames": _SECRET_NAMES_SCHEMA}


class GatewaySpec(_Model):
    """Where the gateway's code comes from and how it is configured."""

    model_config = ConfigDict(json_schema_extra=_SOURCE_SCHEMA)

    repo: RepoName | None = Field(
        None,
        description="GitHub repository as owner/repo. Exactly one of repo or image.",
        json_schema_extra={"pattern": REPO_PATTERN},
    )
    branch: BranchName | None = Field(
        None,
        description=f"Branch to deploy; only with repo. Default {DEFAULT_BRANCH}.",
        json_schema_extra={"minLength": 1, "maxLength": 255},
    )
    commit: CommitSha | None = Field(
        None,
        description=(
            "Pin: the full 40-hex commit SHA of repo the gateway runs. A pinned gateway has no "
            "GitHub deployment trigger, so a push never deploys it; without commit it follows "
            "branch and every push to it deploys. Only with repo."
        ),
        json_schema_extra={"pattern": COMMIT_PATTERN},
    )
    image: ImageRef | None = Field(
        None,
        description="Pinned container image: an @sha256: digest or a tag other than latest.",
        json_schema_extra={"pattern": IMAGE_PATTERN},
    )
    auth_mode: AuthMode = Field(
        DEFAULT_AUTH_MODE,
        description=(
            "AUTH_MODE given to the gateway: client_key (only the generated CLIENT_API_KEY), "
            "passthrough (any Anthropic credential), both."
        ),
    )
    variables: dict[VariableName, VariableValue] = Field(
        default_factory=dict,
        description="Extra non-secret gateway variables. Values are strings.",
        json_schema_extra={
            "propertyNames": _VARIABLE_NAMES_SCHEMA,
            "additionalProperties": {"type": "string", "maxLength": MAX_VARIABLE_BYTES},
        },
    )
    secrets: dict[SecretName, SecretRef] = Field(
        description=(
            "Secret gateway variables by reference: NAME: {from_env: VAR} sets NAME on Railway "
            "from the pass's environment variable VAR. Names only: a value never goes in git."
        ),
        default_factory=dict,
        json_schema_extra=_SECRETS_SCHEMA,
    )
    healthcheck: HealthCheck = Field(
        default_factory=lambda: HealthCheck(),
        description="Railway's health check for each deploy; on by default at "
        f"{DEFAULT_HEALTHCHECK_PATH}.",
    )
    restart: RestartPolicy = Field(
        default_factory=lambda: RestartPolicy(),
        description="Railway's restart policy. Default on_failure with "
        f"{DEFAULT_RESTART_RETRIES} retries.",
    )
    sleep: bool = _field(False, _SLEEP_FIELD)
    replicas: int = _field(DEFAULT_REPLICAS, _REPLICAS_FIELD)
    resources: Resources = Field(
        default_factory=lambda: Resources(),
        description="Railway's resource limits per replica (serviceInstanceLimitsUpdate): vcpus, "
        "memory_gb. Default: none set (the plan's maximum).",
    )

    @model_validator(mode="before")
    @classmethod
    def _default_branch(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("repo") is not None and "branch" not in data:
            return {**data, "branch": DEFAULT_BRANCH}
        return data

    @model_validator(mode="after")
    def _one_source(self) -> GatewaySpec:
        # ctx["at"] names the key to point at, so the loader can report its line.
        if self.repo is not None and self.image is not None:
            raise PydanticCustomError(
                "gateway_source", "give either repo or image, not both", {"at": "image"}
            )
        if self.repo is None and self.image is None:
            raise PydanticCustomError(
                "gateway_source",
                "give repo (GitHub owner/repo) or image (a pinned image reference)",
            )
        if self.image is not None and self.branch is not None:
            raise PydanticCustomError(
                "gateway_source", "branch only applies to repo; remove it", {"at": "branch"}
            )
        if self.image is not None and self.commit is not None:
            raise PydanticCustomError(
                "gateway_source", "commit only applies to repo (an image pins itself by its "
                "@sha256: digest); remove it", {"at": "commit"}
            )
        return self

    @property
    def pinned(self) -> bool:
        """Whether the gateway runs one fixed version (a commit, or an image) rather than
        following a branch, which every push to it deploys."""
        return self.commit is not None or self.image is not None


# A gateway that may leave its source to another file (a manifest's, a fleet default's): the
# schema only refuses both sources at once; the loader checks the merged manifest in full.
SOURCE_AT_MOST_ONE: JsonDict = {
    "not": {"anyOf": [{"required": ["repo", "image"]}, {"required": ["image", "branch"]}]}
}


class GatewayDefaults(_Model):
    """Gateway fields the fleet file gives every manifest (or a tier's): GatewaySpec's fields,
    each optional. A manifest that names repo or image replaces the whole source."""

    model_config = ConfigDict(json_schema_extra=SOURCE_AT_MOST_ONE)

    repo: RepoName | None = Field(
        None, description="GitHub repository as owner/repo.",
        json_schema_extra={"pattern": REPO_PATTERN},
    )
    branch: BranchName | None = Field(
        None, description=f"Branch to deploy; only with repo. Default {DEFAULT_BRANCH}.",
        json_schema_extra={"minLength": 1, "maxLength": 255},
    )
    image: ImageRef | None = Field(
        None, description="Pinned container image: an @sha256: digest or a tag other than latest.",
        json_schema_extra={"pattern": IMAGE_PATTERN},
    )
    auth_mode: AuthMode | None = Field(None, description="AUTH_MODE given to the gateway.")
    variables: dict[VariableName, VariableValue] = Field(
        default_factory=dict,
        description="Non-secret gateway variables; a manifest's own win, name by name.",
        json_schema_extra={
            "propertyNames": _VARIABLE_NAMES_SCHEMA,
            "additionalProperties": {"type": "string", "maxLength": MAX_VARIABLE_BYTES},
        },
    )
    secrets: dict[SecretName, SecretRef] = Field(
        description="Secret gateway variables by reference; a manifest's own win, name by name.",
        default_factory=dict,
        json_schema_extra=_SECRETS_SCHEMA,
    )
    healthcheck: HealthCheckDefaults | None = Field(None, description="Health check defaults.")
    restart: RestartDefaults | None = Field(None, description="Restart policy defaults.")
    sleep: bool | None = _field(None, _SLEEP_FIELD)
    replicas: int | None = _field(None, _REPLICAS_FIELD)
    resources: Resources | None = Field(None, description="Resource limit defaults.")

    @model_validator(mode="after")
    def _one_source(self) -> GatewayDefaults:
        if self.repo is not None and self.image is not None:
            raise PydanticCustomError(
                "gateway_source", "give either repo or image, not both", {"at": "image"}
            )
        if self.image is not None and self.branch is not None:
            raise PydanticCustomError(
                "gateway_source", "branch only applies to repo; remove it", {"at": "branch"}
            )
        return self


TierName = Annotated[str, AfterValidator(check_tier)]

# --- release channels and rollouts (fleet.yaml) -----------------------------------------------

CHANNEL_PATTERN = TIER_PATTERN
DURATION_PATTERN = r"^[0-9]{1,6}(s|m|h)$"
WAVE_PATTERN = r"^(100|[1-9][0-9]?)%$"
DIGEST_IMAGE_PATTERN = r"^[^@\s]+@sha256:[0-9a-f]{64}$"
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600}
MAX_DURATION = 7 * 24 * 3600  # a week: a longer soak or timeout is almost certainly a typo
DEFAULT_ROLLOUT_TIMEOUT = "5m"
OnFailure = Literal["rollback", "hold"]
Advance = Literal["all", "wave"]


def check_channel(value: str) -> str:
    return _key_name(value, CHANNEL_PATTERN, "channel")


def duration_seconds(value: str) -> int:
    """A duration as the fleet file writes it (30s, 5m, 1h) in seconds."""
    return int(value[:-1]) * _DURATION_UNITS[value[-1]]


def _check_duration(value: str) -> str:
    if not re.fullmatch(DURATION_PATTERN, value):
        raise ValueError(f"'{value}' is not a duration: a whole number and s, m or h "
                         "(e.g. 30s, 5m, 1h)")
    if duration_seconds(value) > MAX_DURATION:
        raise ValueError(f"'{value}' is longer than a week; is it a typo?")
    return value


def _check_digest_image(value: str) -> str:
    # Before the general image rule: its advice for ':latest' or no tag ("use a version tag")
    # suits a tenant's own gateway.image, not a channel, which takes a digest and nothing else.
    shaped = "://" not in value and len(value) <= 512 and _IMAGE_RE.fullmatch(value)
    if shaped and shaped.group("digest") is None:
        raise ValueError(f"'{value}' has no digest: a channel's image must be given by digest "
                         "(registry/path@sha256:<64 hex>), never by a tag, which can move "
                         "(not even a version tag)")
    _check_image(value)
    return value


def _check_wave(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("a wave is a count of tenants (e.g. 1) or a share (e.g. \"25%\")")
    if isinstance(value, int):
        if value < 1:
            raise ValueError(f"a wave of {value} tenants is empty; give at least 1")
        return value
    if isinstance(value, str) and re.fullmatch(WAVE_PATTERN, value):
        return value
    raise ValueError(f"{value!r} is not a wave: a count of tenants (e.g. 1) or a share from "
                     "\"1%\" to \"100%\" (in quotes)")


ChannelName = Annotated[str, AfterValidator(check_channel)]
Duration = Annotated[str, AfterValidator(_check_duration)]
DigestImage = Annotated[str, AfterValidator(_check_digest_image)]
WaveSize = Annotated[int | str, AfterValidator(_check_wave)]


class ResumeRequest(_Model):
    """An operator's resume of a halted rollout, written by `saas-infra rollout resume CHANNEL`:
    it forgives the failures of this one version that happened before `at`, and nothing else."""

    commit: CommitSha | None = Field(None, description="The channel's commit it resumes.",
                                     json_schema_extra={"pattern": COMMIT_PATTERN})
    image: DigestImage | None = Field(None, description="The channel's image it resumes.",
                                      json_schema_extra={"pattern": DIGEST_IMAGE_PATTERN})
    at: UtcDatetime = Field(description="When it was resumed (UTC); later failures halt again.")

    @model_validator(mode="after")
    def _one_version(self) -> ResumeRequest:
        if (self.commit is None) == (self.image is None):
            raise PydanticCustomError("resume_version", "give the version resumed: commit or "
                                      "image (exactly one)")
        return self

    @property
    def version(self) -> str:
        return self.commit or self.image or ""


class RolloutHealth(_Model):
    """The health gate of each tenant in a wave."""

    path: HealthcheckPath = Field(DEFAULT_HEALTHCHECK_PATH, description="Path of the gateway "
                                  "that must answer 200.",
                                  json_schema_extra={"pattern": HEALTHCHECK_PATH_PATTERN})
    timeout: Duration = Field(DEFAULT_ROLLOUT_TIMEOUT, description="How long a tenant may take "
                              "to reach SUCCESS and answer 200 (30s, 5m, 1h).",
                              json_schema_extra={"pattern": DURATION_PATTERN})


def _check_waves_grow(waves: list[int | str]) -> None:
    """Waves are cumulative, so each must reach further than the one before. Counts and shares
    compare only among themselves: how many tenants "25%" is depends on the channel, unknown
    offline. So counts come first (a small fixed canary), then shares, each strictly growing."""
    for index, (before, wave) in enumerate(zip(waves, waves[1:], strict=False), start=1):
        shown = f"\"{wave}\"" if isinstance(wave, str) else str(wave)
        if isinstance(before, str) and isinstance(wave, int):
            raise PydanticCustomError(
                "rollout_waves", "wave {number} ({shown}) is a count after the share "
                "\"{before}\": give counts first, then shares (e.g. [1, 5, \"25%\", \"100%\"])",
                {"number": index + 1, "shown": shown, "before": before,
                 "at": f"waves.{index}"})
        if type(before) is type(wave) and _wave_size(wave) <= _wave_size(before):
            raise PydanticCustomError(
                "rollout_waves", "wave {number} ({shown}) does not grow past wave {previous} "
                "({was}): waves are cumulative, each must be larger than the one before",
                {"number": index + 1, "shown": shown, "previous": index,
                 "was": f"\"{before}\"" if isinstance(before, str) else str(before),
                 "at": f"waves.{index}"})


def _wave_size(wave: int | str) -> int:
    return int(wave.rstrip("%")) if isinstance(wave, str) else wave


class RolloutSpec(_Model):
    """How a channel's new version reaches its tenants: wave by wave, each gated on health."""

    waves: list[WaveSize] = Field(
        default_factory=lambda: list[int | str](["100%"]),
        description="Cumulative wave sizes over the channel's tenants: a count (1) or a share "
        "(\"25%\"); the first is the canary, the last must be \"100%\".",
        json_schema_extra={"minItems": 1, "items": {"anyOf": [
            {"type": "integer", "minimum": 1}, {"type": "string", "pattern": WAVE_PATTERN}]}},
    )
    canary: list[TenantName] = Field(
        default_factory=list, description="Tenants that go first, in this order.",
        json_schema_extra={"items": {"type": "string", "pattern": NAME_PATTERN}},
    )
    health: RolloutHealth = Field(default_factory=lambda: RolloutHealth.model_validate({}),
                                  description="The health gate of each tenant.")
    soak: Duration = Field("0s", description="How long a healthy wave runs before the next "
                           "starts (30s, 5m, 1h).", json_schema_extra={"pattern": DURATION_PATTERN})
    max_failed: int = Field(0, ge=0, description="Failed tenants a rollout tolerates; one more "
                            "halts it.")
    on_failure: OnFailure = Field("hold", description="rollback: a failed tenant goes back to "
                                  "its last good deployment; hold: it is left as it is.")
    advance: Advance = Field("all", description="all: one pass runs the whole rollout (waiting "
                             "for each soak); wave: a pass starts at most one new wave, so each "
                             "merge (pass) approves the next.")

    @model_validator(mode="after")
    def _reaches_everyone(self) -> RolloutSpec:
        _check_waves_grow(self.waves)
        last = self.waves[-1] if self.waves else None
        if last != "100%":
            raise PydanticCustomError(
                "rollout_waves", "the last wave must be \"100%\" so the rollout reaches every "
                "tenant of the channel", {"at": "waves"})
        return self


class ChannelSpec(_Model):
    """A release channel: the one version its tenants run."""

    commit: CommitSha | None = Field(
        None, description="The full 40-hex commit SHA of the gateway's repo.",
        json_schema_extra={"pattern": COMMIT_PATTERN})
    image: DigestImage | None = Field(
        None, description="An image by digest: registry/path@sha256:<64 hex>.",
        json_schema_extra={"pattern": DIGEST_IMAGE_PATTERN})
    rollout: RolloutSpec | None = Field(None, description="This channel's own rollout "
                                        "(instead of the fleet's).")
    resume: ResumeRequest | None = Field(None, description="An operator's resume of a halted "
                                         "rollout (written by `saas-infra rollout resume`).")

    @model_validator(mode="after")
    def _one_version(self) -> ChannelSpec:
        if self.commit is not None and self.image is not None:
            raise PydanticCustomError("channel_version", "give either commit or image, not both",
                                      {"at": "image"})
        if self.commit is None and self.image is None:
            raise PydanticCustomError("channel_version", "give the channel's version: commit "
                                      "(a full 40-hex SHA) or image (@sha256: digest)")
        return self

    @property
    def version(self) -> str:
        return self.commit or self.image or ""


class TenantDefaults(_Model):
    """What a manifest inherits: the fleet's `defaults`, or one of its `tiers`."""

    region: RegionId | None = _field(None, _REGION_FIELD)
    gateway: GatewayDefaults | None = Field(None, description="Gateway defaults.")
    postgres: PostgresDefaults | None = Field(None, description="Postgres defaults.")
    channel: ChannelName | None = Field(
        None, description="A release channel of fleet.yaml's `channels`: tenants run its version.",
        json_schema_extra={"pattern": CHANNEL_PATTERN})


class FleetFile(_Model):
    """fleet.yaml: what every tenant inherits, and named tiers a manifest picks with `tier:`.
    A manifest's own fields win over its tier's, and its tier's over the defaults."""

    version: Annotated[Literal[1], BeforeValidator(_not_bool)] = Field(
        description="Fleet file format version."
    )
    defaults: TenantDefaults = Field(
        default_factory=lambda: TenantDefaults(region=None, gateway=None, postgres=None,
                                               channel=None),
        description="Fields every manifest inherits.",
    )
    tiers: dict[TierName, TenantDefaults] = Field(
        default_factory=dict,
        description="Named bundles of fields; a manifest picks one with `tier: NAME`.",
        json_schema_extra={"propertyNames": {"pattern": TIER_PATTERN}},
    )
    channels: dict[ChannelName, ChannelSpec] = Field(
        default_factory=dict,
        description="Release channels: NAME: {commit: SHA} or {image: ref@sha256:...}. A tenant "
        "follows `channel:` (its own, its tier's or the defaults') unless it pins gateway.commit.",
        json_schema_extra={"propertyNames": {"pattern": CHANNEL_PATTERN}},
    )
    rollout: RolloutSpec | None = Field(
        None, description="How a channel's new version rolls out: waves, health gate, soak, "
        "failures. Without it every tenant of the channel is deployed at once.")

    @model_validator(mode="after")
    def _known_channels(self) -> FleetFile:
        for where, layer in [(("defaults",), self.defaults),
                             *((("tiers", name), tier) for name, tier in self.tiers.items())]:
            if layer.channel is not None and layer.channel not in self.channels:
                known = ", ".join(sorted(self.channels)) or "none"
                raise PydanticCustomError(
                    "unknown_channel", "unknown channel '{name}': channels defines {known}",
                    {"name": layer.channel, "known": known, "at": ".".join((*where, "channel"))})
        return self

    def rollout_of(self, channel: str) -> RolloutSpec | None:
        """The rollout a channel's new version follows: its own, else the fleet's."""
        spec = self.channels.get(channel)
        return spec.rollout if spec is not None and spec.rollout is not None else self.rollout


class RedeployRequest(_Model):
    """A request for a fresh deploy of the gateway, written by `saas-infra redeploy`."""

    requested_at: UtcDatetime = Field(description="When the redeploy was requested (UTC).")


class Tombstone(_Model):
    """A deletion request, written by `saas-infra delete`. The tenant runs until the deadline."""

    requested_at: UtcDatetime = Field(description="When deletion was requested (UTC).")
    grace_days: int = Field(
        DEFAULT_GRACE_DAYS,
        ge=0,
        le=MAX_GRACE_DAYS,
        description="Days the tenant keeps running before it is deleted. 0 allowed.",
    )
    force: bool = Field(False, description="true: delete now, without waiting for the deadline.")

    @property
    def deadline(self) -> datetime:
        return self.requested_at + timedelta(days=self.grace_days)

    def is_due(self, now: datetime) -> bool:
        return self.force or now >= self.deadline


class TenantManifest(_Model):
    """The desired state of one luthien-proxy tenant."""

    version: Annotated[Literal[1], BeforeValidator(_not_bool)] = Field(
        description="Manifest format version."
    )
    name: TenantName = Field(
        description="Tenant name; equals the file name. The Railway project is luthien-<name>.",
        json_schema_extra={"pattern": NAME_PATTERN, "maxLength": NAME_MAX},
    )
    tier: Annotated[str, AfterValidator(check_tier)] | None = Field(
        None,
        description="A tier of fleet.yaml whose fields this manifest inherits (its own win).",
        json_schema_extra={"pattern": TIER_PATTERN},
    )
    region: RegionId | None = _field(None, _REGION_FIELD)
    channel: Annotated[str, AfterValidator(check_channel)] | None = Field(
        None, description="The release channel of fleet.yaml this tenant follows (its version "
        "becomes gateway.commit or gateway.image); a gateway.commit of its own wins.",
        json_schema_extra={"pattern": CHANNEL_PATTERN})
    gateway: GatewaySpec = Field(
        description="The luthien-proxy gateway service; fleet.yaml may give its fields."
    )
    postgres: PostgresSpec = Field(
        default_factory=lambda: PostgresSpec(),
        description="The Postgres service: its volume's backup schedule (daily by default).",
    )
    redeploy: RedeployRequest | None = Field(
        None, description="A pending request for a fresh deploy (written by saas-infra redeploy)."
    )
    deletion: Tombstone | None = Field(
        None, description="A deletion request (written by saas-infra delete)."
    )

    @property
    def project_name(self) -> str:
        return tenancy.project_name(self.name)


def lacks_provider_key(manifest: TenantManifest) -> bool:
    """A gateway that serves client-key traffic without declaring the provider key: luthien-proxy
    answers that traffic with HTTP 500 unless someone set the key on Railway by hand."""
    gateway = manifest.gateway
    return gateway.auth_mode in ("client_key", "both") and PROVIDER_KEY not in gateway.secrets


# Which model describes the mapping at a given path; used to list the fields allowed there.
MODEL_AT: dict[tuple[str, ...], type[BaseModel]] = {
    (): TenantManifest,
    ("gateway",): GatewaySpec,
    ("gateway", "healthcheck"): HealthCheck,
    ("gateway", "restart"): RestartPolicy,
    ("gateway", "resources"): Resources,
    ("postgres",): PostgresSpec,
    ("gateway", "secrets", "*"): SecretRef,  # "*": any secret's name
    ("redeploy",): RedeployRequest,
    ("deletion",): Tombstone,
}

# The same for fleet.yaml, where a tier's path ("tiers", NAME, ...) reads like ("defaults", ...).
FLEET_MODEL_AT: dict[tuple[str, ...], type[BaseModel]] = {
    (): FleetFile,
    ("defaults",): TenantDefaults,
    ("defaults", "gateway"): GatewayDefaults,
    ("defaults", "gateway", "healthcheck"): HealthCheckDefaults,
    ("defaults", "gateway", "restart"): RestartDefaults,
    ("defaults", "gateway", "resources"): Resources,
    ("defaults", "postgres"): PostgresDefaults,
    ("defaults", "gateway", "secrets", "*"): SecretRef,
    ("channels", "*"): ChannelSpec,
    ("channels", "*", "resume"): ResumeRequest,
    ("channels", "*", "rollout"): RolloutSpec,
    ("channels", "*", "rollout", "health"): RolloutHealth,
    ("rollout",): RolloutSpec,
    ("rollout", "health"): RolloutHealth,
}
