"""``icezoo prepare --dataset D --root DIR --out DIR``: a database's release -> the megc2019 manifest and face crops."""

from __future__ import annotations

import argparse
import collections
import logging

from . import options

HELP = "turn a CASME II, SAMM or SMIC-HS release into the megc2019 manifest and 128x128 face crops"

DATASETS = ("casme2", "samm", "smic")
"""The releases ``prepare`` reads (``LABEL_MAPS``' keys), spelled out so ``--help`` needs no torch (a test checks)."""

log = logging.getLogger("icezoo.prepare")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", required=True, choices=DATASETS, help="which release --root holds")
    p.add_argument("--root", required=True, help="the release's folder (coding spreadsheet and frame folders)")
    options.out(p, "output folder: manifest.csv and the crops (shared by all three databases)", required=True)
    p.add_argument(
        "--coding", default=None, help="coding spreadsheet, if not at its release name under --root (CASME II, SAMM)"
    )
    p.add_argument(
        "--no-align", action="store_true", help="centre square crop instead of face detection and 68 landmarks"
    )
    p.add_argument("--limit", type=int, default=None, help="prepare only the first N clips (a quick try)")
    p.add_argument(
        "--neighbours", type=int, default=4, help="apex neighbours to save (default 4: apex-1, apex+1, apex-2, apex+2)"
    )


def _counts(counter) -> str:
    """``a 2, b 1`` for a Counter, keys sorted."""
    return ", ".join(f"{k} {v}" for k, v in sorted(counter.items()))


def run(args: argparse.Namespace) -> int:
    from ..data.clips import CLASSES
    from ..data.megc2019 import read_manifest
    from ..data.prepare import prepare
    from ..data.prepare.composite import composite_note

    report = prepare(args.dataset, args.root, args.out, coding=args.coding, align=not args.no_align, limit=args.limit,
                     neighbours=args.neighbours)  # fmt: skip
    if report.apex_from_frames:
        log.warning(
            "%d clips have no usable apex annotation; apex found from frame differences: %s",
            len(report.apex_from_frames),
            "; ".join(report.apex_from_frames),
        )
    if report.no_face:
        log.warning(
            "no face found in the onset frame of %d clips; centre-cropped: %s",
            len(report.no_face),
            "; ".join(report.no_face),
        )
    classes = collections.Counter(r.label for r in report.rows)
    dropped = ""
    if report.dropped:
        dropped = f"; dropped {sum(report.dropped.values())} clips outside the composite ({_counts(report.dropped)})"
    print(f"{report.dataset}: {len(report.rows)} clips ({', '.join(f'{c} {classes[c]}' for c in CLASSES)}){dropped}")
    print(f"{report.manifest}: {sum(report.total.values())} clips ({_counts(report.total)})")
    print(composite_note(read_manifest(report.manifest)))
    return 0
