#!/usr/bin/env bash
# A private PostgreSQL cluster for the served-stack test (docker-compose.yml's topology run
# natively). `start DIR PORT [DB]`: initialise DIR when new, start a server on 127.0.0.1:PORT
# (trust authentication, socket in DIR) and create database DB (default prefect).
# `stop DIR`: stop it. PostgreSQL refuses to run as root: as root the cluster is the postgres
# user's, so DIR must sit where that user can reach it (e.g. a new folder under /tmp).
set -euo pipefail

bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "${1:-}" in
start)
    dir=$2 port=$3 db=${4:-prefect}
    if [ ! -f "$dir/PG_VERSION" ]; then
        mkdir -p "$dir"
        if [ "$(id -u)" -eq 0 ]; then chown postgres "$dir"; fi
        as_owner "$bin/initdb" -D "$dir" -U postgres --auth=trust >/dev/null
    fi
    as_owner "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1" start >/dev/null
    exists=$(as_owner "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname = '$db'")
    if [ "$exists" != "1" ]; then
        as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres "$db"
    fi
    ;;
stop)
    as_owner "$bin/pg_ctl" -D "$2" -m fast -w stop >/dev/null
    ;;
*)
    echo "usage: $0 start DIR PORT [DB] | stop DIR" >&2
    exit 2
    ;;
esac
