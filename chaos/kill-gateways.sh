#!/usr/bin/env bash
# kill -9 random S3 gateways and restart them after random delays (needs --s3; one gateway
# always stays up; --gateways N, default 2). The S3 workload retries a failed op on the next
# gateway, as a load-balanced client does.
# Options: --seed N --duration SECS --osds N --workload-rate OPS --max-down N --data DIR
# (attach to / create a `shoal up` cluster there) --keep --recover-timeout SECS
# --fault-every SECS --fault-for SECS (fixed timing instead of random); see `shoal-chaos --help`.
# Ends with `chaos: acked=N lost=0 corrupted=0 stale_reads=0 recovered_in=Xs http_5xx_other=0`;
# exits non-zero on any loss, corruption, stale read, 5xx other than 503, or no HEALTH_OK.
exec "$(dirname "${BASH_SOURCE[0]}")/run.sh" kill-gateways --s3 "$@"
