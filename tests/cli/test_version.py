"""``kl version``: the package version, the commit, the Kubernetes version served
(no server needed for ``--client``; tests/cli/test_e2e_commands.py and tests/release
check the server's line against a running gateway)."""

from __future__ import annotations

import json

import yaml
from typer.testing import CliRunner

from kubelite.cli.main import app
from kubelite.version import KUBERNETES_VERSION, __version__, build_commit

runner = CliRunner()


def test_client_lines() -> None:
    result = runner.invoke(app, ["version", "--client"])
    commit = build_commit()
    expected = [f"Client Version: v{__version__}"] + ([f"Client Commit: {commit.short()}"] if commit.sha else []) \
        + [f"Kubernetes Version: {KUBERNETES_VERSION[2]} (the API kubelite serves)"]
    assert result.exit_code == 0 and result.output.splitlines() == expected


def test_json_and_yaml_carry_the_same_fields() -> None:
    as_json = json.loads(runner.invoke(app, ["version", "--client", "-o", "json"]).output)
    as_yaml = yaml.safe_load(runner.invoke(app, ["version", "--client", "-o", "yaml"]).output)
    commit = build_commit()
    assert as_json == as_yaml == {"clientVersion": {
        "gitVersion": f"v{__version__}", "gitCommit": commit.sha, "gitTreeState": commit.tree_state,
        "kubernetesVersion": "v1.32.0"}}


def test_bad_output_format_is_one_line() -> None:
    result = runner.invoke(app, ["version", "--client", "-o", "wide"])
    assert result.exit_code == 1 and result.output == "error: --output must be 'yaml' or 'json', not 'wide'\n"
