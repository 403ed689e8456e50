#!/usr/bin/env bash
# Shared wrapper of the chaos scripts: builds `shoal` and `shoal-chaos` (release) unless
# SHOAL_BIN and SHOAL_CHAOS_BIN point at prebuilt binaries, then runs one scenario.
#   chaos/run.sh SCENARIO [--seed N] [--duration SECS] [--osds N] [--workload-rate OPS]
#                [--pool-ec K+M] ...
# `shoal-chaos --help` lists every option.
set -euo pipefail
scenario=${1:?usage: chaos/run.sh SCENARIO [OPTIONS]}
shift
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [[ -z "${SHOAL_BIN:-}" || -z "${SHOAL_CHAOS_BIN:-}" ]]; then
    (cd "$root" && cargo build --release --quiet -p shoal)
    # Where cargo put them (CARGO_TARGET_DIR, a config's build.target-dir, or ./target).
    target=$(cd "$root" && cargo metadata --format-version 1 --no-deps |
        sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
    SHOAL_BIN=${SHOAL_BIN:-$target/release/shoal}
    SHOAL_CHAOS_BIN=${SHOAL_CHAOS_BIN:-$target/release/shoal-chaos}
fi
export SHOAL_BIN
exec "$SHOAL_CHAOS_BIN" "$scenario" --shoal "$SHOAL_BIN" "$@"
