"""Application commands found through entry points, loaded only when invoked.

An application adds a command to ``hftpipe`` by declaring it in its
``pyproject.toml``::

    [project.entry-points."hftpipe.commands"]
    exchange = "stages.exchange.cli:exchange"

The group lists every registered name in ``--help`` but imports a command's
module only when that command runs, so ``hftpipe stage NAME`` (what every
stage process executes) pays for no application it does not use.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points
from typing import Final

import click

COMMANDS_GROUP: Final = "hftpipe.commands"


def registered_commands() -> dict[str, EntryPoint]:
    """Entry points of ``hftpipe.commands`` by command name."""
    return {ep.name: ep for ep in entry_points(group=COMMANDS_GROUP)}


class PluginGroup(click.Group):
    """A click group whose extra commands come from :data:`COMMANDS_GROUP` entry points."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *registered_commands()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        own = super().get_command(ctx, cmd_name)
        if own is not None:
            return own
        entry = registered_commands().get(cmd_name)
        if entry is None:
            return None
        command = entry.load()
        if not isinstance(command, click.Command):
            raise click.ClickException(f"entry point {entry.value!r} for {cmd_name!r} is not a click command")
        return command
