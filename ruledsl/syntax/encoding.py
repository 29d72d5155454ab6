"""Reading text files as UTF-8, and saying exactly where and why one is not.

Rulesets, list files and test files are UTF-8 (a BOM is tolerated).  Files
written by Windows editors in Chinese banks are often GBK (GB 2312 / GB 18030),
which Python only reports as a byte offset; ``read_utf8`` raises
``NotUtf8Error`` instead, with the line and column of the first bad byte, the
byte itself, a guess at the file's real encoding and the ``iconv`` command
that converts it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Union

_BOM = b"\xef\xbb\xbf"


class NotUtf8Error(UnicodeDecodeError):
    """A file that is not valid UTF-8: where the first bad byte is and what to do about it.

    A ``UnicodeDecodeError`` (so older ``except`` clauses still catch it) with
    ``line`` and ``col`` (1-based; the column counts characters, as the
    diagnostics do), ``offset`` (0-based characters of the decodable prefix,
    for a ``Span``), ``byte`` (the bad byte), ``guess`` (``"GBK"``,
    ``"UTF-16"``, ... or ``None``) and ``hint`` (one sentence: how to convert it).
    """

    def __init__(self, data: bytes, err: UnicodeDecodeError, path: str = "FILE"):
        super().__init__(err.encoding, err.object, err.start, err.end, err.reason)
        start = err.start
        line_start = data.rfind(b"\n", 0, start) + 1
        self.line = data.count(b"\n", 0, start) + 1
        prefix = data[line_start:start]
        if line_start == 0 and prefix.startswith(_BOM):
            prefix = prefix[len(_BOM) :]
        # the prefix before the first bad byte is valid UTF-8 by definition
        self.col = len(prefix.decode("utf-8")) + 1
        head = data[:start]
        self.offset = len(head.decode("utf-8")) - (1 if head.startswith(_BOM) else 0)
        self.byte = data[start]
        self.path = path
        self.guess = guess_encoding(data)
        self.hint = conversion_hint(path, self.guess)

    def where(self) -> str:
        """``byte 0xD6 at line 3, column 12`` (and the likely encoding)."""
        text = f"byte 0x{self.byte:02X} at line {self.line}, column {self.col}"
        if self.guess:
            text += f" (the file looks like {self.guess})"
        return text

    def __str__(self) -> str:
        return f"not valid UTF-8: {self.where()}"


def guess_encoding(data: bytes) -> str | None:
    """The likely encoding of bytes that are not UTF-8: GBK, UTF-16, Big5, Latin-1, or None."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "UTF-16"
    for codec, name in (("gbk", "GBK"), ("gb18030", "GB 18030"), ("big5", "Big5")):
        try:
            text = data.decode(codec)
        except UnicodeDecodeError:
            continue
        # a legacy Chinese encoding decodes to CJK ideographs; random bytes rarely do throughout
        if any("\u4e00" <= ch <= "\u9fff" for ch in text):
            return name
    if all(b >= 0xA0 or b < 0x80 for b in data):
        return "Latin-1 (ISO 8859-1)"
    return None


def conversion_hint(path: str, guess: str | None) -> str:
    """How to save the file as UTF-8, with an ``iconv`` command for the guessed encoding."""
    source = {
        "GBK": "GBK",
        "GB 18030": "GB18030",
        "Big5": "BIG5",
        "UTF-16": "UTF-16",
        "Latin-1 (ISO 8859-1)": "LATIN1",
    }.get(guess or "", "GBK")
    why = (
        "files saved by Chinese Windows editors are often GBK; "
        if guess in (None, "GBK", "GB 18030")
        else f"it seems to be {guess}; "
    )
    return (
        f"ruledsl reads UTF-8 only: {why}convert it with "
        f"`iconv -f {source} -t UTF-8 {path} > {path}.utf8 && mv {path}.utf8 {path}` "
        "or save it as UTF-8 in your editor"
    )


def decode_utf8(data: bytes, path: str = "FILE") -> str:
    """``data`` as UTF-8 text (a leading BOM dropped); ``NotUtf8Error`` naming the first bad byte."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise NotUtf8Error(data, err, path) from None
    return text[1:] if text.startswith("\ufeff") else text


def read_utf8(path: Union[str, Path], shown: str | None = None) -> str:
    """A file's text as UTF-8 (BOM tolerated); ``OSError`` or ``NotUtf8Error`` (shown as ``shown``)."""
    return decode_utf8(Path(path).read_bytes(), shown if shown is not None else str(path))
