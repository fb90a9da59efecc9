#!/usr/bin/env bash
# Merge: apply the whole policy set to the server, recording the git revision and its author (shown by
# GET /api/v1/revisions and /api/v1/policies). LIFECYCLE_REVISION and LIFECYCLE_AUTHOR override what git says;
# LIFECYCLE_ALLOW_DESTRUCTIVE=true lets the server apply a revision it would refuse as destructive.
set -euo pipefail
# shellcheck source=deploy/ci/scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

require LIFECYCLE_SERVER
revision="${LIFECYCLE_REVISION:-$(git rev-parse HEAD)}"
author="${LIFECYCLE_AUTHOR:-$(git log -1 --format='%an <%ae>' "$revision")}"
args=(apply --server "$LIFECYCLE_SERVER" --policies "$POLICIES" --revision "$revision" --author "$author")
allow_destructive && args+=(--allow-destructive)
lifecycle "${args[@]}"
