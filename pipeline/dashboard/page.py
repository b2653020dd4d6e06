"""Page: the report as one self-contained HTML file (styles, script and data inline; charts
drawn as SVG by a small inline script: no library, no network access when opened)."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from urllib.parse import quote

import orjson

from pipeline import private
from pipeline.dashboard.data import ReportData, to_json

# JSON's own escapes for the characters that could end or alter a script element's data
# (`</script>`, `<!--`, which switches the HTML parser's script state): still the same JSON
_SCRIPT_SAFE = (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"))


def render(data: ReportData) -> str:
    """The page's HTML. The data goes in a JSON script element, `<`, `>` and `&` written as
    JSON escapes, so no value (a session key, a span name) can close it or open a comment."""
    template = resources.files("pipeline.dashboard").joinpath("page.html").read_text("utf-8")
    payload = orjson.dumps(to_json(data)).decode()
    for char, escaped in _SCRIPT_SAFE:
        payload = payload.replace(char, escaped)
    return template.replace("__DATA__", payload, 1)


def with_players(data: ReportData, audio_dir: Path | None, page: Path) -> ReportData:
    """The `--audio dir:` files as players' sources relative to the page (a file that is not
    there gets no player); without the directory, no players."""
    if audio_dir is None:
        data.audio = {}
        return data
    prefix = Path(os.path.relpath(audio_dir.resolve(), page.resolve().parent))
    data.audio = {
        key: {
            label: quote((prefix / ref).as_posix())
            for label, ref in clips.items()
            if (audio_dir / ref).is_file()
        }
        for key, clips in data.audio.items()
    }
    return data


def write_html(data: ReportData, path: Path) -> None:
    """The page at `path`, whole or not at all (written beside it, then renamed), readable
    by its owner only: it holds what callers said."""
    with private.replacing(path, "w") as fh:
        fh.write(render(data))
