#!/usr/bin/env python3
"""Generate the docs' reference tables (README.md, docs/reference.md) from the code, so
they cannot drift.

- the options of every command, from the click definitions (names, defaults, help);
- the exit codes, from `pipeline.errors.ExitCode` and its `MEANING`;
- the keys of the `--report` JSON, from the `RunStats` fields and their meaning.

Each table sits between `<!-- BEGIN generated:NAME -->` and `<!-- END generated:NAME -->`.

    python scripts/gen_docs.py          # rewrite README.md and docs/reference.md
    python scripts/gen_docs.py --check  # exit 1 and show the diff when one differs
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.cli import main as cli  # noqa: E402
from pipeline.errors import MEANING, ExitCode  # noqa: E402
from pipeline.report import report_keys  # noqa: E402


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _default(opt: click.Option) -> str:
    """What the option defaults to, as --help says it."""
    found = re.search(r"\[default: ([^\]]+)\]", opt.help or "")
    if found:
        return found.group(1)
    if opt.is_flag:
        return "off"
    if opt.required:
        return "required"
    unset = opt.default is None or opt.default in ((), "") or "Sentinel" in repr(opt.default)
    return "" if unset or opt.multiple else str(opt.default)


def _metavar(opt: click.Option) -> str:
    if opt.metavar:
        return opt.metavar
    if isinstance(opt.type, click.Choice):
        return "/".join(opt.type.choices)
    if isinstance(opt.type, click.Path):
        return "FILE"
    if isinstance(opt.type, click.types.IntParamType | click.types.FloatParamType):
        return "N"
    return (opt.name or "value").upper()


def options_table(command: click.Command) -> str:
    rows = ["| option | default | meaning |", "| --- | --- | --- |"]
    for p in command.params:
        if not isinstance(p, click.Option) or p.hidden:
            continue
        names = "/".join(p.opts + p.secondary_opts)
        if not p.is_flag:
            names += f" {_metavar(p)}"
        meaning = re.sub(r"\s*\[default: [^\]]+\]", "", p.help or "")
        rows.append(f"| `{_cell(names)}` | {_cell(_default(p))} | {_cell(meaning)} |")
    return "\n".join(rows)


def exit_codes_table() -> str:
    rows = ["| code | meaning |", "| --- | --- |"]
    rows += [f"| {int(code)} | {_cell(MEANING[code])} |" for code in ExitCode]
    return "\n".join(rows)


def report_table() -> str:
    rows = ["| key | meaning |", "| --- | --- |"]
    rows += [f"| `{key}` | {_cell(meaning)} |" for key, meaning in report_keys()]
    return "\n".join(rows)


def sections() -> dict[str, str]:
    out = {"exit-codes": exit_codes_table(), "report-keys": report_table()}
    for name, command in sorted(_commands(cli, "").items()):
        out[f"options:{name}"] = options_table(command)
    return out


def _commands(group: click.Command, prefix: str) -> dict[str, click.Command]:
    found: dict[str, click.Command] = {}
    if isinstance(group, click.Group):
        for name, sub in group.commands.items():
            found.update(_commands(sub, f"{prefix}{name} "))
    elif prefix:
        found[prefix.strip()] = group
    return found


def render(readme: str) -> str:
    for name, table in sections().items():
        begin, end = f"<!-- BEGIN generated:{name} -->", f"<!-- END generated:{name} -->"
        pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
        block = f"{begin}\n{table}\n{end}"
        if pattern.search(readme):
            readme = pattern.sub(lambda _, block=block: block, readme)
    return readme


DOCS = (ROOT / "README.md", ROOT / "docs" / "reference.md")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--check", action="store_true", help="exit 1 when a doc is not current")
    args = ap.parse_args(argv)
    stale = False
    for doc in DOCS:
        current = doc.read_text(encoding="utf-8")
        wanted = render(current)
        if wanted == current:
            continue
        if args.check:
            name = str(doc.relative_to(ROOT))
            diff = difflib.unified_diff(
                current.splitlines(True), wanted.splitlines(True), name, "generated"
            )
            sys.stdout.writelines(diff)
            print(f"{name} is out of date: run python scripts/gen_docs.py", file=sys.stderr)
            stale = True
        else:
            doc.write_text(wanted, encoding="utf-8")
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
