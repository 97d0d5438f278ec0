"""Reading corpus files: which to take, which to skip and why, and their readable text.

Offsets everywhere are character offsets into a document's ``text``: the file as
decoded for text, Markdown and reST, the extracted text for HTML. Markup is cleaned
per span (``readable``), so a chunk keeps exact offsets into the source while its
stored text reads as prose.
"""

import hashlib
import re
import textwrap
from dataclasses import dataclass
from enum import StrEnum
from html.parser import HTMLParser
from pathlib import Path

BINARY_SNIFF_BYTES = 8192


class DocumentKind(StrEnum):
    TEXT = "text"
    MARKDOWN = "markdown"
    REST = "rest"
    HTML = "html"


_KIND_BY_SUFFIX = {
    ".txt": DocumentKind.TEXT,
    ".text": DocumentKind.TEXT,
    ".md": DocumentKind.MARKDOWN,
    ".markdown": DocumentKind.MARKDOWN,
    ".rst": DocumentKind.REST,
    ".html": DocumentKind.HTML,
    ".htm": DocumentKind.HTML,
}


@dataclass(frozen=True)
class Document:
    path: Path
    kind: DocumentKind
    text: str
    sha256: str


@dataclass(frozen=True)
class Skipped:
    path: Path
    reason: str


def document_kind(path: Path) -> DocumentKind | None:
    """The kind a file is read as, from its name (``x.rst.txt`` is reST), or None to ignore it."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes[-2:] == [".rst", ".txt"]:
        return DocumentKind.REST
    return _KIND_BY_SUFFIX.get(suffixes[-1]) if suffixes else None


def read_document(path: Path, max_bytes: int) -> Document | Skipped:
    """The document at ``path``, or why it was skipped; never raises for a bad file."""
    kind = document_kind(path)
    if kind is None:
        return Skipped(path, "not a text, Markdown, reST or HTML file")
    try:
        size = path.stat().st_size
        if size > max_bytes:
            return Skipped(path, f"larger than {max_bytes} bytes (cloud.max_file_bytes)")
        data = path.read_bytes()
    except OSError as exc:
        return Skipped(path, f"unreadable: {exc.strerror or exc}")
    if b"\0" in data[:BINARY_SNIFF_BYTES]:
        return Skipped(path, "binary content")
    try:
        decoded = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return Skipped(path, "not UTF-8 text")
    text = html_text(decoded) if kind is DocumentKind.HTML else decoded
    return Document(path, kind, text.replace("\r\n", "\n"), hashlib.sha256(data).hexdigest())


class _HTMLTextExtractor(HTMLParser):
    _SKIPPED = {"script", "style", "head", "noscript", "template"}
    _BLOCKS = {
        "p",
        "div",
        "section",
        "article",
        "li",
        "tr",
        "pre",
        "blockquote",
        "table",
        "ul",
        "ol",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "dd",
        "dt",
        "br",
        "hr",
        "header",
        "footer",
    }

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIPPED:
            self._skip_depth += 1
        elif tag in self._BLOCKS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIPPED:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif tag in self._BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._skip_depth:
            self.parts.append(re.sub(r"\s+", " ", data))


def html_text(markup: str) -> str:
    """The visible text of an HTML page, one paragraph per block element."""
    extractor = _HTMLTextExtractor()
    extractor.feed(markup)
    extractor.close()
    text = "".join(extractor.parts)
    return re.sub(r"\n\s*\n\s*", "\n\n", re.sub(r"[ \t]+", " ", text)).strip() + "\n"


# reST and Markdown markup, removed so stored text reads as prose.
_REST_ROLE = re.compile(r":[\w:+.-]+:`(?:[^`<]*?<[^`>]*>|([^`]*))`")
_REST_ROLE_TITLE = re.compile(r":[\w:+.-]+:`([^`<]*?)\s*<[^`>]*>`")
_REST_LINK = re.compile(r"`([^`<]+?)\s*<[^`>]*>`__?")
_REST_SUBSTITUTION = re.compile(r"\|([\w -]+)\|_?")
_LITERAL = re.compile(r"``([^`]+)``")
_INTERPRETED = re.compile(r"`([^`]+)`_{0,2}")
_EMPHASIS = re.compile(r"(?<![\w*])\*{1,2}([^*\s][^*]*?)\*{1,2}(?![\w*])")
_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_MD_HEADING = re.compile(r"^#{1,6}\s+", re.MULTILINE)
_DIRECTIVE = re.compile(r"^\s*\.\.\s+([\w:-]+)::\s*(.*)$")
_COMMENT_OR_LABEL = re.compile(r"^\s*\.\.(\s|$)")
_FIELD = re.compile(r"^(\s*):[\w -]+:(?:\s+|$)")  # ":synopsis: text", not ":func:`x`"
# Object descriptions (".. function:: open(file)") keep their signature; others (".. index::") drop it.
_DESCRIBING_DIRECTIVE = re.compile(
    r"function|method|class|attribute|data|exception|decorator|describe|"
    r"option|module|type|macro|member|var|opcode|envvar"
)
_CODE_LINE = re.compile(r"^(>>>|\.\.\.)( |$)")
_RULE_CHARS = set("=-~^*#+`'\"_|")


def readable(raw: str, kind: DocumentKind) -> str:
    """A span of a document with its markup removed; empty when it was markup only."""
    if kind is DocumentKind.REST:
        lines = [_readable_rest_line(line) for line in raw.splitlines()]
    elif kind is DocumentKind.MARKDOWN:
        lines = [_MD_LINK.sub(r"\1", _MD_HEADING.sub("", line)) for line in raw.splitlines()]
        lines = [_EMPHASIS.sub(r"\1", _INTERPRETED.sub(r"\1", line)) for line in lines]
    else:
        lines = raw.splitlines()
    lines = [line.rstrip() for line in lines if line and line.strip() and not set(line.strip()) <= _RULE_CHARS]
    if not lines:
        return ""
    lines = textwrap.dedent("\n".join(lines)).splitlines()  # reST directive bodies are indented prose
    if any(line[:1].isspace() or _CODE_LINE.match(line) for line in lines):  # code: keep its lines
        text = "\n".join(lines)
    else:
        text = " ".join(line.strip() for line in lines)
    return _inline_rest(text) if kind is DocumentKind.REST else text


def _readable_rest_line(line: str) -> str:
    directive = _DIRECTIVE.match(line)
    if directive:
        return directive.group(2) if _DESCRIBING_DIRECTIVE.search(directive.group(1)) else ""
    if _COMMENT_OR_LABEL.match(line):
        return ""
    line = _FIELD.sub(r"\1", line)
    if line.rstrip().endswith("::"):
        line = line.rstrip()[:-1]
    return line


def _inline_rest(text: str) -> str:
    """Inline markup, on a whole paragraph: a literal or a role may span lines."""
    text = _REST_ROLE_TITLE.sub(r"\1", text)
    text = _REST_ROLE.sub(lambda m: (m.group(1) or "").lstrip("~!"), text)
    text = _REST_LINK.sub(r"\1", text)
    text = _REST_SUBSTITUTION.sub(r"\1", text)
    text = _LITERAL.sub(r"\1", text)
    text = _INTERPRETED.sub(r"\1", text)
    return _EMPHASIS.sub(r"\1", text)
