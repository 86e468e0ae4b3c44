#!/usr/bin/env bash
# What the test suite needs from the machine: Debian's Chromium and CJK fonts (browser tests), gettext
# (message extraction) and a running Redis (Celery tests). Installs from Debian packages when missing and
# starts Redis when it is installed but stopped. With --postgres, does the same for PostgreSQL and
# creates the test role/database named in DATABASE_URL.
set -euo pipefail
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
}

need=()
command -v chromium >/dev/null || need+=(chromium)
[ -d /usr/share/fonts/opentype/noto ] || need+=(fonts-noto-cjk)
command -v xgettext >/dev/null || need+=(gettext)
command -v redis-server >/dev/null || need+=(redis-server)
if [ "${1:-}" = "--postgres" ]; then
  command -v pg_ctlcluster >/dev/null || need+=(postgresql)
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

if ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then
  echo "starting redis-server"
  $SUDO mkdir -p /var/lib/redis /var/log/redis
  $SUDO redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/tongban-test.log
  for _ in $(seq 50); do redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && break; sleep 0.1; done
fi

if [ "${1:-}" = "--postgres" ]; then
  version=$(ls /etc/postgresql | sort -n | tail -1)
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    echo "starting PostgreSQL $version"
    $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main start || $SUDO pg_ctlcluster "$version" main start
    for _ in $(seq 100); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.1; done
  fi
  # The test role may create the throw-away test databases.
  as_postgres psql -qtA -c "SELECT 1 FROM pg_roles WHERE rolname='tongban'" | grep -q 1 || \
    as_postgres psql -q -c "CREATE ROLE tongban LOGIN SUPERUSER PASSWORD 'tongban'"
  as_postgres psql -qtA -c "SELECT 1 FROM pg_database WHERE datname='tongban'" | grep -q 1 || \
    as_postgres createdb -O tongban tongban
fi
