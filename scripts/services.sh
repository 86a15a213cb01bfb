# Sourced by scripts/test-all.sh: makes sure the PostgreSQL and Redis the tests talk to run
# (starting them with the machine's own commands when they are down) and gives this run a
# fresh PostgreSQL database, dropped when the run ends.

pg_host=127.0.0.1
pg_port=5432

wait_for() { # what, seconds, command...
  local what=$1 seconds=$2
  shift 2
  for _ in $(seq "$seconds"); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  echo "$what did not come up within ${seconds}s" >&2
  return 1
}

ensure_postgres() {
  if ! pg_isready -q -h "$pg_host" -p "$pg_port" 2>/dev/null; then
    if [ "$(id -u)" = 0 ] && [ -d /etc/postgresql ]; then
      echo "== starting PostgreSQL"
      pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start
    else
      echo "PostgreSQL does not answer on $pg_host:$pg_port and cannot be started here" >&2
      return 1
    fi
    wait_for PostgreSQL 30 pg_isready -q -h "$pg_host" -p "$pg_port"
  fi
  test_database="burgee_test_$(date +%s)_$$"
  psql -h "$pg_host" -p "$pg_port" -U postgres -d postgres -qc "CREATE DATABASE $test_database"
  export BURGEE_TEST_POSTGRES_URL="postgres://postgres@$pg_host:$pg_port/$test_database"
  trap 'psql -h "$pg_host" -p "$pg_port" -U postgres -d postgres -qc "DROP DATABASE IF EXISTS $test_database WITH (FORCE)" >/dev/null 2>&1 || true' EXIT
  echo "== PostgreSQL: database $test_database for this run"
}

ensure_redis() {
  if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    echo "== starting Redis"
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log
    wait_for Redis 30 redis-cli -h 127.0.0.1 -p 6379 ping
  fi
  export BURGEE_TEST_REDIS_URL=${BURGEE_TEST_REDIS_URL:-redis://127.0.0.1:6379}
}
