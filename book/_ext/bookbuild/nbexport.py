"""Each chapter as a notebook a reader can download and run (build plumbing).

The book's chapters are MyST markdown notebooks. myst-nb executes them and
keeps the executed notebook (``_build/jupyter_execute/<doc>.ipynb``), but its
markdown cells are still MyST: Jupyter would show ``{glue:text}`acc:.3f```,
``{numref}`fig-x``` and the ``exercise-start`` fences as raw text. This module
turns such a notebook into one for a plain Jupyter:

* a first cell says what the notebook is and how to run it (clone the
  repository, ``pip install -r requirements.txt``, run from the top);
* roles become the text the book shows: a glued value as its formatted text,
  ``{numref}``/``{ref}``/``{eq}``/``{doc}`` as the figure, section, equation
  or chapter they name, ``{cite}`` as ``(Author, year)``;
* directives become plain markdown: an exercise or a solution a heading, an
  admonition a quotation, a glued figure an image attached to the cell with
  its numbered caption, a ``literalinclude`` the included code, a labelled
  equation a ``\\tag``;
* code cells, their outputs and the glue calls stay as they are (``glue``
  stores its values under a MIME type that Jupyter does not display, and it
  runs in any kernel where ``myst_nb`` is installed).

:func:`convert` does the work; :class:`Resolver` answers the questions that
need the Sphinx build (numbers, titles, citations, included code), and
``bookbuild.sphinxext`` calls it for every chapter page.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: The MIME prefix myst-nb gives a value glued with ``display=False``.
GLUE_PREFIX = "application/papermill.record/"

#: What the reader is told in the notebook's first cell.
FIRST_CELL = """\
**{book}**: {title}

This notebook is the chapter *{title}* of the book, executed when the book
was built (profile `{profile}`), outputs included. To run it yourself, clone
the book's repository and install its package `bayesdl` and toolchain in a
virtual environment, from the clone's root:

```bash
pip install -r requirements.txt
```

then start Jupyter there and run the cells from the top. In this copy the
book's cross-references, citations and glued numbers are plain text, and
exercises and solutions are headings."""


@dataclass
class Resolver:
    """What :func:`convert` asks the book: one callable per kind of reference.

    Each gets the role's text (``label`` or ``title <label>``) and returns
    the text to show; the defaults show the label itself. ``include`` gets a
    ``literalinclude``'s argument and options and returns the code.
    """

    numref: Callable[[str], str] = lambda text: text
    ref: Callable[[str], str] = lambda text: text
    eq: Callable[[str], str] = lambda label: f"({label})"
    doc: Callable[[str], str] = lambda text: text
    cite: Callable[[str], str] = lambda keys: f"({keys})"
    include: Callable[[str, dict[str, str]], str] | None = None
    exercise_number: Callable[[str], str | None] = lambda label: None
    figure_number: Callable[[str], str | None] = lambda label: None
    equation_number: Callable[[str], str | None] = lambda label: None
    extra: dict[str, Any] = field(default_factory=dict)


def glued(nb: Any) -> dict[str, dict[str, Any]]:
    """The values a notebook glued, by name: the MIME bundle of each.

    Example::

        >>> glued({"cells": []})
        {}
    """
    found: dict[str, dict[str, Any]] = {}
    for cell in nb["cells"]:
        for out in cell.get("outputs", []) if cell["cell_type"] == "code" else []:
            meta = (out.get("metadata") or {}).get("scrapbook")
            if out.get("output_type") != "display_data" or not meta:
                continue
            found[meta["name"]] = {
                k.removeprefix(GLUE_PREFIX): v for k, v in out["data"].items()
            }
    return found


def _format(text: str, spec: str) -> str:
    from myst_nb.core.variables import format_plain_text

    return format_plain_text(text, spec)


_ROLE = re.compile(r"\{([A-Za-z][\w:+-]*)\}`([^`]*)`")
_FENCE = re.compile(
    r"^(?P<indent> {0,3})(?P<fence>`{3,}|:{3,})\{(?P<name>[\w:+-]+)\}\s*(?P<arg>.*)$"
)
_MD_LINK = re.compile(r"\]\((?!\w+://)([^()\s#]+)\.md(#[^()\s]*)?\)")
_LABEL_LINE = re.compile(r"^\s*\(([^()\s]+)\)=\s*$")
_MATH_LABEL = re.compile(r"^(?P<close>.*\$\$)\s*\((?P<label>[^()\s]+)\)\s*$")


class _Converter:
    def __init__(self, nb: Any, resolve: Resolver, glue: dict | None = None) -> None:
        self.values = {**(glue or {}), **glued(nb)}
        self.resolve = resolve
        self.exercise = ""  # the number of the exercise last started
        self.attachments: dict[str, dict[str, str]] = {}

    # -- inline -------------------------------------------------------------
    def role(self, match: re.Match[str]) -> str:
        name, text = match.group(1), match.group(2)
        r = self.resolve
        if name in ("glue:text", "glue", "glue:"):
            key, _, spec = (
                text.rpartition(":") if name == "glue:text" else (text, "", "")
            )
            if name == "glue:text" and not key:
                key, spec = text, "s"
            data = self.values.get(key, {})
            if "text/plain" not in data:
                return f"`{text}`"
            return _format(data["text/plain"], spec if name == "glue:text" else "")
        if name == "glue:md":
            return self.values.get(text.split(":")[0], {}).get("text/markdown", text)
        if name == "eq":
            return r.eq(text)
        if name == "numref":
            return r.numref(text)
        if name in ("ref", "prf:ref"):
            return r.ref(text)
        if name == "doc":
            return r.doc(text)
        if name.startswith("cite"):
            return (
                r.cite(text) if name in ("cite", "cite:p") else r.cite(text).strip("()")
            )
        if name == "math":
            return f"${text}$"
        if name in ("sub", "sup"):
            return f"<{name}>{text}</{name}>"
        if name in ("term", "abbr", "kbd", "guilabel", "menuselection"):
            return re.sub(r"\s*<[^>]*>$", "", text)
        return f"`{text}`"

    def inline(self, text: str) -> str:
        text = _ROLE.sub(self.role, text)
        # a link to another chapter's source: to its notebook, beside this one
        return _MD_LINK.sub(r"](\1.ipynb\2)", text)

    # -- blocks -------------------------------------------------------------
    def markdown(self, source: str) -> str:
        lines = source.splitlines()
        out: list[str] = []
        i = 0
        while i < len(lines):
            line = lines[i]
            fence = _FENCE.match(line)
            if _LABEL_LINE.match(line):
                i += 1
                continue
            if line.lstrip().startswith("%") and not line.lstrip().startswith("%%"):
                i += 1  # a MyST comment
                continue
            plain = re.match(r"^ {0,3}(`{3,}|~{3,})[^`{]*$", line)
            if plain and not fence:
                end = i + 1
                while end < len(lines) and lines[end].strip() != plain[1]:
                    end += 1
                out += lines[i : end + 1]  # code shown as it is
                i = end + 1
                continue
            if fence:
                mark = fence["fence"]
                end = i + 1
                while end < len(lines) and lines[end].strip() != mark:
                    end += 1
                body = lines[i + 1 : end]
                options: dict[str, str] = {}
                while body and re.match(r"^\s*:[\w-]+:", body[0]):
                    key, _, value = body.pop(0).strip()[1:].partition(":")
                    value = value.strip()
                    if len(value) > 1 and value[0] == value[-1] and value[0] in "'\"":
                        value = value[1:-1]  # a quoted value, as MyST reads it
                    options[key] = value
                if body and not body[0].strip():
                    body.pop(0)
                out += self.directive(
                    fence["name"], fence["arg"].strip(), options, "\n".join(body)
                ).splitlines()
                i = end + 1
                continue
            label = _MATH_LABEL.match(line)
            if label:
                number = self.resolve.equation_number(label["label"])
                tag = f"\\tag{{{number}}}" if number else ""
                close = label["close"]
                out.append(close[:-2] + tag + "$$" if tag else close)
                i += 1
                continue
            out.append(self.inline(line))
            i += 1
        return "\n".join(out).strip("\n")

    def directive(self, name: str, arg: str, options: dict[str, str], body: str) -> str:
        r = self.resolve
        label = options.get("label") or options.get("name") or ""
        if name in ("exercise-start", "exercise"):
            number = r.exercise_number(label) if label else None
            self.exercise = number or ""
            title = f"Exercise {number}" if number else "Exercise"
            if arg:
                title += f" ({self.inline(arg)})"
            text = f"### {title}"
            return text + ("\n\n" + self.markdown(body) if body.strip() else "")
        if name in ("solution-start", "solution"):
            title = f"Solution to Exercise {self.exercise}".rstrip()
            text = f"#### {title}"
            return text + ("\n\n" + self.markdown(body) if body.strip() else "")
        if name in ("exercise-end", "solution-end"):
            return ""
        if name.startswith("prf:"):
            kind = name[4:].capitalize()
            title = f"**{kind}**" + (f" ({self.inline(arg)})" if arg else "")
            return _quote(title + "\n\n" + self.markdown(body))
        if name == "glue:figure" or name == "figure":
            return self.figure(name, arg, options, body)
        if name == "literalinclude" and r.include is not None:
            lang = options.get("language", "python")
            return f"```{lang}\n{r.include(arg, options).rstrip()}\n```"
        if name == "math":
            number = r.equation_number(label) if label else None
            tag = f"\n\\tag{{{number}}}" if number else ""
            return f"$$\n{body.strip()}{tag}\n$$"
        if name in ("code-block", "code", "sourcecode"):
            return f"```{arg}\n{body}\n```"
        if name == "list-table":
            return self.table(arg, body)
        if name in ("eval-rst", "raw", "bibliography", "toctree"):
            return ""
        # admonitions (note, tip, warning, admonition) and anything else
        title = arg if name == "admonition" else name.capitalize()
        text = (f"**{self.inline(title)}**\n\n" if title else "") + self.markdown(body)
        return _quote(text)

    def figure(self, name: str, arg: str, options: dict[str, str], body: str) -> str:
        label = options.get("name", "")
        number = self.resolve.figure_number(label) if label else None
        caption = self.markdown(body)
        head = f"Figure {number}" if number else "Figure"
        image = ""
        if name == "glue:figure":
            data = self.values.get(arg, {})
            for mime, ext in (("image/png", "png"), ("image/jpeg", "jpg")):
                if mime in data:
                    attached = f"{arg}.{ext}"
                    self.attachments[attached] = {mime: data[mime]}
                    image = f"![{head}](attachment:{attached})"
                    break
        else:
            image = f"![{head}]({arg})"
        return f"{image}\n\n*{head}*: {caption}" if caption else image

    def table(self, title: str, body: str) -> str:
        rows: list[list[str]] = []
        for line in body.splitlines():
            item = re.match(r"^(\s*)([*-])\s+(?:([*-])\s+)?(.*)$", line)
            if item and item.group(1) == "" and item.group(3):
                rows.append([self.inline(item.group(4))])
            elif item and item.group(1):
                rows[-1].append(self.inline(item.group(4)))
            elif rows and line.strip():
                rows[-1][-1] += " " + self.inline(line.strip())
        if not rows:
            return ""
        width = max(len(r) for r in rows)
        rows = [r + [""] * (width - len(r)) for r in rows]
        text = [f"| {' | '.join(rows[0])} |", "|" + " --- |" * width]
        text += [f"| {' | '.join(r)} |" for r in rows[1:]]
        return (f"**{self.inline(title)}**\n\n" if title else "") + "\n".join(text)


def _quote(text: str) -> str:
    return "\n".join("> " + line if line else ">" for line in text.splitlines())


def convert(
    nb: Any,
    resolve: Resolver | None = None,
    *,
    title: str = "",
    book: str = "",
    profile: str = "",
    glue: dict[str, dict[str, Any]] | None = None,
) -> Any:
    """A plain-Jupyter copy of an executed MyST notebook (a new notebook).

    ``resolve`` supplies the book's numbers, titles and citations (the
    defaults show labels); ``title``, ``book`` and ``profile`` fill the first
    cell. ``glue`` adds glued values (name -> MIME bundle) to those the
    notebook's outputs hold. Code cells and outputs are copied unchanged; markdown cells lose
    their MyST syntax.

    Example::

        >>> import nbformat
        >>> nb = nbformat.v4.new_notebook(cells=[
        ...     nbformat.v4.new_markdown_cell("Accuracy {glue:text}`acc:.2f`.")])
        >>> convert(nb).cells[1].source
        'Accuracy `acc:.2f`.'
    """
    import nbformat

    resolve = resolve or Resolver()
    out = copy.deepcopy(nb)
    converter = _Converter(nb, resolve, glue)
    cells = []
    for cell in out.cells:
        if cell.cell_type == "markdown":
            converter.attachments = {}
            cell.source = converter.markdown(cell.source)
            if converter.attachments:
                cell.attachments = converter.attachments
            if not cell.source.strip():
                continue
        cells.append(cell)
    intro = FIRST_CELL.format(
        book=book or "Bayesian Deep Learning with Pyro",
        title=title or "this chapter",
        profile=profile or "full",
    )
    first = nbformat.v4.new_markdown_cell(intro)
    out.cells = [first, *cells]
    out.metadata.pop("jupytext", None)
    out.metadata.setdefault("language_info", {"name": "python"})
    out.nbformat, out.nbformat_minor = 4, max(out.get("nbformat_minor", 5), 5)
    for cell in out.cells:
        if "id" not in cell:
            cell.id = nbformat.v4.new_markdown_cell().id
    return out
