"""A local emulator of Railway's public GraphQL API (/graphql/v2), for tests and --sandbox.

It serves a hand-written subset of Railway's schema (schema.graphql), validated like the real
endpoint, with Railway's error shapes, auth rules, rate-limit headers, deployment life cycles,
variable rendering, Postgres/Redis templates, gateway /health checks and switchable faults.
Use it in-process (`emu.transport()` for httpx) or over HTTP (server.py). It never imports the
client (saas_infra.railway), so it cannot share the client's mistakes.

Behaviours taken from Railway's own clients and docs (railwayapp/cli at df3838bf, railwayapp/docs
at c2a634f1, terraform-community-providers/terraform-provider-railway at b1cd755):
- Masked values: Environment.config without decryptVariables, or read by a token whose owner may
  not decrypt (Emulator.masked_token()), has every value null. cli src/commands/postgres/mod.rs,
  module doc (02bb71b9, #1052): "the non-decrypted config masks EVERY variable value as null";
  "The caller's own access already gates decryption server-side". Such a token reads `variables`
  as names with null values (not documented: the plausible worst case).
- Sealed variables (Emulator.seal_variable(), as Railway's dashboard seals): settable, passed
  to deployments, never read back: null with isSealed in the config (cli
  src/controllers/config/environment.rs `is_sealed`, e330dcb0), left out of `variables`. docs
  content/docs/variables.md "Sealed variables": "never visible in the UI nor can it be retrieved
  via the API"; "not provided when using `railway variables`".
- Deploys and commits: serviceInstanceDeploy(latestCommit: true) takes the branch head
  (Emulator.push_commit() moves it without telling Railway: nothing deploys);
  serviceInstanceRedeploy and the deploy a variable write triggers keep the commit running. cli src/commands/redeploy.rs: the default redeploy is
  deploymentRedeploy of the latest deployment, `--from-source` is serviceInstanceDeploy with
  latestCommit (e5a2096c, #865); cli src/commands/mcp/handler.rs (a7aeeccf, #813): a variable
  write "Triggers a redeploy unless skip_deploys is true"; terraform internal/provider/
  resource_variable_collection.go calls serviceInstanceRedeploy after a variable change.
- Template workflows: templateDeployV2 starts a workflow (NotFound, Running, Complete). cli
  src/commands/add.rs and deploy.rs `fetch_and_create` deploy one database template and wait
  for its workflow before the next (c54342ae, #763). Whether Railway runs two workflows of one
  environment at once is documented nowhere: the emulator accepts it and counts it
  (Emulator.template_overlaps()) so tests can check the client never does it.
- Deployment statuses (Emulator.script_next_deploy(status); lifecycle.py): FAILED, CRASHED,
  WAITING ("Waiting for CI", then the usual phases), NEEDS_APPROVAL (until deploymentApprove),
  SKIPPED (nothing deployed; the deployment before keeps running), SLEEPING (after 10 idle
  minutes, docs content/docs/deployments/serverless.md; /health wakes it), REMOVING then
  REMOVED. cli src/commands/output/service_summary.rs (0c235ede, #859): WAITING is in
  progress, NEEDS_APPROVAL "Awaiting approval", SLEEPING stable beside SUCCESS; docs
  content/docs/builds/build-configuration.md (watch paths): unmatched changes "skip creating a
  new deployment". How long WAITING and REMOVING last is not documented (chosen here).
- Releases (triggers.py, github.py, commits.py, rollbacks.py, gateway.py; each docstring has
  its evidence): connecting a repo creates a deployment trigger per environment (cli
  src/commands/service.rs, 4539b8f8, #934; one per service and environment, the branch on it:
  terraform internal/provider/resource_service.go, c84b997); a GitHub push
  (Emulator.github_push(), `POST /github/push`) deploys every service whose enabled trigger
  names the repo and branch (docs content/docs/deployments/github-autodeploys.md), WAITING
  first with checkSuites ("Wait for CI"); deleting the trigger, or the dashboard's autodeploy
  switch (Emulator.set_autodeploy(), invisible to the API), stops that.
  serviceInstanceDeployV2(commitSha:) deploys exactly a commit of the connected repo, else
  "Commit not found" (docs content/docs/integrations/api/manage-services.md); meta.commitHash
  is the full SHA (cli src/commands/mcp/handler.rs, a7aeeccf); an image pinned by digest adds
  meta.imageDigest (reported: CopilotKit PR #4210). A version's outcome
  (Emulator.set_commit_outcome() / set_image_outcome(), `POST /_emulator/commits|images`):
  success, build_failed, crashes, unhealthy (503 on the health path; FAILED after
  healthcheckTimeout when the instance has a healthcheckPath: docs
  content/guides/ship-on-merge-pr-canaries.md). deploymentRollback(id:) redeploys a REMOVED
  deployment's commit or image, settings snapshot and variables within the plan's image
  retention (docs content/docs/deployments/deployment-actions.md, content/docs/pricing/
  plans.md); canRollback is false otherwise, the running deployment included (worst case).
- Connecting a repo deploys its branch's head, by serviceConnect or by serviceCreate with a
  source and branch (docs content/docs/integrations/api/manage-services.md, "Git branch to
  deploy"); serviceInstanceUpdate(source: {repo}) connects nothing and an image given there is
  assigned without a deployment (terraform resource_service.go, c84b997; PR #21); a trigger
  made for a service with no source connects nothing (worst case). instances.py, triggers.py.
- Which deployment serves a gateway: the newest that went live; a failed, skipped or
  unfinished newer one leaves it serving, a crashed one replaced it (docs
  content/docs/deployments/reference.md, "Singleton deploys").
- Test controls (controls.py: /github/push, /_emulator/commits, /_emulator/images,
  /_emulator/gateway/<domain>/<path>, /_emulator) answer without credentials, rate limits or
  faults. They are not Railway endpoints: never expose an emulator beyond the machine.
- `template(code:)` answers an anonymous request and refuses an authenticated one with
  "Not Authorized": railwayapp/cli 991d8f0b (PR #837, fixing #830), src/client.rs `new_public`.
- templateDeployV2 deploys each variable with the `value` it was sent and never falls back to
  `defaultValue`: railwayapp/cli src/commands/deploy.rs `fetch_and_create` fills every value
  itself; nothing documents a fallback, so a variable sent without one deploys empty (the
  plausible worst case).
- `Workspace.projects` lists projects pending deletion, with `deletedAt`: railwayapp/cli #632
  and PR #633 (84f42041), src/commands/link.rs and src/commands/delete.rs, which read it through
  `me { workspaces { projects } }` and filter `deletedAt` themselves. `projects` without
  `includeDeleted` is taken to do the same (the worst case for a client that assumed it filters
  them). `projects(includeDeleted: true)` also lists
  projects removed long ago (after the 48-hour grace, or by projectDelete), kept forever:
  railwayapp/cli src/commands/usage.rs (3ea92451, PR #1001), "Deleted on <date>".
- `Workspace.projectCount`: no Railway client or document reads it, so what it counts is
  unsourced. By default, what the listing with the same `includeDeleted` holds, pending
  deletions included (the case that trips a client comparing it with live projects only);
  `Emulator.project_count_pending = False` leaves projects pending deletion out (the case that
  hides a live project missing from a listing that shows a pending one). Tests cover both.
- `me` refuses workspace tokens; `workspace(workspaceId:)` answers both token kinds for a
  workspace they reach, "Not Authorized" otherwise: railwayapp/docs
  content/docs/integrations/api.md. `me { workspaces }`: railwayapp/docs
  content/docs/integrations/oauth/fetching-workspaces-or-projects.md. `apiToken { workspaces }`
  is in the published schema only; no client or document uses it.
- Concurrent writes to one project description or one variable both succeed and the later
  stays: no version, no conflict error. No source describes concurrency or offers a
  precondition: ProjectUpdateInput and VariableUpsertInput carry no version (terraform
  schema.graphql), terraform internal/provider/resource_project.graphql reads a description and
  writes it back with projectUpdate, docs content/docs/integrations/api/manage-variables.md says
  "create or update", cli src/commands/variable.rs checks a variable exists before deleting it.
  Last writer wins is the worst case for one name (mutations.py has the details).
- Fault switch `repeat_cursor` (a `projects` page asked for with a cursor hands the same cursor
  back with hasNextPage): no source reports it; it exists to show a client cannot be made to loop.

What it does NOT model (tests must not rely on these):
- Project tokens (`Project-Access-Token`), OAuth tokens, 2FA prompts, workspace members and roles.
- Environments beyond the one projectCreate makes (no environmentCreate), forks, PR environments.
- Builds, images, containers, logs, TCP proxies, custom domains, metrics, usage and billing.
- Tenant settings (instances.py, regions.py, volumes.py) are stored, read back and snapshotted
  by deployments, and a region change migrates a volume; beyond that they change nothing:
  a health check gates only an unhealthy version (commits.py), no replica restarts, limits
  bound nothing.
  Volumes come only from templates (no volumeCreate, manual backups or restores).
- Cancelling superseded in-progress deployments; REMOVING on the way to REMOVED when a newer
  deployment replaces one (only a scripted removal passes through it); deploymentRedeploy;
  deployment instances; redeploy-race errors; which roles may decrypt (one switch per token);
  restricted environments (Environment.canAccess).
- GitHub: any repo and branch exist (LuthienResearch/luthien-proxy's `main` starts with five
  seeded commits: test fixtures, commits.py, not a Railway behaviour); `User does not have access to the repo` never happens;
  CI never fails (a "Wait for CI" deploy is never SKIPPED); watch paths; webhook signatures;
  serviceDisconnect; `meta.reason` and the other meta keys third parties report.
- serviceDelete with environmentId deletes the whole service; deletedAt of services/environments.
- The `variables` query returns rendered RAILWAY_* values, but not RAILWAY_TCP_PROXY_*,
  RAILWAY_DEPLOYMENT_ID, RAILWAY_GIT_* or volume variables (they render as "").
- What Railway keeps of a removed project's services and environments (an includeDeleted
  listing shows the bare project); a maximum for `first`; unordered or offset-based cursors.
- `includeDeleted` of deployments, `userId` of projects, introspection-based tooling quirks,
  the Cloudflare `?source=` exemption (html_429 is a fault switch instead), HTTP/2.
- Encryption itself: template secrets come from the seeded generator (same seed, same
  passwords), so they are not secret; sealing through the API (only seal_variable() seals).
- Several processes sharing one state_file: each rewrites the whole file, the last one wins.
- Reads that see a write only later, and a write that loses a concurrent write to another
  variable name. Concurrent writes to one description or variable: the last one stays, both
  succeed (mutations.py says which public sources this rests on).
"""

from .core import Emulator
from .faults import ConnectionDropped, Faults, GatewayTimeout
from .ratelimit import RateLimits

__all__ = ["ConnectionDropped", "Emulator", "Faults", "GatewayTimeout", "RateLimits"]
