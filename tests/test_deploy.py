"""deploy/: the Compose file and systemd units run the same `polydub serve --broker` /
`polydub worker` commands as tests/test_server_scale.py; every option they use must exist."""

from __future__ import annotations

import re
import shlex

import pytest
import typer

try:  # recent typer vendors its own click
    from typer import _click as click
except ImportError:  # pragma: no cover
    import click

from tests.conftest import REPO

DEPLOY = REPO / "deploy"


def _parse(argv: list[str]) -> click.Context:
    """Parse a `polydub ...` command line with the real CLI (types and required options checked)."""
    from polydub.cli import _register_subcommands, app

    _register_subcommands()
    root = typer.main.get_command(app)
    assert argv[0].endswith("polydub"), argv
    name, *args = argv[1:]
    if name == "jobs":
        name, args = args[0], args[1:]
        root = root.get_command(click.Context(root), "jobs")
    command = root.get_command(click.Context(root), name)
    assert command is not None, f"unknown command {name}"
    return command.make_context(name, list(args))


def _expand(text: str) -> str:
    text = re.sub(r"\$\{(\w+):-([^}]*)\}", r"\2", text)  # compose defaults
    return text.replace("${POLYDUB_DATABASE_URL}", "postgresql+psycopg://u:p@db/polydub").replace("%i", "1")


def test_compose_services_run_valid_polydub_commands():
    yaml = pytest.importorskip("yaml")
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert {"server", "worker", "redis", "postgres"} <= set(services)
    server = _parse(shlex.split(_expand(services["server"]["command"])))
    worker = _parse(shlex.split(_expand(services["worker"]["command"])))
    assert server.params["broker"] == worker.params["broker"] == "redis://redis:6379/0"
    assert server.params["database_url"] == worker.params["database_url"]
    assert server.params["database_url"].startswith("postgresql+psycopg://")
    assert str(server.params["data_dir"]) == str(worker.params["data_dir"]) == "/data"
    for svc in ("server", "worker"):
        assert "data:/data" in services[svc]["volumes"]


def test_systemd_units_run_valid_polydub_commands():
    commands = {}
    for unit in sorted((DEPLOY / "systemd").glob("*.service")):
        text = unit.read_text().replace("\\\n", " ")
        line = next(x for x in text.splitlines() if x.startswith("ExecStart="))
        commands[unit.name] = _parse(shlex.split(_expand(line.removeprefix("ExecStart="))))
    server, worker = commands["polydub-server.service"], commands["polydub-worker@.service"]
    assert server.params["broker"] == worker.params["broker"]
    assert str(server.params["data_dir"]) == str(worker.params["data_dir"])
    assert worker.params["name"] == "worker1"


def test_a_typo_in_a_command_would_be_caught():
    with pytest.raises(click.exceptions.UsageError):
        _parse(["polydub", "worker", "--broker", "redis://x", "--concurency", "2"])
