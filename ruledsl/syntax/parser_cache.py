"""The LALR parser, built once per grammar and kept in a user cache directory.

Building the parser (grammar analysis and LALR tables) costs more than
parsing a whole ruleset, so the built tables go through Lark's own cache
(``Lark(..., cache=path)``) in a file under ``platformdirs.user_cache_dir
("ruledsl")``, or under ``$RULEDSL_CACHE_DIR`` when that is set.  The file
name carries a hash of the grammar text, the Lark options, and the Lark,
ruledsl and Python versions, so a changed grammar or upgraded package never
reads a stale file; Lark checks its own hash of the grammar and options
inside the file as well.

A new file is written under a temporary name and moved into place with
``os.replace``, so a process never reads a half-written file that another is
creating (Lark's digest covers the path it was given, so the first line is
rewritten for the final name).  Any problem with the cache - a directory
that cannot be created or written, an unreadable or corrupt file - only
costs a build: Lark falls back to building the parser and rewrites a corrupt
file in place.  The file holds a pickle and is trusted like the package's
own code: point ``RULEDSL_CACHE_DIR`` only at a directory that only its
user can write.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import uuid
from pathlib import Path
from typing import Any, Optional

import lark
from lark import Lark

from ruledsl._version import __version__

CACHE_DIR_ENV = "RULEDSL_CACHE_DIR"
"""Environment variable naming the cache directory (default: the user cache directory)."""

_SUFFIX = ".lark-cache"


def cache_dir() -> Optional[Path]:
    """The directory for ruledsl's cached files, or None when there is none to use.

    ``$RULEDSL_CACHE_DIR`` when set and not empty, else
    ``platformdirs.user_cache_dir("ruledsl")``.
    """
    env = os.environ.get(CACHE_DIR_ENV, "").strip()
    if env:
        return Path(env)
    try:
        import platformdirs
    except ImportError:  # a dependency, but a missing one only costs the cache
        return None
    return Path(platformdirs.user_cache_dir("ruledsl"))


def _option_text(value: Any) -> str:
    # a lexer class stands for itself by its qualified name, which is stable
    # across processes (its default repr is too, but say it plainly)
    if isinstance(value, type):
        return f"{value.__module__}.{value.__qualname__}"
    return repr(value)


def cache_key(grammar: str, options: dict[str, Any]) -> str:
    """The hex digest naming a parser's cache file.

    It covers the grammar text, the options that shape the tables (not the
    transformer, which is attached at load time), and the Lark, ruledsl and
    Python versions.
    """
    h = hashlib.sha256()
    for part in (
        grammar,
        ";".join(f"{k}={_option_text(v)}" for k, v in sorted(options.items()) if k != "transformer"),
        lark.__version__,
        __version__,
        "{}.{}".format(*sys.version_info[:2]),
    ):
        h.update(part.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()


def cache_path(grammar: str, options: dict[str, Any]) -> Optional[Path]:
    """Where the parser for ``grammar`` and ``options`` is cached (None: no cache directory)."""
    directory = cache_dir()
    if directory is None:
        return None
    return directory / f"parser-{cache_key(grammar, options)[:40]}{_SUFFIX}"


_NOT_IN_LARK_DIGEST = ("transformer", "postlex", "lexer_callbacks", "edit_terminals", "_plugins")


def _lark_digest(grammar: str, options: dict[str, Any]) -> bytes:
    """The first line Lark writes in a cache file made by ``Lark(grammar, **options)``.

    Lark hashes its options in call order, the ``cache`` path among them, so
    a file built under a temporary name needs the digest for its final name.
    """
    text = (
        grammar
        + "".join(k + str(v) for k, v in options.items() if k not in _NOT_IN_LARK_DIGEST)
        + lark.__version__
        + str(sys.version_info[:2])
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest().encode("ascii")


def load_or_build(grammar: str, **options: Any) -> Lark:
    """A Lark LALR parser for ``grammar``, read from the cache when possible.

    ``options`` are Lark's; ``cache`` is set here.  Never raises because of
    the cache: every cache problem falls back to building the parser.
    """
    path = cache_path(grammar, options)
    if path is None:
        return Lark(grammar, **options)
    if path.exists():
        # Lark reads the file when its digest matches; otherwise (a corrupt or
        # unreadable file included) it builds the parser and rewrites the file
        return Lark(grammar, cache=str(path), **options)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError:
        return Lark(grammar, **options)
    # build into a file of this process's own, then move it into place whole
    temp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        parser = Lark(grammar, cache=str(temp), **options)
        try:
            head, newline, rest = temp.read_bytes().partition(b"\n")
            if newline and head == _lark_digest(grammar, {"cache": str(temp), **options}):
                temp.write_bytes(_lark_digest(grammar, {"cache": str(path), **options}) + b"\n" + rest)
                os.replace(temp, path)
            # else a Lark whose file format is not the one expected here: no cache
        except OSError:
            pass  # nothing written (a read-only directory) or a full disk: the parser still works
        return parser
    finally:
        with contextlib.suppress(OSError):  # moved into place, or never written
            temp.unlink()
