#!/usr/bin/env bash
# The scheduled saas-infra pass for a machine with cron (see ./crontab): bring the tenants clone
# up to date with main, then apply it. It deletes tenants whose deadline passed and repairs drift.
#
#   SAAS_INFRA_REPO_DIR   the clone of the repository that holds tenants/ (required)
#   SAAS_INFRA_ENV_FILE   RAILWAY_API_TOKEN=... and RAILWAY_WORKSPACE_ID=... lines, readable by this
#                         user only (chmod 600) [default: /etc/saas-infra/env]
#
# saas-infra must be on PATH (`uv tool install "saas-infra @ git+https://...@vX.Y.Z"`). The exit
# code is saas-infra's (0 ok, 1 error, 3 a safety guard), so cron's mail or a monitor sees it.
# Never add `set -x` here: it would print the token.
set -euo pipefail

repo_dir=${SAAS_INFRA_REPO_DIR:?set SAAS_INFRA_REPO_DIR to the clone that holds tenants/}
env_file=${SAAS_INFRA_ENV_FILE:-/etc/saas-infra/env}

if [ -f "$env_file" ]; then
  set -a
  # shellcheck disable=SC1090
  . "$env_file"
  set +a
fi

cd "$repo_dir"
git pull --ff-only --quiet # the desired state is main as it is now
echo "saas-infra pass at $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(git rev-parse --short HEAD)"
export CI=true # generated keys are never printed
exec saas-infra apply --yes --lock-timeout 1200
