"""Which MEGC2019 composite label list a manifest matches: the challenge's 441 clips or the papers' 442.

The challenge's own csv lists 441 clips; the label file several papers use
(and the 442 of the paper and of DESIGN.md) has one more, SAMM ``032_3_1``
(negative). Results on the two are not quite the same test set, so
``prepare`` says which one a manifest holds.
"""

from __future__ import annotations

from collections.abc import Sequence

EXTRA_CLIP = ("samm", "032_3_1")
"""(dataset, clip) of the one clip the 442-clip list has and the challenge's 441-clip csv does not."""


def composite_note(rows: Sequence) -> str:
    """One line on the manifest's clip count against the two lists (rows: :class:`ManifestRow`-like)."""
    has = any((r.dataset, r.clip) == EXTRA_CLIP for r in rows)
    extra = f"SAMM {EXTRA_CLIP[1]} (negative) is {'in' if has else 'not in'} it"
    n, datasets = len(rows), {r.dataset for r in rows}
    if not {"smic", "casme2", "samm"} <= datasets:
        return f"composite: {n} clips of {', '.join(sorted(datasets))} so far (not all three databases); {extra}"
    if n == 441 and not has:
        return "composite: 441 clips, the MEGC2019 challenge's own csv (without SAMM 032_3_1)"
    if n == 442 and has:
        return (
            "composite: 442 clips, the label file of several papers (the challenge's 441 plus SAMM 032_3_1, negative)"
        )
    return f"composite: {n} clips, neither the challenge's 441-clip csv nor the papers' 442-clip list; {extra}"
