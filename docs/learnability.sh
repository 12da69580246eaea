#!/usr/bin/env bash
# The README's learnability check, chosen without the test subjects:
#   1. both CPU variants train on 36 of the 48 training subjects of the split; 12 held-out training subjects
#      (balanced over the databases) are the validation set; the variant with the higher validation UAR wins
#      (UF1 breaks a tie). The 20 test subjects are scored too but play no part in the choice.
#   2. the winner trains once on all 48 training subjects and is scored on the 20 held-out ones, with a
#      subject-level bootstrap 95% interval.
# Usage: bash docs/learnability.sh [OUT [--set KEY=VALUE ...]]   (three runs of 6-8 minutes each on 2 free CPU cores)
#   e.g. a fresh draw of the 20 test subjects: bash docs/learnability.sh runs/learnability-split1 --set eval.split_seed=1
set -euo pipefail
out=${1:-runs/learnability}
shift || true
icezoo ablate recipes/icegan_small.yaml recipes/icegan_small_pooled.yaml --protocol split \
  --set eval.validation_subjects=12 "$@" --out "$out/select" --no-progress
chosen=$(python - "$out/select" <<'PY'
import json, sys
from pathlib import Path
runs = {p.parent.name: json.loads(p.read_text()) for p in Path(sys.argv[1]).glob("*/metrics.json")}
score = {name: (m["validation"]["uar"], m["validation"]["uf1"]) for name, m in runs.items()}
for name, (a, f) in sorted(score.items()):
    print(f"validation {name}: UAR {a:.3f}, UF1 {f:.3f}", file=sys.stderr)
print(max(score, key=score.get))
PY
)
echo "chosen on validation subjects: $chosen"
icezoo eval "recipes/$chosen.yaml" --protocol split "$@" --out "$out/final-$chosen" --no-progress
