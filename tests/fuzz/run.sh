#!/usr/bin/env bash
# Runs the libFuzzer programs of a fuzz build, one after the other, and prints per target the
# executions, executions per second, peak RSS and what was found.
#
#   bash tests/fuzz/run.sh BUILD_DIR [SECONDS] [TARGET...]   (60 s per target; all targets)
#
# Caps, per input: 10 s (-timeout), 1024 MB of RSS (-rss_limit_mb), 64 KiB of input (-max_len;
# 256 KiB for video and audio). An input past a cap is a finding, like a crash, a sanitizer
# report, a leak or an exception other than spdl::error. A single allocation may reach 4 GB of
# address space (-malloc_limit_mb) as long as RSS stays under the cap: FFmpeg 5.1's MP4 demuxer
# reserves a sample table from the entry count a file claims before reading it (a 9 KB file:
# 1.99 GB reserved, 460 MB peak RSS under ASan; regressions/load_video_fps), which spdl cannot
# reach into. SPDL_FUZZ_SEED=N fixes libFuzzer's seed (CI: the same inputs tried each run). Each target's corpus grows in BUILD_DIR/corpus/<target> from the seeds
# (BUILD_DIR/seeds, made by spdl_fuzz_seeds) and the regressions (tests/fuzz/regressions/<target>);
# findings go to BUILD_DIR/findings/<target>/, logs to BUILD_DIR/logs/<target>.log.
# Exit status 1 when any target found something.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

build=${1:?"usage: tests/fuzz/run.sh BUILD_DIR [SECONDS] [TARGET...]"}
seconds=${2:-60}
shift $(($# < 2 ? $# : 2))
timeout_s=10
rss_limit_mb=1024
malloc_limit_mb=4096
seed=()
[ -n "${SPDL_FUZZ_SEED:-}" ] && seed=(-seed="$SPDL_FUZZ_SEED")

max_len() {
  case $1 in
    load_video* | load_audio) echo 262144 ;;
    *) echo 65536 ;;
  esac
}

targets=("$@")
if ((${#targets[@]} == 0)); then
  for program in "$build"/tests/fuzz/fuzz_*; do targets+=("${program##*/fuzz_}"); done
fi

# UBSan aborts at the first report (-fno-sanitize-recover); with the stack that led there.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
# ASan keeps freed memory in quarantine (256 MB by default) to catch use after free: 64 MB here,
# so that a load up to the targets' 256 MiB output limit (plus the copy its growth makes) and
# libFuzzer's own use fit under the RSS cap.
export ASAN_OPTIONS=${ASAN_OPTIONS:-quarantine_size_mb=64}

final_stat() {  # final_stat NAME LOG: one of libFuzzer's final stat:: lines
  sed -n "s/^stat::$1: *//p" "$2" | tail -1
}

printf '%-24s %6s %11s %8s %8s  %s\n' target seconds executions exec/s "RSS MB" result
failed=()
for t in "${targets[@]}"; do
  program="$build/tests/fuzz/fuzz_$t"
  [ -x "$program" ] || { echo "no fuzz program $program"; exit 2; }
  mkdir -p "$build/corpus/$t" "$build/findings/$t" "$build/logs"
  log="$build/logs/$t.log"
  inputs=("$build/corpus/$t" "$build/seeds/$t")
  [ -d "tests/fuzz/regressions/$t" ] && inputs+=("tests/fuzz/regressions/$t")
  start=$SECONDS
  rc=0
  "$program" -max_total_time="$seconds" -timeout="$timeout_s" -rss_limit_mb="$rss_limit_mb" \
    -malloc_limit_mb="$malloc_limit_mb" "${seed[@]}" -max_len="$(max_len "$t")" -print_final_stats=1 \
    -artifact_prefix="$build/findings/$t/" "${inputs[@]}" >"$log" 2>&1 || rc=$?
  artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
  result="nothing found"
  if ((rc != 0)); then
    kind=${artifact##*/}
    result="FOUND ${kind%%-*} (exit $rc): ${artifact:-see $log}"
    failed+=("$t")
  fi
  printf '%-24s %6d %11s %8s %8s  %s\n' "$t" $((SECONDS - start)) \
    "$(final_stat number_of_executed_units "$log")" "$(final_stat average_exec_per_sec "$log")" \
    "$(final_stat peak_rss_mb "$log")" "$result"
done

((${#failed[@]} == 0)) && exit 0
echo
for t in "${failed[@]}"; do
  log="$build/logs/$t.log"
  artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
  echo "== $t: $(grep -m1 -E '^SUMMARY|ERROR: libFuzzer|^==[0-9]+==ERROR' "$log" || echo "see $log")"
  grep -m1 -A1 -E '^terminate called' "$log" || true
  [ -n "$artifact" ] || continue
  caps="-timeout=$timeout_s -rss_limit_mb=$rss_limit_mb -malloc_limit_mb=$malloc_limit_mb"
  echo "   log:       $log"
  echo "   reproduce: $build/tests/fuzz/fuzz_$t $caps $artifact"
  echo "   minimise:  $build/tests/fuzz/fuzz_$t $caps -minimize_crash=1 -runs=20000 \\"
  echo "                -exact_artifact_path=tests/fuzz/regressions/$t/<short-descriptive-name> $artifact"
  echo "   then fix the bug; the regression file is replayed by ctest from then on (fuzz: replay $t)"
done
exit 1
