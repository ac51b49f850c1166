"""Code blocks of the documentation pages (README.md, docs/*.md), as the tests extract them."""

from __future__ import annotations

import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DOCS = REPO_ROOT / "docs"
# a fenced block: ```<language> <info>\n<code>```
_FENCE = re.compile(r"^```(\w*)([^\n]*)\n(.*?)^```", flags=re.DOTALL | re.MULTILINE)


def code_blocks(page: Path, language: str) -> list[str]:
    """The blocks of ``page`` fenced as ``language`` (```python no-run blocks are left out)."""
    text = page.read_text(encoding="utf-8")
    return [
        code for lang, info, code in _FENCE.findall(text) if lang == language and "no-run" not in info.split()
    ]


def python_blocks(page: Path) -> list[str]:
    return code_blocks(page, "python")


def shell_commands(page: Path) -> list[list[str]]:
    """The commands of every shell block of ``page``, one list per block (a block's commands run
    in order in one folder). Continuation lines are joined; comments and blank lines dropped."""
    blocks = []
    for code in code_blocks(page, "shell"):
        commands, current = [], ""
        for line in code.splitlines():
            if current:  # a continuation line: one space where the backslash and the indent were
                line = line.lstrip()
            if line.endswith("\\"):
                current += line[:-1].rstrip() + " "
                continue
            current += line
            command = _strip_comment(current).strip()
            current = ""
            if command:
                commands.append(command)
        blocks.append(commands)
    return blocks


def _strip_comment(line: str) -> str:
    """``line`` without a trailing ``# comment`` (a ``#`` outside quotes that starts a word)."""
    quote = None
    for index, char in enumerate(line):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (index == 0 or line[index - 1].isspace()):
            return line[:index]
    return line
