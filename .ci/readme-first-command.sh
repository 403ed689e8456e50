#!/usr/bin/env bash
# Runs the README's first command exactly as a newcomer would (detached: `--detach` is
# appended), checks the cluster it starts with an aws CLI round trip through its S3
# endpoint, then stops it with the same command's `down`. Fails if any step fails.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The first line of the README's first ```sh block, without its comment.
first=$(awk '/^```sh$/ {inside=1; next} inside {print; exit}' README.md | sed 's/[[:space:]]*#.*$//')
case "$first" in
  "cargo run"*" up") ;;
  *) echo "README's first command is not a \`cargo run ... up\`: '$first'" >&2; exit 1 ;;
esac
down="${first% up} down"
echo "README's first command: $first (detached)"

tmp=$(mktemp -d)
cleanup() {
  $down || true
  rm -rf "$tmp"
}
trap cleanup EXIT

$first --detach

# shellcheck disable=SC1091
. ./shoal-data/s3.env
bucket="readme-check-$$"
head -c 300000 /dev/urandom > "$tmp/up"
aws s3 mb "s3://$bucket"
aws s3 cp "$tmp/up" "s3://$bucket/object"
aws s3 ls "s3://$bucket"
aws s3 cp "s3://$bucket/object" "$tmp/down"
cmp "$tmp/up" "$tmp/down"
aws s3 rm "s3://$bucket/object"
aws s3 rb "s3://$bucket"
echo "README's first command works: cluster up, aws CLI round trip, stopped"
