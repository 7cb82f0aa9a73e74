"""Renders the Helm chart without a helm binary (none is packaged for these machines), for the
plain manifest and for the tests.

Only the subset of Go templates the chart uses is understood, and anything else is an error
rather than a guess: actions ``{{ pipeline }}`` with ``{{-``/``-}}`` trimming, ``if``/``else``/
``end``, fields of ``.Values``, ``.Release``, ``.Chart`` and ``.Files.Get "path"``, string and
integer literals, parenthesised pipelines, and the Sprig functions ``quote``, ``default``, ``add``,
``toYaml``, ``indent``, ``nindent`` and ``sha256sum``, with Helm's semantics (``toYaml`` drops
the final newline; emptiness is Go's truth).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

_ACTION = re.compile(r"\{\{(-?)\s*(.*?)\s*(-?)\}\}", re.DOTALL)
_TOKEN = re.compile(r'\s*("(?:[^"\\]|\\.)*"|\(|\)|\||-?\d+|[.A-Za-z_][.\w]*)\s*')


class TemplateError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Context:
    values: Mapping[str, Any]
    release: str
    chart: Mapping[str, Any]  # Chart.yaml, with Helm's capitalised field names
    files: Path  # the chart directory, for .Files.Get

    def lookup(self, path: str) -> Any:
        root, *rest = path.lstrip(".").split(".")
        scopes: dict[str, Any] = {
            "Values": self.values,
            "Release": {"Name": self.release, "Namespace": "default"},
            "Chart": {k[0].upper() + k[1:]: v for k, v in self.chart.items()},
        }
        if root not in scopes:
            raise TemplateError(f"unsupported field .{root}")
        found: Any = scopes[root]
        for key in rest:
            found = found.get(key) if isinstance(found, Mapping) else None
        return found

    def file(self, path: str) -> str:
        return (self.files / path).read_text()


def _to_yaml(value: Any) -> str:
    return yaml.safe_dump(value, sort_keys=True, default_flow_style=False).removesuffix("\n")


def _indent(width: int, text: str) -> str:
    pad = " " * width
    return pad + text.replace("\n", "\n" + pad)


def _quote(value: Any) -> str:
    return json.dumps(_text(value))


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "quote": _quote,
    "default": lambda fallback, value: value if value else fallback,
    "add": lambda *numbers: sum(int(number) for number in numbers),
    "toYaml": _to_yaml,
    "indent": _indent,
    "nindent": lambda width, text: "\n" + _indent(width, text),
    "sha256sum": lambda text: hashlib.sha256(text.encode()).hexdigest(),
}


def _text(value: Any) -> str:
    if value is None:
        raise TemplateError("a value the template prints is missing")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    raise TemplateError(f"cannot print {type(value).__name__} without toYaml")


class _Parser:
    def __init__(self, source: str, context: Context) -> None:
        self.tokens: list[str] = []
        at = 0
        while at < len(source):
            match = _TOKEN.match(source, at)
            if match is None:
                raise TemplateError(f"cannot parse {source[at:]!r} in {source!r}")
            self.tokens.append(match.group(1))
            at = match.end()
        self.at = 0
        self.context = context

    def pipeline(self) -> Any:
        result = self.command(())
        while self.peek() == "|":
            self.at += 1
            result = self.command((result,))
        return result

    def command(self, piped: tuple[Any, ...]) -> Any:
        """One command; ``piped`` holds the previous command's result, if any."""
        head = self.take()
        if head in _FUNCTIONS:
            args = []
            while self.peek() not in (None, "|", ")"):
                args.append(self.operand())
            return _FUNCTIONS[head](*args, *piped)
        if piped:
            raise TemplateError(f"{head} is not a function")
        if head == ".Files.Get":
            return self.context.file(self.operand())
        self.at -= 1
        return self.operand()

    def operand(self) -> Any:
        token = self.take()
        if token == "(":
            value = self.pipeline()
            if self.take() != ")":
                raise TemplateError("unbalanced parenthesis")
            return value
        if token.startswith('"'):
            return json.loads(token)
        if token.lstrip("-").isdigit():
            return int(token)
        if token.startswith("."):
            return self.context.lookup(token)
        raise TemplateError(f"unsupported token {token!r}")

    def peek(self) -> str | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise TemplateError("unexpected end of action")
        self.at += 1
        return token


def _evaluate(source: str, context: Context) -> Any:
    parser = _Parser(source, context)
    value = parser.pipeline()
    if parser.peek() is not None:
        raise TemplateError(f"trailing tokens in {source!r}")
    return value


def render(template: str, context: Context) -> str:
    """The text Helm would produce from one template file."""
    pieces: list[tuple[str, str]] = []  # ("text", s) or ("action", source)
    at = 0
    for match in _ACTION.finditer(template):
        text = template[at : match.start()]
        if match.group(1):
            text = text.rstrip()
        if pieces and pieces[-1][0] == "trim":
            pieces.pop()
            text = text.lstrip()
        pieces.append(("text", text))
        pieces.append(("action", match.group(2)))
        if match.group(3):
            pieces.append(("trim", ""))
        at = match.end()
    tail = template[at:]
    if pieces and pieces[-1][0] == "trim":
        pieces.pop()
        tail = tail.lstrip()
    pieces.append(("text", tail))

    out: list[str] = []
    stack: list[tuple[bool, bool]] = []  # (this branch taken, enclosing branch taken)
    for kind, piece in pieces:
        live = all(taken for taken, _ in stack)
        if kind == "text":
            if live:
                out.append(piece)
        elif piece.startswith("if "):
            stack.append((bool(_evaluate(piece[3:], context)) if live else False, live))
        elif piece == "else":
            if not stack:
                raise TemplateError("else without if")
            taken, outer = stack.pop()
            stack.append((outer and not taken, outer))
        elif piece == "end":
            if not stack:
                raise TemplateError("end without if")
            stack.pop()
        elif live:
            out.append(_text(_evaluate(piece, context)))
    if stack:
        raise TemplateError("if without end")
    return "".join(out)


def render_chart(chart: Path, values: Mapping[str, Any], release: str) -> dict[str, str]:
    """Each template's output, by its path in the chart, in ``helm template``'s file order;
    templates that render to nothing are left out."""
    context = Context(values, release, yaml.safe_load((chart / "Chart.yaml").read_text()), chart)
    rendered = {}
    for template in sorted((chart / "templates").glob("*.yaml")):
        text = render(template.read_text(), context).strip()
        if text:
            rendered[str(template.relative_to(chart))] = text + "\n"
    return rendered


def manifest(chart: Path, values: Mapping[str, Any], release: str) -> str:
    """The chart as one multi-document YAML file, as ``helm template`` prints it."""
    return "".join(
        f"---\n# Source: {chart.name}/{path}\n{text}"
        for path, text in render_chart(chart, values, release).items()
    )


def objects(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc]
