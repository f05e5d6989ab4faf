"""A local emulator of Railway's public GraphQL API (/graphql/v2), for tests and --sandbox.

It serves a hand-written subset of Railway's schema (schema.graphql), validated like the real
endpoint, with Railway's error shapes, auth rules, rate-limit headers, deployment life cycles,
variable rendering, Postgres/Redis templates, gateway /health checks and switchable faults.
Use it in-process (`emu.transport()` for httpx) or over HTTP (server.py). It never imports the
client (saas_infra.railway), so it cannot share the client's mistakes.

What it does NOT model (tests must not rely on these):
- Project tokens (`Project-Access-Token`), OAuth tokens, 2FA prompts, workspace members and roles.
- Environments beyond the one projectCreate makes (no environmentCreate), forks, PR environments.
- Builds, images, containers, logs, TCP proxies, custom domains, metrics, usage and billing.
- Tenant settings (instances.py, regions.py, volumes.py) are stored, read back and snapshotted
  by deployments, and a region change migrates a volume; beyond that they change nothing: no
  health check gates a deploy, no app sleeps, no replica restarts, limits bound nothing.
  Volumes come only from templates (no volumeCreate, manual backups or restores).
- Cancelling superseded in-progress deployments, REMOVING, SLEEPING, SKIPPED, WAITING and
  NEEDS_APPROVAL statuses; deployment instances; redeploy-race errors.
- GitHub: any repo and branch exist; `User does not have access to the repo` never happens.
- serviceDelete with environmentId deletes the whole service; deletedAt of services/environments.
- The `variables` query returns rendered RAILWAY_* values, but not RAILWAY_TCP_PROXY_*,
  RAILWAY_DEPLOYMENT_ID, RAILWAY_GIT_* or volume variables (they render as "").
- `includeDeleted` of deployments, `userId` of projects, introspection-based tooling quirks,
  the Cloudflare `?source=` exemption (html_429 is a fault switch instead), HTTP/2.
- Encryption: Environment.config without decryptVariables lists names with no values; template
  secrets come from the seeded generator (same seed, same passwords), so they are not secret.
- Several processes sharing one state_file: each rewrites the whole file, the last one wins.
"""

from .core import Emulator
from .faults import ConnectionDropped, Faults, GatewayTimeout
from .ratelimit import RateLimits

__all__ = ["ConnectionDropped", "Emulator", "Faults", "GatewayTimeout", "RateLimits"]
