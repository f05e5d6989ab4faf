"""The scheduled pass for teams not on GitHub Actions: the crontab line and its script (run for
real against the emulator over HTTP, pulling from a local git remote), and the Kubernetes
CronJob (checked by structure: it needs a cluster and the network)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import yaml

from saas_infra import manifest as mf
from saas_infra.settings import TOKEN_VARIABLES
from tests.test_gitops_run import World, world  # noqa: F401  (the fixture)

CRON = Path(__file__).resolve().parents[1] / "examples" / "cron"
HOURLY = re.compile(r"^(\d{1,2}) \* \* \* \*$")


def crontab_lines() -> list[str]:
    text = (CRON / "crontab").read_text()
    return [line for line in text.splitlines() if line.strip() and not line.startswith("#")]


def test_the_crontab_runs_the_script_hourly_with_a_usable_environment():
    lines = crontab_lines()
    settings = dict(line.split("=", 1) for line in lines if re.match(r"^[A-Z_]+=", line))
    [job] = [line for line in lines if not re.match(r"^[A-Z_]+=", line)]
    fields = job.split(None, 5)
    assert HOURLY.match(" ".join(fields[:5])) and int(fields[0]) < 60
    assert fields[5].startswith("flock --nonblock ") and "saas-infra-pass.sh" in fields[5]
    assert ".local/bin" in settings["PATH"] and settings["SHELL"] == "/bin/bash"
    assert {"SAAS_INFRA_REPO_DIR", "SAAS_INFRA_ENV_FILE"} <= set(settings)
    crontab = (CRON / "crontab").read_text()
    for name in TOKEN_VARIABLES:  # the token lives in a file, under either name
        assert name not in crontab, name


def test_the_pass_script_is_valid_bash_that_never_traces():
    script = (CRON / "saas-infra-pass.sh").read_text()
    assert subprocess.run(["bash", "-n", str(CRON / "saas-infra-pass.sh")], check=False).returncode == 0
    assert os.access(CRON / "saas-infra-pass.sh", os.X_OK)
    assert not re.search(r"^\s*set -[a-z]*x", script, re.MULTILINE)
    assert script.rstrip().endswith("exec saas-infra apply --yes --lock-timeout 1200")


def git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", "-c", "user.name=ops", "-c", "user.email=ops@example.com",
                    "-c", "init.defaultBranch=main", *args], cwd=cwd, check=True,
                   capture_output=True)


def test_the_cron_script_pulls_main_and_applies_it(world: World, tmp_path: Path):  # noqa: F811
    origin, clone = tmp_path / "origin.git", tmp_path / "fleet"
    git("init", "--bare", str(origin), cwd=tmp_path)
    git("init", cwd=world.repo)
    git("add", "tenants", "fleet.yaml", cwd=world.repo)
    git("commit", "-m", "two tenants", cwd=world.repo)
    git("push", str(origin), "HEAD:main", cwd=world.repo)
    git("clone", str(origin), str(clone), cwd=tmp_path)
    env_file = tmp_path / "railway.env"
    env_file.write_text(f"RAILWAY_API_TOKEN={world.emu.workspace_token}\n"
                        f"RAILWAY_WORKSPACE_ID={world.emu.workspace_id}\n")
    env_file.chmod(0o600)
    env = {**world.env, "SAAS_INFRA_REPO_DIR": str(clone), "SAAS_INFRA_ENV_FILE": str(env_file)}
    del env["CI"]  # the script sets it itself

    def run() -> subprocess.CompletedProcess:
        return subprocess.run([str(CRON / "saas-infra-pass.sh")], env=env, capture_output=True,
                              text=True, timeout=120, check=False)

    first = run()
    assert first.returncode == 0, first.stderr
    assert sorted(world.projects()) == ["luthien-acme", "luthien-globex"]
    assert world.emu.workspace_token not in first.stdout + first.stderr

    mf.set_tombstone(world.repo / "tenants" / "globex.yaml", world.clock.now(), grace_days=0)
    git("commit", "-am", "globex leaves", cwd=world.repo)
    git("push", str(origin), "HEAD:main", cwd=world.repo)
    announce = run()  # the deadline is written on Railway first...
    assert announce.returncode == 0, announce.stderr
    assert world.projects()["luthien-globex"]["deletedAt"] is None
    second = run()  # ...and the next hour's pass deletes
    assert second.returncode == 0, second.stderr
    assert world.projects()["luthien-globex"]["deletedAt"] is not None
    assert world.projects()["luthien-acme"]["deletedAt"] is None


def test_the_kubernetes_cronjob():
    job = yaml.safe_load((CRON / "cronjob.yaml").read_text())
    assert (job["apiVersion"], job["kind"]) == ("batch/v1", "CronJob")
    spec = job["spec"]
    assert HOURLY.match(spec["schedule"]) and spec["concurrencyPolicy"] == "Forbid"
    assert spec["jobTemplate"]["spec"]["backoffLimit"] == 0
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never" and pod["securityContext"]["runAsNonRoot"] is True
    assert pod["automountServiceAccountToken"] is False
    [container] = pod["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    env = {e["name"]: e for e in container["env"]}
    for name in ("RAILWAY_API_TOKEN", "RAILWAY_WORKSPACE_ID"):
        assert "value" not in env[name]
        assert env[name]["valueFrom"]["secretKeyRef"] == {"name": "saas-infra-railway",
                                                           "key": name}
    assert env["CI"]["value"] == "true"
    assert re.search(r"@v\d+\.\d+\.\d+$", env["SAAS_INFRA_PACKAGE"]["value"])
    script = container["args"][0]
    assert "saas-infra apply --yes --lock-timeout 1200" in script
    checked = subprocess.run(["bash", "-n"], input=script, text=True, capture_output=True,
                             check=False)
    assert checked.returncode == 0, checked.stderr
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert {"/work", "/tmp"} <= mounts and env["HOME"]["value"] == "/work"
