"""`xinyong financing …`: JSON output and exit codes; revocation from the command line ends the bank's access."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from tests.factories import make_uscc
from tests.financing.helpers import PROFILE_URL, grant, setup
from xinyong.core import clikit
from xinyong.financing import commands


def _invoke(*args: str) -> tuple[int, object]:
    result = CliRunner().invoke(commands.app, [*args, "--json"])
    return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else None


def test_financing_commands(client, session, database):
    b = setup(session)
    a = grant(session, b)
    clikit.state.db_url = database.url
    code, data = _invoke("institutions", "list")
    assert code == 0 and [i["code"] for i in data] == ["other", "qyrcb"]
    code, data = _invoke("institutions", "add", "--code", "qyrcb", "--name", "重复", "--uscc", make_uscc(903))
    assert code == 2 and data["error"]["code"] == "institution_exists"
    code, data = _invoke("institutions", "add", "--code", "ccb", "--name", "建设银行沁阳支行", "--uscc", make_uscc(904))
    assert code == 0 and data["code"] == "ccb"
    code, data = _invoke("institutions", "bind", "ccb", "--user", "nobody")
    assert code == 2 and data["error"]["code"] == "user_not_found"
    code, data = _invoke("authorisations", "list", "--status", "active")
    assert code == 0 and [x["id"] for x in data] == [a.id] and data[0]["status"] == "active"
    code, data = _invoke("authorisations", "list", "--status", "nonsense")
    assert code == 2 and data["error"]["code"] == "bad_status"
    assert client.get(PROFILE_URL.format(b.env.uscc), headers=b.bank).status_code == 200
    code, data = _invoke("authorisations", "revoke", str(a.id), "--reason", "授权书经核实无效")
    assert code == 0 and data["status"] == "revoked"
    code, data = _invoke("authorisations", "revoke", str(a.id), "--reason", "again")
    assert code == 2 and data["error"]["code"] == "authorisation_already_revoked"
    code, data = _invoke("authorisations", "revoke", str(2**63), "--reason", "x")
    assert code == 2
    refused = client.get(PROFILE_URL.format(b.env.uscc), headers=b.bank)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "authorisation_revoked"
    code, data = _invoke("figures")
    mine = next(r for r in data["institutions"] if r["institution"] == "qyrcb")
    assert code == 0 and mine["queries"] == 1 and mine["refused_queries"] == 1 and mine["active_authorisations"] == 0
