"""Railway's official Postgres and Redis templates as `template(code:)` serves them, and the
evaluation of template functions (`${{secret(n, "alphabet")}}`) at deploy time.

The serialized configs follow API-NOTES §4.8 and §8. Pure data and functions: no state, no clock.
"""

from __future__ import annotations

import copy
import random
import re
import string
from typing import Any

POSTGRES_TEMPLATE_ID = "8e3a1c4f-2b6d-4e1a-9c7f-5d2b8a6e3f10"
REDIS_TEMPLATE_ID = "2f7c9e1b-6a4d-4b8e-a3f5-1c9d7e2b4a60"


def _var(default: str, description: str = "", optional: bool = False) -> dict[str, Any]:
    return {"defaultValue": default, "description": description, "isOptional": optional}


_POSTGRES_SERVICE = {
    "name": "Postgres",
    "icon": "https://devicons.railway.app/i/postgresql.svg",
    "source": {"image": "ghcr.io/railwayapp-templates/postgres-ssl:18"},
    "variables": {
        "POSTGRES_USER": _var("postgres", "Superuser name"),
        "POSTGRES_PASSWORD": _var("${{secret(32)}}", "Superuser password"),
        "POSTGRES_DB": _var("railway", "Default database"),
        "PGUSER": _var("${{POSTGRES_USER}}"),
        "PGPASSWORD": _var("${{POSTGRES_PASSWORD}}"),
        "PGDATABASE": _var("${{POSTGRES_DB}}"),
        "PGHOST": _var("${{RAILWAY_PRIVATE_DOMAIN}}"),
        "PGPORT": _var("5432"),
        "PGDATA": _var("/var/lib/postgresql/data/pgdata"),
        "DATABASE_URL": _var(
            "postgresql://${{PGUSER}}:${{POSTGRES_PASSWORD}}@${{RAILWAY_PRIVATE_DOMAIN}}"
            ":5432/${{PGDATABASE}}",
            "Private connection URL",
        ),
        "DATABASE_PUBLIC_URL": _var(
            "postgresql://${{PGUSER}}:${{POSTGRES_PASSWORD}}@${{RAILWAY_TCP_PROXY_DOMAIN}}"
            ":${{RAILWAY_TCP_PROXY_PORT}}/${{PGDATABASE}}",
            "Public connection URL (needs a TCP proxy)",
        ),
        "SSL_CERT_DAYS": _var("820", optional=True),
        "RAILWAY_DEPLOYMENT_DRAINING_SECONDS": _var("60", optional=True),
    },
    "volumeMounts": {"c1a7e3d9-postgres-volume": {"mountPath": "/var/lib/postgresql/data"}},
    "networking": {"tcpProxies": {"5432": {}}, "serviceDomains": {}},
    "deploy": {"numReplicas": 1, "restartPolicyType": "ON_FAILURE"},
}

_REDIS_START = (
    '/bin/sh -c "rm -rf $RAILWAY_VOLUME_MOUNT_PATH/lost+found/ && exec docker-entrypoint.sh'
    ' redis-server --requirepass $REDIS_PASSWORD --save 60 1 --dir $RAILWAY_VOLUME_MOUNT_PATH"'
)

_REDIS_SERVICE = {
    "name": "Redis",
    "icon": "https://devicons.railway.app/i/redis.svg",
    "source": {"image": "redis:8.2"},
    "variables": {
        "REDIS_PASSWORD": _var("${{secret(32)}}", "Password for the default user"),
        "REDISUSER": _var("default"),
        "REDISPORT": _var("6379"),
        "REDISHOST": _var("${{RAILWAY_PRIVATE_DOMAIN}}"),
        "REDISPASSWORD": _var("${{REDIS_PASSWORD}}"),
        "REDIS_URL": _var(
            "redis://${{REDISUSER}}:${{REDIS_PASSWORD}}@${{REDISHOST}}:${{REDISPORT}}",
            "Private connection URL",
        ),
        "REDIS_PUBLIC_URL": _var(
            "redis://default:${{REDIS_PASSWORD}}"
            "@${{RAILWAY_TCP_PROXY_DOMAIN}}:${{RAILWAY_TCP_PROXY_PORT}}",
            "Public connection URL (needs a TCP proxy)",
        ),
    },
    "volumeMounts": {"5e8b2f6a-redis-volume": {"mountPath": "/data"}},
    "networking": {"tcpProxies": {"6379": {}}, "serviceDomains": {}},
    "deploy": {"startCommand": _REDIS_START, "numReplicas": 1, "restartPolicyType": "ON_FAILURE"},
}

_CATALOGUE = {
    "postgres": {
        "id": POSTGRES_TEMPLATE_ID,
        "code": "postgres",
        "name": "PostgreSQL",
        "serializedConfig": {
            "services": {"3b9f6d2e-postgres": _POSTGRES_SERVICE},
            "volumes": {"c1a7e3d9-postgres-volume": {"name": "postgres-volume"}},
        },
    },
    "redis": {
        "id": REDIS_TEMPLATE_ID,
        "code": "redis",
        "name": "Redis",
        "serializedConfig": {
            "services": {"7d4a1e8c-redis": _REDIS_SERVICE},
            "volumes": {"5e8b2f6a-redis-volume": {"name": "redis-volume"}},
        },
    },
}


def find(code: str | None = None, template_id: str | None = None) -> dict[str, Any] | None:
    """A fresh copy of the template (callers may mutate it), or None."""
    for template in _CATALOGUE.values():
        if template["code"] == code or template["id"] == template_id:
            found: dict[str, Any] = copy.deepcopy(template)
            found.update(status="PUBLISHED", isVerified=True, workspaceId=None)
            return found
    return None


_SECRET = re.compile(r"\$\{\{\s*secret\(\s*(\d*)\s*(?:,\s*[\"']([^\"']*)[\"']\s*)?\)\s*\}\}")
_SECRET_ALPHABET = string.ascii_letters + string.digits


def evaluate_functions(value: str, rng: random.Random) -> str:
    """Replace each `${{secret(...)}}` by fresh random characters; leave references alone."""

    def draw(match: re.Match[str]) -> str:
        length = int(match.group(1) or 32)
        alphabet = match.group(2) or _SECRET_ALPHABET
        return "".join(rng.choice(alphabet) for _ in range(length))

    return _SECRET.sub(draw, value)


def variable_values(service_config: dict[str, Any], rng: random.Random) -> dict[str, str]:
    """The raw values a template service starts with: each variable's `value` as sent.

    Railway's CLI fills every `value` itself before templateDeployV2 (railwayapp/cli
    src/commands/deploy.rs `fetch_and_create`); nothing documents a server-side fallback to
    `defaultValue`, so a variable sent without a value deploys empty (the plausible worst case).
    """
    out: dict[str, str] = {}
    for name, spec in (service_config.get("variables") or {}).items():
        raw = spec.get("value") if isinstance(spec, dict) else spec
        out[str(name)] = evaluate_functions("" if raw is None else str(raw), rng)
    return out
