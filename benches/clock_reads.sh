#!/usr/bin/env bash
# The cost of a wall-clock read in a program the body executes: no preload, the sandbox's
# clock library passing through (no page) and moving the clock (a page with an offset),
# and libfaketime (when installed) for comparison. Median of 5 runs of benches/clock_reads.c
# (5 million calls each); also the cost of starting a program (`true`, 500 times).
# Run from the repository after `cargo build`: benches/clock_reads.sh
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
library=$(ls -t target/debug/build/sandbox-test-*/out/libsandbox_clock.so | head -1)
cc -O2 -o "$work/reads" benches/clock_reads.c
# A page as the sandbox writes it: magic "SBTC", seq 0, mode 1 (shift), +400 days.
python3 -c "import struct,sys; open(sys.argv[1],'wb').write(struct.pack('<IIIIq',0x53425443,0,1,0,400*86400).ljust(4096,b'\0'))" "$work/page"
faketime=/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
measure() {
  local name=$1; shift
  local runs; runs=$(for _ in 1 2 3 4 5; do env "$@" "$work/reads"; done)
  local starts; starts=$( { TIMEFORMAT=%R; time (for _ in $(seq 500); do env "$@" true; done) ; } 2>&1 )
  printf '%-28s clock_gettime %6s ns  gettimeofday %6s ns  time %6s ns  500 starts %5s s  reads %s\n' "$name" \
    "$(cut -d' ' -f1 <<<"$runs" | median)" "$(cut -d' ' -f2 <<<"$runs" | median)" \
    "$(cut -d' ' -f3 <<<"$runs" | median)" "$starts" "$(tail -1 <<<"$runs" | cut -d' ' -f4)"
}
measure "no preload"
measure "clock library, no page" LD_PRELOAD="$library"
measure "clock library, moved" LD_PRELOAD="$library" SANDBOX_TEST_CLOCK="$work/page"
if [ -f "$faketime" ]; then
  measure "libfaketime, +400d" LD_PRELOAD="$faketime" FAKETIME=+400d FAKETIME_DONT_FAKE_MONOTONIC=1 NO_FAKE_STAT=1
fi
