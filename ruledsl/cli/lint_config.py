"""``ruledsl lint`` configuration: ``[tool.ruledsl]`` in ``pyproject.toml`` or a ``ruledsl.toml``.

Discovery: for each linted file, the nearest directory upward holding a
``ruledsl.toml``, or a ``pyproject.toml`` with a ``[tool.ruledsl]`` table
(``ruledsl.toml`` wins in the same directory), gives that file's settings
(``select``, ``ignore``, ``per-file-ignores``).  Run-wide settings
(``exit-zero``, ``warnings-as-errors``, ``output-format``) come from the
config found upward from the current directory, else from the first file's.
``--config FILE`` uses one file for everything; command-line options
override the file (``--select``/``--ignore`` replace its lists).

Selection applies to warnings only: errors make a ruleset unloadable and are
always reported.  A code matches an entry equal to it or a prefix of it
(``RD3``); the longest matching entry decides, ``ignore`` winning a tie.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Optional

import msgspec
import tomllib

from ruledsl.syntax.codes import CODES
from ruledsl.syntax.diagnostics import Diagnostic, suggest

CONFIG_NAMES = ("ruledsl.toml", "pyproject.toml")
FORMATS = ("text", "json", "github", "sarif")

KEYS: dict[str, str] = {
    "select": "a list of codes or prefixes",
    "ignore": "a list of codes or prefixes",
    "per-file-ignores": "a table: glob -> list of codes or prefixes",
    "exit-zero": "true or false",
    "warnings-as-errors": "true or false",
    "output-format": "one of " + ", ".join(FORMATS),
    "budget": 'a size such as "2GiB": the limit of `lint --budget` (cli/budget.py)',
}
"""Every key of ``[tool.ruledsl]``; other commands' keys (e.g. ``lint --budget``) are added here."""


class ConfigError(Exception):
    """A configuration file or option that cannot be used; the CLI exits with code 2."""


class LintConfig(msgspec.Struct):
    """Settings of one configuration file (or the defaults, ``path=None``)."""

    path: Optional[Path] = None
    select: Optional[list[str]] = None
    ignore: list[str] = []
    per_file_ignores: dict[str, list[str]] = {}
    exit_zero: bool = False
    warnings_as_errors: bool = False
    output_format: Optional[str] = None
    extra: dict[str, Any] = {}  # keys of other commands, validated by them

    def enabled(self, code: str, shown_path: str) -> bool:
        """Whether a warning ``code`` reported in ``shown_path`` is kept."""
        if CODES[code].severity == "error":
            return True
        best_sel = max((len(e) for e in self.select or () if code.startswith(e)), default=-1)
        ignores = list(self.ignore) + self._file_ignores(shown_path)
        best_ign = max((len(e) for e in ignores if code.startswith(e)), default=-1)
        if best_ign >= 0 and best_ign >= best_sel:
            return False
        return best_sel >= 0 or self.select is None

    def _file_ignores(self, shown_path: str) -> list[str]:
        if not self.per_file_ignores:
            return []
        real = Path(shown_path).resolve()
        base = self.path.parent.resolve() if self.path is not None else Path.cwd().resolve()
        try:
            rel = real.relative_to(base).as_posix()
        except ValueError:
            rel = real.as_posix()
        out: list[str] = []
        for pattern, codes in self.per_file_ignores.items():
            if fnmatch.fnmatchcase(rel, pattern) or fnmatch.fnmatchcase(real.name, pattern):
                out.extend(codes)
        return out


def _codes(value: Any, where: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f'{where}: expected a list of codes such as ["RD307", "RD4"]')
    out = []
    for v in value:
        code = v.strip()
        matching = [c for c in CODES if c.startswith(code)] if code else []
        if not matching:
            hint = suggest(code, CODES)
            raise ConfigError(f"{where}: unknown code `{v}`" + (f"; {hint}" if hint else ""))
        if all(CODES[c].severity == "error" for c in matching):
            raise ConfigError(
                f"{where}: `{v}` names only errors; errors make a ruleset unloadable and cannot be selected away"
            )
        out.append(code)
    return out


def parse_config(data: dict[str, Any], path: Optional[Path]) -> LintConfig:
    """Validate a ``[tool.ruledsl]`` table; ``ConfigError`` names the file and the bad key."""
    where = str(path) if path is not None else "configuration"
    cfg = LintConfig(path=path)
    for key, value in data.items():
        at = f"{where}: `{key}`"
        if key not in KEYS:
            hint = suggest(key, KEYS)
            raise ConfigError(
                f"{where}: unknown key `{key}`" + (f"; {hint}" if hint else f" (known: {', '.join(KEYS)})")
            )
        if key == "select":
            cfg.select = _codes(value, at)
        elif key == "ignore":
            cfg.ignore = _codes(value, at)
        elif key == "per-file-ignores":
            if not isinstance(value, dict):
                raise ConfigError(f"{at}: expected {KEYS[key]}")
            cfg.per_file_ignores = {str(g): _codes(v, f"{at} `{g}`") for g, v in value.items()}
        elif key in ("exit-zero", "warnings-as-errors"):
            if not isinstance(value, bool):
                raise ConfigError(f"{at}: expected true or false, not {value!r}")
            setattr(cfg, key.replace("-", "_"), value)
        elif key == "output-format":
            if value not in FORMATS:
                raise ConfigError(f"{at}: expected {KEYS[key]}, not {value!r}")
            cfg.output_format = value
        else:
            cfg.extra[key] = value
    return cfg


def read_config(path: Path) -> Optional[LintConfig]:
    """The settings in ``path``; ``None`` for a ``pyproject.toml`` without ``[tool.ruledsl]``."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(f"cannot read {path}: {err.strerror or err}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from None
    if path.name == "pyproject.toml":
        tool = data.get("tool", {})
        if not isinstance(tool, dict) or "ruledsl" not in tool:
            return None
        data = tool["ruledsl"]
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: [tool.ruledsl] must be a table")
    return parse_config(data, path)


class Resolver:
    """Finds the configuration of each file (nearest upward, cached per directory)."""

    def __init__(self, explicit: Optional[Path] = None):
        self.explicit: Optional[LintConfig] = None
        if explicit is not None:
            if not explicit.is_file():
                raise ConfigError(f"config file not found: {explicit}")
            self.explicit = read_config(explicit) or LintConfig(path=explicit)
        self._cache: dict[Path, LintConfig] = {}

    def for_dir(self, directory: Path) -> LintConfig:
        """The configuration governing files in ``directory``."""
        if self.explicit is not None:
            return self.explicit
        directory = directory.resolve()
        chain: list[Path] = []
        found = LintConfig()
        for d in (directory, *directory.parents):
            if d in self._cache:
                found = self._cache[d]
                break
            chain.append(d)
            cfg = next((c for c in (self._read(d / name) for name in CONFIG_NAMES) if c is not None), None)
            if cfg is not None:
                found = cfg
                break
        for d in chain:
            self._cache[d] = found
        return found

    @staticmethod
    def _read(path: Path) -> Optional[LintConfig]:
        return read_config(path) if path.is_file() else None

    def for_file(self, shown_path: str) -> LintConfig:
        """The configuration of a file, by its displayed path."""
        return self.for_dir(Path(shown_path).parent if shown_path else Path.cwd())

    def run_wide(self, first: Optional[str]) -> LintConfig:
        """Run-wide settings: ``--config``, else the current directory's config, else the first file's."""
        cfg = self.for_dir(Path.cwd())
        if cfg.path is None and first is not None:
            cfg = self.for_file(first)
        return cfg

    def config_files(self) -> list[Path]:
        """Every configuration file found so far (watched by ``--watch``)."""
        paths = {c.path for c in self._cache.values() if c.path is not None}
        if self.explicit is not None and self.explicit.path is not None:
            paths.add(self.explicit.path)
        return sorted(paths)


def filter_diagnostics(diags: Iterable[Diagnostic], resolver: Resolver, cli: LintConfig) -> list[Diagnostic]:
    """Keep the diagnostics each file's configuration (overridden by the command line) enables."""
    out = []
    for d in diags:
        cfg = resolver.for_file(d.path)
        if cli.select is not None or cli.ignore:
            cfg = msgspec.structs.replace(
                cfg,
                select=cli.select if cli.select is not None else cfg.select,
                ignore=cli.ignore if cli.ignore else cfg.ignore,
            )
        if cfg.enabled(d.code, d.path):
            out.append(d)
    return out
