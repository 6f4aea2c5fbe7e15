"""Every command explains itself: help with an example, listed by the group, versioned."""

from __future__ import annotations

import pytest

from maskkit._version import __version__
from maskkit_cli.main import COMMANDS
from tests.conftest import invoke, run_maskkit


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_has_help_with_an_example(command):
    result = invoke([command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output
    assert f"maskkit {command}" in result.output.split("Example", 1)[1]


def test_group_help_lists_every_command():
    result = invoke(["--help"])
    assert result.exit_code == 0
    # Only the "Commands:" section counts: the group's description names several commands too.
    listing = result.output.split("\nCommands:\n", 1)[1]
    listed = [line.split()[0] for line in listing.splitlines() if line.startswith("  ")]
    assert listed == sorted(COMMANDS)
    for command in COMMANDS:  # each with its own summary line, not an empty one
        line = next(x for x in listing.splitlines() if x.split()[:1] == [command])
        assert len(line.split()) > 1, line


def test_the_group_resolves_every_listed_command():
    import click

    from maskkit_cli.main import cli

    ctx = click.Context(cli)
    assert cli.list_commands(ctx) == sorted(COMMANDS)
    for command in COMMANDS:
        assert isinstance(cli.get_command(ctx, command), click.Command), command


def test_python_dash_m_and_version():
    result = run_maskkit(["--version"])
    assert result.returncode == 0
    assert __version__ in result.stdout.decode()


def test_unknown_command_is_a_usage_error():
    assert invoke(["sqeeze"]).exit_code == 2


def test_list_names_the_registries():
    import json

    result = invoke(["list", "--json"])
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert {"lenet300", "resnet20", "vgg16", "resnet50"} <= {m["name"] for m in doc["models"]}
    assert {m["name"]: m["needs_data"] for m in doc["methods"]}["snip"] is True
    assert "mnist" in doc["datasets"] and "erk" in doc["rules"]
    assert "resnet20" in invoke(["list"]).stdout


def test_exit_codes_survive_the_fast_exit_of_a_real_process(tmp_path):
    usage = run_maskkit(["sqeeze"])
    assert usage.returncode == 2 and b"No such command" in usage.stderr
    missing = run_maskkit(["info", str(tmp_path / "nope.safetensors")])
    assert missing.returncode == 1
    assert missing.stderr.decode().startswith("maskkit: error: ")
    assert str(tmp_path / "nope.safetensors") in missing.stderr.decode()
