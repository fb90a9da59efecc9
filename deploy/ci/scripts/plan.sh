#!/usr/bin/env bash
# Pull request, step 2: what the changed policies would do on the server (diff against its applied revision and the
# next runs' actions), only for the policy files changed since the base revision; deleted files show as removals.
# Writes $LIFECYCLE_OUT/plan.txt and plan.json (review.sh reads the planned deletes from it). Changes nothing.
set -euo pipefail
# shellcheck source=deploy/ci/scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

require LIFECYCLE_SERVER
ref="$(base_ref)"
mkdir -p "$OUT"
lifecycle plan --server "$LIFECYCLE_SERVER" --policies "$POLICIES" --changed-since "$ref" | tee "$OUT/plan.txt"
lifecycle plan --server "$LIFECYCLE_SERVER" --policies "$POLICIES" --changed-since "$ref" --output json > "$OUT/plan.json"
