"""Sphinx extension of the course website: figures' alt text, glossary anchors, docstring literals.

Anchors: the glossary marks each term with a raw-HTML anchor, <a id="adam"></a>, and the lessons
link to GLOSSARY.md#adam. MyST resolves a #fragment only against heading slugs; each raw id="..."
of a page is added to those, so such a link resolves (and a wrong one still warns).

Docstrings: the library writes the plural of a literal as a literal followed by "s" (Fractions with
"Fraction" in double backquotes), which reStructuredText reads as an unclosed literal: a warning,
and a link to nowhere on the API page. Before autodoc parses a docstring, such a literal is
followed by RST's escaped space ("\\ "), which renders as nothing.

Alt text: a lesson prints a figure's description under it, a line that starts with "Figure:"; a
panel's static picture carries its caption as the PNG's "Description" text (rtt_edu.views.widgets.base).
After a page is resolved, each image in a notebook cell's outputs without alt text gets one:

- a PNG with a "Description" text (a panel's picture): that text, also shown under the picture as
  its caption, as the live panel shows it;
- otherwise the cell's "Figure:" lines, taken in order, one per image.

"Figure:" itself is dropped (a screen reader already says "image"). An image left without alt text
is logged as a warning, and tests/test_site.py fails on it.
"""
from __future__ import annotations

import html
import re
from pathlib import Path

from docutils import nodes
from sphinx.util import logging

logger = logging.getLogger(__name__)
_FIGURE_LINE = re.compile(r"^\s*Figure:\s*(.+?)\s*$", re.M)
_RAW_ID = re.compile(r"""<a\s[^>]*\bid=["']([^"']+)["']""")


_LITERAL = re.compile(r"``([^`]+)``(\w?)")


def close_literals(app, what, name, obj, options, lines) -> None:
    """``autodoc-process-docstring``: a literal followed by a letter gets an escaped space between them."""
    lines[:] = [_LITERAL.sub(lambda m: f"``{m[1]}``" + (f"\\ {m[2]}" if m[2] else ""), line) for line in lines]


def register_raw_anchors(app, doctree) -> None:
    """Every ``<a id="...">`` in a page's raw HTML becomes a target of ``page.md#...`` links."""
    slugs = app.env.metadata[app.env.docname].setdefault("myst_slugs", {})
    for node in doctree.findall(nodes.raw):
        if "html" in node.get("format", "").split():
            for anchor in _RAW_ID.findall(node.astext()):
                slugs.setdefault(anchor, (node.line or 0, anchor, anchor))


def describe(text: str) -> str:
    """``"Figure: the loss ..."`` → ``"The loss ..."``."""
    text = re.sub(r"^\s*Figure:\s*", "", " ".join(text.split()))
    return text[:1].upper() + text[1:]


def png_description(path: Path) -> str:
    """The ``Description`` text of a PNG file ("" when it has none or is not a PNG)."""
    try:
        from PIL import Image
        with Image.open(path) as image:
            return image.text.get("Description", "") if image.format == "PNG" else ""
    except (OSError, ValueError):
        return ""


def show_caption(image, text: str) -> None:
    """The panel's caption under its picture, as the live panel shows it (hidden from screen readers,
    which read the same text as the alt text)."""
    caption = nodes.raw("", f'<p class="rtt-panel-caption" aria-hidden="true">{html.escape(text)}</p>', format="html")
    image.parent.insert(image.parent.index(image) + 1, caption)


def _is_cell(node) -> bool:
    return isinstance(node, nodes.container) and node.get("nb_element") == "cell_code"


def add_alt_text(app, doctree, docname) -> None:
    for cell in doctree.findall(_is_cell):
        lines, waiting = [], []
        for node in cell.findall(lambda n: isinstance(n, (nodes.image, nodes.literal_block))):
            if isinstance(node, nodes.literal_block):
                lines += _FIGURE_LINE.findall(node.astext())
            elif not node.get("alt"):
                source = node.get("candidates", {}).get("*", node["uri"])     # relative to the source folder
                text = png_description(Path(app.srcdir, source))
                if text:
                    node["alt"] = describe(text)
                    show_caption(node, text)
                else:
                    waiting.append(node)
        for node, line in zip(waiting, lines):
            node["alt"] = describe(line)
    for node in doctree.findall(nodes.image):
        if not node.get("alt"):
            logger.warning(f"an image without alt text ({Path(node['uri']).name}): print a 'Figure: ...' line "
                           "under it in the same cell", location=node)


def setup(app):
    app.connect("autodoc-process-docstring", close_literals)
    app.connect("doctree-read", register_raw_anchors)
    app.connect("doctree-resolved", add_alt_text)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
