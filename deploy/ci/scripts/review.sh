#!/usr/bin/env bash
# Pull request, step 3: a 30-day simulation of the policies before (at the base revision) and after (the working
# tree) from the server's inventory, as a Markdown summary: $LIFECYCLE_OUT/summary.md, and the job summary when
# $GITHUB_STEP_SUMMARY is set. A destructive change (planned deletes, a removed policy, shortened retention) fails
# with exit 3 unless LIFECYCLE_ALLOW_DESTRUCTIVE=true. Optional: LIFECYCLE_SIMULATE_DAYS (30), LIFECYCLE_SIMULATE_FROM
# (an ISO 8601 instant; default now), LIFECYCLE_PRICES (a prices JSON file).
set -euo pipefail
# shellcheck source=deploy/ci/scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

require LIFECYCLE_SERVER
ref="$(base_ref)"
mkdir -p "$OUT"

# The policies at the base revision, extracted beside the working tree (none if the directory did not exist then).
root="$(git rev-parse --show-toplevel)"
prefix="$(cd "$POLICIES" && git rev-parse --show-prefix)"
prefix="${prefix%/}"
baseline="$(mktemp -d)"
trap 'rm -rf "$baseline"' EXIT
if git -C "$root" cat-file -e "$ref:$prefix" 2>/dev/null; then
  git -C "$root" archive --format=tar "$ref" -- "$prefix" | tar -x -C "$baseline"
fi

args=(simulate --server "$LIFECYCLE_SERVER" --policies "$POLICIES" --baseline "$baseline/$prefix" --baseline-label "before ($ref)"
  --days "${LIFECYCLE_SIMULATE_DAYS:-30}" --output markdown)
[[ -f "$OUT/plan.json" ]] && args+=(--plan "$OUT/plan.json")
[[ -n "${LIFECYCLE_SIMULATE_FROM:-}" ]] && args+=(--from "$LIFECYCLE_SIMULATE_FROM")
[[ -n "${LIFECYCLE_PRICES:-}" ]] && args+=(--prices "$LIFECYCLE_PRICES")
allow_destructive && args+=(--allow-destructive)

status=0
lifecycle "${args[@]}" > "$OUT/summary.md" || status=$?
if [[ $status -ne 0 && $status -ne 3 ]]; then
  fail "the simulation failed (exit $status)"
fi

if [[ -f "$OUT/plan.txt" ]]; then
  { printf '\n<details><summary>Plan of the changed policies</summary>\n\n```\n'; cat "$OUT/plan.txt"; printf '```\n</details>\n'; } >> "$OUT/summary.md"
fi

cat "$OUT/summary.md"
if [[ -n "${GITHUB_STEP_SUMMARY:-}" ]]; then
  cat "$OUT/summary.md" >> "$GITHUB_STEP_SUMMARY"
fi

if [[ $status -eq 3 ]]; then
  echo "error: the change is destructive; allow it with the label lifecycle:allow-destructive (LIFECYCLE_ALLOW_DESTRUCTIVE=true)" >&2
  exit 3
fi
