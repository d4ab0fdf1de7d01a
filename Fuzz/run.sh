#!/usr/bin/env bash
# Build one libFuzzer harness with the IsthmusWire sources and run it for a bounded time.
# Usage: Fuzz/run.sh TARGET SECONDS     (TARGET: IKEv2 | ISAKMP | ESP | EAP)
# Corpus: /tmp/isthmus-fuzz/TARGET/corpus (seeded from Fuzz/Seeds/*.hex); crashes: .../crashes
set -euo pipefail

target="${1:?usage: run.sh IKEv2|ISAKMP|ESP|EAP SECONDS}"
seconds="${2:?usage: run.sh IKEv2|ISAKMP|ESP|EAP SECONDS}"
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
harness="$here/Fuzz${target}.swift"
[[ -f "$harness" ]] || { echo "no harness $harness" >&2; exit 2; }

work="/tmp/isthmus-fuzz/$target"
mkdir -p "$work/corpus" "$work/crashes"

# Seeds: hex files named TARGET-*.hex.
for seed in "$here"/Seeds/"$target"-*.hex; do
    [[ -e "$seed" ]] || continue
    tr -d ' \n' < "$seed" | xxd -r -p > "$work/corpus/seed-$(basename "$seed" .hex)"
done

mapfile -t sources < <(find "$root/Sources/IsthmusWire" -name '*.swift' | sort)
swiftc -parse-as-library -sanitize=fuzzer,address -O -g \
    -module-name IsthmusWireFuzz \
    "${sources[@]}" "$harness" \
    -o "$work/fuzz-$target"

"$work/fuzz-$target" "$work/corpus" \
    -max_total_time="$seconds" -max_len=4096 -artifact_prefix="$work/crashes/" -print_final_stats=1
