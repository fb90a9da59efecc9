#!/usr/bin/env bash
# Pull request, step 1: the policy files are valid (every error with file:line:column and the field).
set -euo pipefail
# shellcheck source=deploy/ci/scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

lifecycle validate "$POLICIES"
