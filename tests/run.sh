#!/usr/bin/env bash
# The one test command: installs what the tests need when it is missing, then runs every test project.
# A missing real dependency fails the run loudly; nothing is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

log() { printf '\n== %s\n' "$*"; }

# --- real dependencies ------------------------------------------------------------------------
need_packages=()
command -v dotnet >/dev/null || { echo "error: the .NET 10 SDK (dotnet) is not installed" >&2; exit 1; }
if [ -f tests/dependencies.txt ]; then
  while read -r cmd pkg; do
    [ -z "${cmd:-}" ] || [ "${cmd:0:1}" = "#" ] && continue
    command -v "$cmd" >/dev/null 2>&1 || [ -x "$cmd" ] || need_packages+=("$pkg")
  done < tests/dependencies.txt
fi
if [ ${#need_packages[@]} -gt 0 ]; then
  log "installing ${need_packages[*]}"
  if [ "$(id -u)" -ne 0 ]; then sudo=sudo; else sudo=; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need_packages[@]}" >/dev/null
fi

# --- build once, then run every test project ----------------------------------------------------
log "build"
dotnet build Lifecycle.sln -c Release -nologo -v quiet

results="$root/artifacts/test-results"
rm -rf "$results"; mkdir -p "$results"
status=0
run_project() {
  local project=$1 name
  name=$(basename "$project" .csproj)
  dotnet test "$project" -c Release --no-build -nologo \
      --logger "trx;LogFileName=$name.trx" --results-directory "$results" "${@:2}"
}

# The end-to-end tests spend most of their time waiting for real minutes (schedules, a cluster), not on the CPU:
# they run alongside the other projects, which run one after another. Their output follows once they finish.
e2e=tests/Lifecycle.EndToEnd.Tests/Lifecycle.EndToEnd.Tests.csproj
log "test Lifecycle.EndToEnd.Tests (in the background)"
run_project "$e2e" "$@" > "$results/Lifecycle.EndToEnd.Tests.log" 2>&1 &
e2e_pid=$!
for project in tests/*/*.Tests.csproj; do
  [ "$project" = "$e2e" ] && continue
  log "test $(basename "$project" .csproj)"
  run_project "$project" "$@" || status=1
done
log "test Lifecycle.EndToEnd.Tests"
wait "$e2e_pid" || status=1
cat "$results/Lifecycle.EndToEnd.Tests.log"

# --- one closing line for the whole run -----------------------------------------------------------
passed=0; failed=0; skipped=0
for trx in "$results"/*.trx; do
  [ -f "$trx" ] || continue
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -1)
  p=$(sed -n 's/.* passed="\([0-9]*\)".*/\1/p' <<<"$counters"); f=$(sed -n 's/.* failed="\([0-9]*\)".*/\1/p' <<<"$counters")
  n=$(sed -n 's/.* notExecuted="\([0-9]*\)".*/\1/p' <<<"$counters")
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0})); skipped=$((skipped + ${n:-0}))
done
if [ "$skipped" -gt 0 ]; then echo "error: $skipped tests were skipped; a missing dependency must fail, not skip" >&2; status=1; fi
if [ "$passed" -eq 0 ]; then echo "error: no test ran" >&2; status=1; fi
echo
echo "tests: $passed passed, $failed failed"
exit $status
