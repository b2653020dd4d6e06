"""CLI: thin click commands over the library; `main` is the `realtrace` console script.

app.py       the group: one-line errors, exit codes, logging, signals
options.py   options several commands share (destination, batch limits)
convert.py   `convert`
commands.py  `config`, `state`, `inspect`, `replay`, `report`
"""

from pipeline.cli.app import main
from pipeline.cli.commands import config_cmd, inspect_cmd, replay_cmd, report_cmd, state_group
from pipeline.cli.convert import convert

for _command in (convert, config_cmd, state_group, inspect_cmd, replay_cmd, report_cmd):
    main.add_command(_command)

__all__ = ["main"]
