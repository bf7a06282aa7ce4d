#!/bin/sh
# Seeds a scratch database at the fleet summary's scale and prints the summary's plan (docs/PERFORMANCE.md).
# usage: bench/fleet-summary/run.sh [admin-url]   (default postgres://postgres@127.0.0.1:5432/postgres)
set -eu
admin=${1:-postgres://postgres@127.0.0.1:5432/postgres}
db=mm_fleet_summary_$$
dir=$(dirname "$0")
url=$(printf '%s' "$admin" | sed "s#/[^/]*\$#/$db#")
trap 'psql "$admin" -qc "drop database if exists $db with (force)"' EXIT
psql "$admin" -qc "create database $db"
DATABASE_URL=$url pnpm -C "$dir/../../packages/db" migrate >/dev/null
psql "$url" -q -f "$dir/seed.sql"
psql "$url" -f "$dir/explain.sql"
