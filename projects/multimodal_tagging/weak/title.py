"""Weak labels from the title: keyword parsing, per tag, with mutually exclusive groups.

A tag ``group:value`` is found when one of its keywords occurs in the title as whole words
(case-insensitive; ``men`` does not match ``women``; longest keyword first, so ``navy blue`` is not
also ``blue``). Keywords per tag: the value itself, plus the extra ones the data config lists under
``data.title.keywords``. For a group listed in ``data.title.exclusive`` (one value per product):

* exactly one value found -> that tag 1, the group's other tags 0;
* several values found    -> the found tags unknown, the others 0;
* nothing found           -> the whole group unknown.

A tag outside the exclusive groups is 1 when found and unknown otherwise. Unknown entries carry no
loss (mask 0); KNN propagation may fill them.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

import numpy as np


def _words(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


class TitleParser:
    def __init__(self, tag_names: Sequence[str], keywords: Mapping[str, Iterable[str]] | None = None,
                 exclusive: Iterable[str] = ()) -> None:
        self.tag_names = list(tag_names)
        self.exclusive = set(exclusive)
        keywords = dict(keywords or {})
        unknown = sorted(set(keywords) - set(self.tag_names))
        if unknown:
            from shared.errors import ConfigError

            raise ConfigError(f"data.title.keywords names unknown tag(s) {unknown}; tags: {self.tag_names}")
        self.groups: dict[str, list[int]] = defaultdict(list)
        lookup: dict[str, int] = {}
        for i, tag in enumerate(self.tag_names):
            group, _, value = tag.partition(":")
            self.groups[group if value else tag].append(i)
            for kw in [value or tag, *keywords.get(tag, ())]:
                lookup.setdefault(_words(kw), i)
        self.lookup = {k: v for k, v in lookup.items() if k}
        alternatives = sorted(self.lookup, key=len, reverse=True)
        self.pattern = re.compile(r"\b(" + "|".join(re.escape(a) for a in alternatives) + r")\b")

    def found(self, title: str) -> set[int]:
        return {self.lookup[m] for m in self.pattern.findall(_words(title or ""))}

    def parse(self, titles: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(targets, mask) [N, T]: mask 1 where the title decides the tag."""
        targets = np.zeros((len(titles), len(self.tag_names)), dtype=np.float32)
        mask = np.zeros_like(targets)
        for n, title in enumerate(titles):
            hits = self.found(title)
            for group, members in self.groups.items():
                got = [i for i in members if i in hits]
                if group in self.exclusive:
                    if not got:
                        continue
                    mask[n, members] = 1.0
                    if len(got) == 1:
                        targets[n, got[0]] = 1.0
                    else:
                        mask[n, got] = 0.0
                else:
                    targets[n, got] = 1.0
                    mask[n, got] = 1.0
        return targets, mask
