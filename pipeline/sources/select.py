"""Which papers go in: arXiv categories, hand-assigned fields, and licences to leave out.

Patterns are shell-style (fnmatch) and case-insensitive. A paper passes when every non-empty
filter passes: some category matches one of `categories`, its `field` matches one of `fields`,
and its free-text `license` matches none of `exclude_licences`. A paper without metadata fails
the category and field filters when they are set (nothing says it belongs), and passes the
licence filter (nothing says it is excluded).
"""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Sequence


def _match(value: str, patterns: Sequence[str]) -> bool:
    value = value.lower()
    return any(fnmatch.fnmatchcase(value, p.lower()) for p in patterns)


@dataclass(frozen=True)
class Selection:
    categories: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()
    exclude_licences: tuple[str, ...] = ()

    def reject_reason(self, meta: dict | None) -> str | None:
        """None if the paper is selected, else which filter rejected it."""
        meta = meta or {}
        if self.categories:
            cats = (meta.get("categories") or "").split()
            if not any(_match(c, self.categories) for c in cats):
                return "categories"
        if self.fields:
            if not _match(meta.get("field") or "", self.fields):
                return "fields"
        if self.exclude_licences:
            licence = meta.get("license") or ""
            if licence and _match(licence, self.exclude_licences):
                return "exclude_licences"
        return None
