#!/usr/bin/env bash
# Runs one generated volume image through the local engine (`lifecycle bench engine`), restic and borg, each with a
# local repository in a temporary directory (no network), and prints a side-by-side table:
# full backup, incremental backup after a scattered change, bytes stored/added, restore, peak memory.
#
#   tests/bench/compare-peers.sh [SIZE=2GiB] [CHANGE=1%]
#
# restic and borg come from Debian (apt-get install -y restic borgbackup), installed here when missing. Peers back
# up the image file twice at the same path (original, then changed), as they would a VM disk file.
set -euo pipefail
size=${1:-2GiB}
change=${2:-1%}
root=$(cd "$(dirname "$0")/../.." && pwd)

need=()
command -v restic >/dev/null || need+=(restic)
command -v borg >/dev/null || need+=(borgbackup)
command -v jq >/dev/null || need+=(jq)
command -v bc >/dev/null || need+=(bc)
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then sudo=sudo; else sudo=; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/lifecycle-peers.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/img" "$work/data"

echo "== building lifecycle (Release)"
dotnet build "$root/src/Lifecycle.Cli" -c Release -nologo -v quiet >/dev/null
lifecycle=(dotnet "$root/src/Lifecycle.Cli/bin/Release/net10.0/lifecycle.dll")

timed() { # NAME COMMAND...: wall seconds and peak RSS (KiB) of one command
  local start end
  start=$(date +%s.%N)
  /usr/bin/time -f "%M" -o "$work/$1.mem" "${@:2}" >/dev/null
  end=$(date +%s.%N)
  echo "$end - $start" | bc -l > "$work/$1.sec"
}
sec() { printf '%.2f' "$(cat "$work/$1.sec")"; }
mib() { echo $(( $(tail -1 "$work/$1.mem") / 1024 )); }
mb() { printf '%.1f' "$(echo "$1 / 1000000" | bc -l)"; }
dirsize() { du -sb "$1" | cut -f1; }
use_image() { cp "$work/img/$1" "$work/data/disk.raw"; sync; }

echo "== lifecycle bench engine --size $size --change $change (plain, then encrypted)"
"${lifecycle[@]}" bench engine --size "$size" --change "$change" --keep-image "$work/img" --output json > "$work/lifecycle.json"
"${lifecycle[@]}" bench engine --size "$size" --change "$change" --encrypted --output json > "$work/lifecycle-enc.json"

echo "== $(restic version | cut -d' ' -f1-2)"
export RESTIC_PASSWORD=bench RESTIC_CACHE_DIR="$work/restic-cache"
restic init --repo "$work/restic" -q
use_image image.raw
timed restic-full restic --repo "$work/restic" backup -q "$work/data/disk.raw"
restic_full=$(dirsize "$work/restic")
use_image image-changed.raw
timed restic-incr restic --repo "$work/restic" backup -q "$work/data/disk.raw"
restic_added=$(( $(dirsize "$work/restic") - restic_full ))
timed restic-restore restic --repo "$work/restic" restore latest -q --target "$work/restic-out"
rm -rf "$work/restic-out"

echo "== $(borg --version)"
export BORG_PASSPHRASE=bench BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes BORG_BASE_DIR="$work/borg-home"
borg init -e repokey-blake2 "$work/borg"
use_image image.raw
timed borg-full borg create "$work/borg::full" "$work/data/disk.raw"
borg_full=$(dirsize "$work/borg")
use_image image-changed.raw
timed borg-incr borg create "$work/borg::incremental" "$work/data/disk.raw"
borg_added=$(( $(dirsize "$work/borg") - borg_full ))
mkdir -p "$work/borg-out"
timed borg-restore bash -c "cd '$work/borg-out' && borg extract '$work/borg::incremental'"

step() { jq -r --arg s "$2" ".steps[] | select(.step | startswith(\$s)) | .$3" "$work/$1.json"; }
row() { # NAME JSON
  printf '%-22s %9.2f %9.2f %12s %11.3f %10s %10.2f %9s\n' "$1" \
    "$(step "$2" "full snapshot" seconds)" "$(echo "$(jq .sizeBytes "$work/$2.json") / 1000000 / $(step "$2" "full snapshot" seconds)" | bc -l)" \
    "$(mb "$(step "$2" "full snapshot" storedBytes)")" "$(step "$2" "incremental" seconds)" "$(mb "$(step "$2" "incremental" storedBytes)")" \
    "$(step "$2" "restore to file" seconds)" "$(( $(jq .peakMemoryBytes "$work/$2.json") / 1048576 ))"
}
bytes=$(stat -c %s "$work/img/image.raw")
peer() { # NAME PREFIX FULLBYTES ADDED
  printf '%-22s %9.2f %9.2f %12s %11.3f %10s %10.2f %9s\n' "$1" "$(sec "$2-full")" "$(echo "$bytes / 1000000 / $(cat "$work/$2-full.sec")" | bc -l)" \
    "$(mb "$3")" "$(sec "$2-incr")" "$(mb "$4")" "$(sec "$2-restore")" "$(( $(mib "$2-full") > $(mib "$2-incr") ? $(mib "$2-full") : $(mib "$2-incr") ))"
}

echo
echo "image: $(jq -r .image "$work/lifecycle.json"); $size, change $change; $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-22s %9s %9s %12s %11s %10s %10s %9s\n' "tool" "full s" "full MB/s" "stored MB" "incr s" "added MB" "restore s" "peak MiB"
row "lifecycle" lifecycle
row "lifecycle (encrypted)" lifecycle-enc
peer "$(restic version | cut -d' ' -f1-2)" restic "$restic_full" "$restic_added"
peer "$(borg --version)" borg "$borg_full" "$borg_added"
echo
echo "lifecycle steps:"
jq -r '.steps[] | "  \(.step): \(.seconds | . * 1000 | round / 1000) s, \(.megabytesPerSecond | round) MB/s \(if .storedBytes then ", \(.storedBytes / 1e6 | . * 10 | round / 10) MB" else "" end) (\(.note))"' "$work/lifecycle.json"
