# shellcheck shell=bash
# Shared by the pipeline scripts (sourced, not run). Settings come from the environment:
#   LIFECYCLE_CLI        the lifecycle command (default: lifecycle on PATH)
#   LIFECYCLE_POLICIES   the policy directory, relative to the repository root (default: policies)
#   LIFECYCLE_OUT        where the scripts write plan.txt, plan.json and summary.md (default: lifecycle-out)
#   LIFECYCLE_SERVER     the server's URL (plan, review, apply)
#   LIFECYCLE_TOKEN      its bearer token (read scope for plan and review, admin for apply)

POLICIES="${LIFECYCLE_POLICIES:-policies}"
OUT="${LIFECYCLE_OUT:-lifecycle-out}"

lifecycle() {
  if [[ -n "${LIFECYCLE_CLI:-}" ]]; then
    "$LIFECYCLE_CLI" "$@"
  else
    command lifecycle "$@"
  fi
}

# fail MESSAGE: prints an error (an annotation on GitHub Actions) and exits 1.
fail() {
  if [[ -n "${GITHUB_ACTIONS:-}" ]]; then
    echo "::error::$1" >&2
  else
    echo "error: $1" >&2
  fi
  exit 1
}

# require NAME...: each named variable must be set and non-empty.
require() {
  local name
  for name in "$@"; do
    [[ -n "${!name:-}" ]] || fail "$name is not set"
  done
}

# base_ref: the revision a change is compared with (LIFECYCLE_BASE_REF, else the CI's target branch).
base_ref() {
  if [[ -n "${LIFECYCLE_BASE_REF:-}" ]]; then
    echo "$LIFECYCLE_BASE_REF"
  elif [[ -n "${GITHUB_BASE_REF:-}" ]]; then
    echo "origin/$GITHUB_BASE_REF"
  elif [[ -n "${CI_MERGE_REQUEST_DIFF_BASE_SHA:-}" ]]; then
    echo "$CI_MERGE_REQUEST_DIFF_BASE_SHA"
  else
    fail "LIFECYCLE_BASE_REF is not set (and no GITHUB_BASE_REF or CI_MERGE_REQUEST_DIFF_BASE_SHA)"
  fi
}

# allow_destructive: true when LIFECYCLE_ALLOW_DESTRUCTIVE is true (set by the workflow from a PR label or MR variable).
allow_destructive() {
  [[ "${LIFECYCLE_ALLOW_DESTRUCTIVE:-false}" == "true" ]]
}
