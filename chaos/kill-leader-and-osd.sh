#!/usr/bin/env bash
# kill -9 the leader monitor and a random OSD together (a machine holding both going down),
# restart both after a random delay; one pair at a time. Needs 3 or 5 monitors.
# Options: --seed N --duration SECS --osds N --workload-rate OPS --data DIR --s3
# (attach to / create a `shoal up` cluster there) --keep --recover-timeout SECS
# --fault-every SECS --fault-for SECS (fixed timing instead of random); see `shoal-chaos --help`.
# Ends with `chaos: acked=N lost=0 corrupted=0 stale_reads=0 recovered_in=Xs`; exits
# non-zero on any loss, corruption, stale read, or no HEALTH_OK.
exec "$(dirname "${BASH_SOURCE[0]}")/run.sh" kill-leader-and-osd "$@"
