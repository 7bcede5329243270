#!/usr/bin/env bash
# spdl's developer entry point. Each command installs what is missing (Debian 12, as root),
# configures, builds and runs:
#
#   bash cmake/spdl.sh demo [demo args]          build and run the demo (--help: its options)
#   bash cmake/spdl.sh test                      build everything and run the whole test suite
#   bash cmake/spdl.sh sanitize address,undefined|thread
#                                                the engine's and media I/O's tests under sanitizers
#   bash cmake/spdl.sh bench [--group=G] [--full] [--busy=N]
#                                                build and run the benchmarks (Release): a results
#                                                table in benchmarks/results.md
#   bash cmake/spdl.sh fuzz [seconds] [targets]  media I/O's libFuzzer programs (clang, ASan+UBSan),
#                                                each for that long (60 s): tests/fuzz/run.sh
#   bash cmake/spdl.sh deps                      only install what is missing
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

jobs=$(nproc 2>/dev/null || echo 2)
# ccache (when installed) also caches the precompiled-header builds of the tests.
export CCACHE_SLOPPINESS=${CCACHE_SLOPPINESS:-pch_defines,time_macros,include_file_mtime,include_file_ctime}

deps() {  # deps [extra packages...]
  local wanted=(g++ cmake ninja-build pkg-config ccache libasio-dev catch2 nlohmann-json3-dev libbenchmark-dev libtbb-dev
    libturbojpeg0-dev libstb-dev libdlpack-dev libavcodec-dev libavformat-dev libavfilter-dev libavutil-dev libswscale-dev zlib1g-dev ffmpeg
    openmpi-bin libtorch-dev "$@")
  local missing=()
  for p in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    echo "spdl: installing ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

configure() {  # configure DIR [cmake args...]
  local dir=$1
  shift
  cmake -S . -B "$dir" -G Ninja -DSPDL_BUILD_TESTS=ON -DSPDL_BUILD_EXAMPLES=ON \
    -DSPDL_BUILD_BENCHMARKS=ON "$@" >/dev/null
}

main() {
  case "${1:-}" in
    deps)
      deps
      ;;
    demo)
      # Real JPEGs (made once by ffmpeg + TurboJPEG into build/demo-images), loaded, decoded,
      # resized and batched for two "training" epochs.
      shift
      deps
      configure build -DCMAKE_BUILD_TYPE=Release
      cmake --build build -j "$jobs" --target demo
      ./build/examples/demo "$@"
      ;;
    test)
      deps
      configure build -DCMAKE_BUILD_TYPE=Release
      cmake --build build -j "$jobs"
      ctest --test-dir build --output-on-failure -j "$jobs"
      ;;
    sanitize)
      kind=${2:?"usage: cmake/spdl.sh sanitize address,undefined|thread"}
      deps
      dir="build-${kind//,/-}"
      configure "$dir" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g" \
        -DSPDL_SANITIZE="$kind" -DSPDL_BUILD_EXAMPLES=OFF -DSPDL_BUILD_BENCHMARKS=OFF
      cmake --build "$dir" -j "$jobs" --target spdl_engine_tests spdl_io_tests spdl_data_tests \
        spdl_distributed_worker spdl_distributed_check spdl_fuzz_replay spdl_fuzz_seeds
      export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1
      export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1"
      # TSan needs the classic address-space layout on kernels with wide mmap randomisation.
      run=()
      if [[ $kind == *thread* ]] && command -v setarch >/dev/null; then run=(setarch "$(uname -m)" -R); fi
      "${run[@]}" ctest --test-dir "$dir" -L "engine|io|data" --output-on-failure -j "$jobs"
      if [[ $kind == *thread* ]]; then
        # The soak, longer: random build / run / stop / destroy trials; prints the worst stop.
        SPDL_SOAK_TRIALS=${SPDL_SOAK_TRIALS:-2000} "${run[@]}" "$dir/tests/spdl_engine_tests" "[soak]"
      fi
      ;;
    bench)
      shift
      deps
      configure build -DCMAKE_BUILD_TYPE=Release
      cmake --build build -j "$jobs" --target spdl_benchmarks
      # Quick by default (--full for 5 repetitions); the table goes to benchmarks/results.md.
      ./build/benchmarks/spdl_benchmarks --results=benchmarks/results.md "$@"
      ;;
    fuzz)
      # clang 14 and its libFuzzer/sanitizer runtimes (libclang_rt.fuzzer: libclang-rt-14-dev).
      seconds=${2:-60}
      deps clang-14 libclang-rt-14-dev
      configure build-fuzz -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" -DSPDL_BUILD_FUZZERS=ON -DSPDL_BUILD_TESTS=OFF \
        -DSPDL_BUILD_EXAMPLES=OFF -DSPDL_BUILD_BENCHMARKS=OFF
      cmake --build build-fuzz -j "$jobs" --target spdl_fuzzers
      ./build-fuzz/tests/fuzz/spdl_fuzz_seeds build-fuzz/seeds
      bash tests/fuzz/run.sh build-fuzz "$seconds" "${@:3}"
      ;;
    *)
      sed -n '2,13p' "$0"
      exit 2
      ;;
  esac
}

# Parsed whole before it runs: editing this file during a run cannot derail the run.
main "$@"
exit $?
