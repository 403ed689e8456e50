#!/usr/bin/env bash
# messenger partitions: isolate a random OSD or monitor from everyone (shoal debug faults), then heal it.
# Options: --seed N --duration SECS --osds N --workload-rate OPS --max-down N --data DIR
# (attach to / create a `shoal up` cluster there) --keep --recover-timeout SECS
# --pool-ec K+M (an erasure-coded pool, min_size K+1, instead of size 3 / min_size 2;
# --osds is raised to K+M, default --max-down (K+M) - min_size); see `shoal-chaos --help`.
# Ends with `chaos: acked=N lost=0 corrupted=0 stale_reads=0 recovered_in=Xs`; exits
# non-zero on any loss, corruption, stale read, or no HEALTH_OK.
exec "$(dirname "${BASH_SOURCE[0]}")/run.sh" partition "$@"
