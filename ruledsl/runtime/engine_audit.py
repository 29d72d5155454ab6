"""The engine's administrative changes recorded in its audit log (``ruledsl.runtime.audit``).

``Engine`` inherits these methods; its ``set_param`` and ``reload`` hand
over to them (``update_list`` records itself: ``engine_lists``) when the engine has an audit log
(``load(..., audit_log=...)``), and ``__init__`` records the snapshot
restore.  ``evaluate`` never touches the log.

Ordering: a change is applied and recorded while holding the log's lock, so
the lines are in the order the changes took effect and each ``old`` is the
previous line's ``new``.  The engine's own lock is held only while the value
is swapped, never during the ``fsync``, so evaluation is not held up by the
disk.  A change that fails (a bad value, an unknown name, a bad ``by``)
writes nothing and changes nothing; a change whose line cannot be written is
undone and raises ``AuditError`` (a reload, already swapped in, is the
exception: it stays, and the error says so).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional, Union

from ruledsl.runtime import audit as auditing
from ruledsl.runtime.persistence import user_value, user_values
from ruledsl.runtime.settings import unknown_name


class AuditMixin:
    """Audit-log recording for ``Engine``."""

    # set by Engine.__init__
    compiled: Any
    result: Any
    paths: list[str]
    _audit: Optional[auditing.AuditLog]
    _lock: Any
    _params: list[Any]
    _lists: list[Any]
    _param_overrides: dict[str, Any]
    _list_overrides: dict[str, Any]
    _set_param: Callable[[str, Any], None]
    _reload: Callable[..., list[str]]

    @property
    def audit_log(self) -> Optional[auditing.AuditLog]:
        """The engine's audit log, or ``None``."""
        return self._audit

    def _audit_lock(self) -> Any:
        """The log's lock (changes are applied and recorded under it), or a no-op without a log."""
        return self._audit.lock if self._audit is not None else contextlib.nullcontext()

    def _audit_record(
        self, action: str, target: str, old: Any, new: Any, *, by: Optional[str], reason: Optional[str]
    ) -> Optional[auditing.AuditEntry]:
        """Append one entry if the engine has a log; for holds, controls and exemptions.

        Lock order: take ``_audit_lock()`` first, then the engine's ``_lock``
        only to apply the change, and append after releasing ``_lock`` (as
        ``_audited_set_param`` does): appending under ``_lock`` would hold up
        ``evaluate`` for the ``fsync``, and taking ``_audit_lock`` inside
        ``_lock`` could deadlock with it.
        """
        if self._audit is None:
            return None
        return self._audit.append(action, target, old, new, by=by, reason=reason)

    # ---------------------------------------------------------------- changes
    def _audited_set_param(self, name: str, value: Any, by: Optional[str], reason: Optional[str]) -> None:
        log = self._audit
        if log is None:
            raise RuntimeError("no audit log")
        auditing.check_who(by, reason)
        comp = self.compiled
        with log.lock:
            with self._lock:
                if not isinstance(name, str) or name not in comp.param_types:
                    raise unknown_name("parameter", name, comp.params, call="set_param")
                i = comp.params.index(name)
                old = self._params[i]
                had, old_override = name in self._param_overrides, self._param_overrides.get(name)
                self._set_param(name, value)  # converts before it assigns: a bad value changes nothing
                self._param_overrides[name] = value
                new = self._params[i]
            type_name = comp.param_types[name]
            try:
                log.append(
                    "set_param", name, user_value(type_name, old), user_value(type_name, new), by=by, reason=reason
                )
            except BaseException:
                with self._lock:  # no change without its line
                    self._params[i] = old
                    if had:
                        self._param_overrides[name] = old_override
                    else:
                        self._param_overrides.pop(name, None)
                raise

    def _audited_reload(
        self, paths: Any, params: Optional[dict[str, Any]], lists: Optional[dict[str, Any]], by: Any, reason: Any
    ) -> list[str]:
        log = self._audit
        if log is None:
            raise RuntimeError("no audit log")
        auditing.check_who(by, reason)
        with log.lock:
            old = self._ruleset_summary()
            kept = self._reload(paths, params, lists)
            new = self._ruleset_summary()
            comp = self.compiled
            if params:
                new["params"] = {k: user_value(comp.param_types[k], self._params[comp.params.index(k)]) for k in params}
            if lists:
                new["lists"] = {
                    k: self._table_summary(k, self._lists[comp.lists.index(k)], None)  # type: ignore[attr-defined]
                    for k in lists
                }
            new["kept_state"] = list(kept)
            try:
                log.append(
                    "reload", str(old.get("ruleset") or new.get("ruleset") or ""), old, new, by=by, reason=reason
                )
            except auditing.AuditError as err:
                raise auditing.AuditError(
                    f"the new ruleset is running, but its reload was not recorded: {err}"
                ) from None
            return kept

    def _audit_restore(self, state: Union[str, Path]) -> None:
        """Record the snapshot restore at ``load`` (the settings in effect after it, for ``replay_settings``)."""
        if self._audit is None:
            return
        comp = self.compiled
        new = {
            "path": str(state),
            "digest": auditing.file_digest(state),
            "params": {
                k: user_value(comp.param_types[k], self._params[comp.params.index(k)]) for k in self._param_overrides
            },
            "lists": {
                k: self._table_summary(k, self._lists[comp.lists.index(k)], None)  # type: ignore[attr-defined]
                for k in self._list_overrides
            },
            "kept_state": list(getattr(self, "kept_state", [])),
        }
        with self._audit.lock:
            self._audit.append("restore", str(state), None, new)

    # ---------------------------------------------------------------- helpers
    def _ruleset_summary(self) -> dict[str, Any]:
        """The ruleset's name, files and a digest of their text (what a ``reload`` entry shows)."""
        header = self.result.symbols.header
        name = header.name.name if header is not None and header.name is not None else ""
        sources = getattr(self.result, "sources", None) or {}
        h = hashlib.sha256()
        for path in sorted(sources):
            h.update(path.encode() + b"\0" + sources[path].encode() + b"\0")
        return {"ruleset": name, "paths": list(self.paths), "digest": "sha256:" + h.hexdigest()}

    @staticmethod
    def _user_set(type_name: str, entries: frozenset) -> frozenset:
        """A list's runtime entries as the user values ``list_summary`` compares (the same set for strings)."""
        return entries if type_name not in ("decimal",) else frozenset(user_values(type_name, entries))

    def _list_digest(self, name: str, entries: Any) -> str:
        cached = getattr(self, "_list_digests", {}).get(name)
        if cached is not None and cached[0] is entries:
            return str(cached[1])
        digest = auditing.list_digest(user_values(self.compiled.list_types[name], entries))
        self._remember_digest(name, entries, digest)
        return digest

    def _remember_digest(self, name: str, entries: Any, digest: str) -> None:
        # a 10M-entry list takes seconds to digest: the last one is kept so the next change's `old` is free
        if not hasattr(self, "_list_digests"):
            self._list_digests: dict[str, tuple[Any, str]] = {}
        self._list_digests[name] = (entries, digest)
