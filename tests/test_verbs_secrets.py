"""Secrets stay out of output: with CI set no tenant key is printed, and the Railway token never
appears anywhere (stdout, stderr, or any file a verb writes)."""

from __future__ import annotations

import json

import pytest

KEY_NAMES = ("CLIENT_API_KEY", "ADMIN_API_KEY")
CI = {"CI": "true"}


def gateway_keys(emu) -> list[str]:
    """Every generated key Railway holds for any tenant, read from the emulator."""
    return [
        service["variables"][key]
        for project in emu.snapshot()["projects"]
        for service in project["services"]
        if service["name"] == "gateway"
        for key in KEY_NAMES
        if key in service["variables"]
    ]


def everything_written(root) -> str:
    return "\n".join(path.read_text(errors="replace") for path in sorted(root.rglob("*"))
                     if path.is_file())


def outputs(results) -> str:
    return "\n".join(r.stdout + r.stderr for r in results)


def test_with_ci_set_no_key_is_ever_printed(run_cli, emu, tmp_path):
    results = [
        run_cli("create", "acme", env=CI),
        run_cli("create", "globex", "--json", env=CI),
        run_cli("list", "--json", env=CI),
        run_cli("status", "acme", "--json", env=CI),
        run_cli("credentials", "acme", env=CI),
        run_cli("credentials", "acme", "--json", env=CI),
    ]
    made = gateway_keys(emu)
    results += [
        run_cli("credentials", "globex", "--rotate", env=CI),
        run_cli("credentials", "acme", "--rotate", "--json", env=CI),
    ]

    keys = gateway_keys(emu)
    assert len(keys) == 4
    assert keys == made  # a rotation nobody could see is refused, not made
    assert [r.exit_code for r in results] == [0, 0, 0, 0, 1, 1, 1, 1]
    text = outputs(results)
    assert not any(key in text for key in keys)
    assert not any(key in everything_written(tmp_path) for key in keys)
    assert json.loads(results[1].stdout)["credentials"] is None
    assert results[0].stderr.splitlines()[-1] == (
        "Keys not shown because CI is set; `saas-infra credentials acme`, run outside CI, reads "
        "them from Railway.")
    assert results[4].stderr == ("Error: keys are never printed when CI is set\n"
                                 "Hint: run `saas-infra credentials acme` from a terminal\n")
    assert results[6].stderr == (
        "Error: refusing to rotate keys when CI is set: the new keys would never be shown, and "
        "the old ones stop working; nothing was changed\n"
        "Hint: run `saas-infra credentials globex --rotate` from a terminal\n")
    assert json.loads(results[7].stdout)["error"]["type"] == "ConfigError"


@pytest.mark.parametrize("value", ["false", "0", ""])
def test_ci_turned_off_shows_the_keys_once(run_cli, emu, value):
    result = run_cli("create", "acme", env={"CI": value})

    assert result.exit_code == 0
    assert all(key in result.stdout for key in gateway_keys(emu))


def test_the_token_never_appears_anywhere(run_cli, emu, tmp_path, write_tenant, clock):
    token = emu.account_token
    write_tenant("globex", image="ghcr.io/luthienresearch/luthien-proxy:1.2.3")
    emu.fail_next_deploy("gateway", "FAILED")
    results = [
        run_cli("create", "acme"),
        run_cli("create", "acme", "--json"),  # refused
        run_cli("apply", "--yes"),
        run_cli("list"),
        run_cli("list", "--all", "--json"),
        run_cli("status", "acme"),
        run_cli("status", "acme", "--json"),
        run_cli("redeploy", "acme"),
        run_cli("redeploy", "acme", "--json"),
        run_cli("whoami"),
        run_cli("whoami", "--json"),
        run_cli("credentials", "acme"),
        run_cli("credentials", "acme", "--rotate", "--json"),
        run_cli("delete", "acme", "--yes"),
        run_cli("delete", "acme", "--yes", "--json"),
        run_cli("cancel-delete", "acme", "--json"),
        run_cli("cancel-delete", "acme"),  # refused: nothing scheduled
        run_cli("delete", "globex", "--force", "--yes", "--json"),
        run_cli("status", "nobody", "--debug"),
    ]

    assert {r.exit_code for r in results} >= {0, 1}
    assert token not in outputs(results)
    assert token not in everything_written(tmp_path)


def test_a_refused_token_is_not_repeated_in_the_error(run_cli):
    wrong = "f0e1d2c3b4a5968778695a4b3c2d1e0f00112233"

    results = [run_cli(*args, env={"RAILWAY_TOKEN": wrong})
               for args in (("list",), ("whoami", "--json"), ("create", "acme"))]

    assert [r.exit_code for r in results] == [1, 1, 1]
    assert all("Not Authorized" in r.stderr for r in results)
    assert wrong not in outputs(results)
