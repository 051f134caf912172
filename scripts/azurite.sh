#!/usr/bin/env bash
# Azurite, the Azure Storage emulator, for the ledger tests and local runs.
#
#   scripts/azurite.sh install  install the pinned version (npm ci) unless it is there
#   scripts/azurite.sh start    install (npm ci, once) and start it; wait until it answers
#   scripts/azurite.sh stop     stop the instance this script started (by its PID file)
#   scripts/azurite.sh status   say whether it runs; exit 1 if not
#   scripts/azurite.sh env      print the export line the Go tests read
#
# It listens on 127.0.0.1 only, keeps everything in memory, and needs no root.
# The version is pinned in package.json / package-lock.json at the repository
# root and installed into ./node_modules.
#
# Environment (all optional):
#   AZURITE_BLOB_PORT, AZURITE_QUEUE_PORT, AZURITE_TABLE_PORT   default 10000, 10001, 10002
#   AZURITE_STATE_DIR     where the PID file, log and scratch folder go (default ./.azurite)
#   AZURITE_WAIT_SECONDS  how long start waits for the ports (default 90: a loaded 2-core machine starts node slowly)
#   AZURITE_WATCH_PID     stop Azurite when this process exits (the Go tests set it,
#                         so a test binary killed by -timeout leaves nothing running)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
host=127.0.0.1
blob_port="${AZURITE_BLOB_PORT:-10000}"
queue_port="${AZURITE_QUEUE_PORT:-10001}"
table_port="${AZURITE_TABLE_PORT:-10002}"
state_dir="${AZURITE_STATE_DIR:-$root/.azurite}"
wait_seconds="${AZURITE_WAIT_SECONDS:-90}"
# One instance per blob port: a developer's instance and a test run's
# instance on other ports do not share a PID file.
pid_file="$state_dir/azurite-$blob_port.pid"
log_file="$state_dir/azurite-$blob_port.log"
work_dir="$state_dir/work-$blob_port"
azurite_js="$root/node_modules/azurite/dist/src/azurite.js"

die() { echo "azurite.sh: $*" >&2; exit 1; }

port_open() { (exec 3<>"/dev/tcp/$host/$1") 2>/dev/null; }

# ours_running: the PID file names a live Azurite node process.
ours_running() {
  [[ -f "$pid_file" ]] || return 1
  local pid
  pid="$(cat "$pid_file")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q azurite.js
}

pinned_version() {
  node -e 'const l=require(process.argv[1]);process.stdout.write(l.packages["node_modules/azurite"].version)' \
    "$root/package-lock.json"
}

installed_version() {
  node -e 'process.stdout.write(require(process.argv[1]).version)' \
    "$root/node_modules/azurite/package.json" 2>/dev/null || true
}

install() {
  command -v node >/dev/null || die "node not found: install Node.js 20 or later (Debian: apt-get install nodejs npm)"
  command -v npm >/dev/null || die "npm not found: install npm (Debian: apt-get install npm)"
  # Several test processes may start at once, each with its own state
  # directory: one installs, the others wait. The lock lives beside the
  # node_modules it guards, not in a state directory.
  exec 9>"$root/.azurite-install.lock"
  flock 9
  local want
  want="$(pinned_version)"
  if [[ ! -f "$azurite_js" || "$(installed_version)" != "$want" ]]; then
    echo "azurite.sh: installing azurite@$want with npm ci into $root/node_modules" >&2
    (cd "$root" && npm ci --no-audit --no-fund --loglevel=error) >&2 \
      || die "npm ci failed (is the npm registry reachable?)"
  fi
  exec 9>&-
}

start() {
  if ours_running; then
    echo "azurite: already running (pid $(cat "$pid_file")), blob http://$host:$blob_port/devstoreaccount1"
    return 0
  fi
  for p in "$blob_port" "$queue_port" "$table_port"; do
    port_open "$p" && die "port $p on $host is already in use (another Azurite?); set AZURITE_BLOB_PORT/AZURITE_QUEUE_PORT/AZURITE_TABLE_PORT"
  done
  install
  # --inMemoryPersistence refuses --location; run in a scratch folder so that
  # anything it still writes lands there.
  mkdir -p "$work_dir"
  cd "$work_dir"
  node "$azurite_js" \
    --blobHost "$host" --blobPort "$blob_port" \
    --queueHost "$host" --queuePort "$queue_port" \
    --tableHost "$host" --tablePort "$table_port" \
    --silent --inMemoryPersistence --skipApiVersionCheck --disableTelemetry \
    </dev/null >"$log_file" 2>&1 &
  local pid=$!
  echo "$pid" >"$pid_file"

  local deadline=$((SECONDS + wait_seconds))
  until port_open "$blob_port" && port_open "$queue_port" && port_open "$table_port"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$pid_file"
      die "azurite exited during start-up; last lines of $log_file:
$(tail -n 20 "$log_file")"
    fi
    if ((SECONDS >= deadline)); then
      stop >/dev/null
      die "azurite did not answer on $host:$blob_port within ${wait_seconds}s; see $log_file"
    fi
    sleep 0.1
  done

  if [[ -n "${AZURITE_WATCH_PID:-}" ]]; then
    # A watchdog that outlives this script: when the watched process is gone,
    # stop Azurite (if it is still the same process).
    (
      while kill -0 "$AZURITE_WATCH_PID" 2>/dev/null && kill -0 "$pid" 2>/dev/null; do sleep 1; done
      if [[ -f "$pid_file" && "$(cat "$pid_file" 2>/dev/null)" == "$pid" ]]; then
        kill -TERM "$pid" 2>/dev/null || true
        rm -f "$pid_file"
        rm -rf "$work_dir"
      fi
    ) </dev/null >/dev/null 2>&1 &
    disown
  fi
  echo "azurite: running (pid $pid), blob http://$host:$blob_port/devstoreaccount1, queue :$queue_port, table :$table_port"
}

stop() {
  if ! ours_running; then
    rm -f "$pid_file"
    echo "azurite: not running (no live process in $pid_file)"
    return 0
  fi
  local pid
  pid="$(cat "$pid_file")"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pid_file"
  rm -rf "$work_dir"
  echo "azurite: stopped (pid $pid)"
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status)
    if ours_running; then
      echo "azurite: running (pid $(cat "$pid_file")), blob http://$host:$blob_port/devstoreaccount1"
    else
      echo "azurite: not running"
      exit 1
    fi
    ;;
  env) echo "export SPRESPONDER_AZURITE_BLOB=http://$host:$blob_port/devstoreaccount1" ;;
  *) die "usage: $0 install|start|stop|status|env" ;;
esac
