# Shell helpers shared by scripts/demo and the bench/ commands (sourced).

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# A free loopback port (bash's /dev/tcp tells whether something listens),
# below the kernel's ephemeral range (32768+): an outgoing connection can take
# a port up there between this check and the server's bind (seen once: the
# controller failed with "Address already in use" and the bench waited).
free_port() {
  local port
  while :; do
    port=$((20000 + RANDOM % 12000))
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return; }
  done
}

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND... (SECONDS of the clock, however long COMMAND takes)
  local seconds=$1 what=$2; shift 2
  local deadline=$((SECONDS + seconds))
  while ((SECONDS < deadline)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  echo "$(basename "$0"): timed out waiting for $what" >&2
  return 1
}

# Stops the processes in the array `pids`, newest first: SIGTERM, up to
# 10 s to exit cleanly, then SIGKILL.
stop_all() {
  local i pid alive
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill "${pids[$i]}" 2>/dev/null || true; done
  for ((i = 0; i < 50; i++)); do
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.2
  done
  for pid in "${pids[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      echo "$(basename "$0"): process $pid did not stop on SIGTERM; killing it" >&2
      kill -9 "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
  done
}

# Makes a release-signing key pair WORK/keys/release.{key,pub} with the airlift
# CLI (once) and exports AIRLIFT_SIGNING_KEY, which `airlift release create`
# signs with, and AIRLIFT_TRUSTED_KEY, which agent_config makes agents trust.
signing_key() { # signing_key AIRLIFT_BINARY WORK
  local airlift=$1 work=$2
  [ -f "$work/keys/release.key" ] || "$airlift" keys generate --out "$work/keys/release" >/dev/null
  export AIRLIFT_SIGNING_KEY="$work/keys/release.key" AIRLIFT_TRUSTED_KEY="$work/keys/release.pub"
}

# Writes an agent config: agent_config FILE ID BROKER_PORT WORK [EXTRA_JSON_LINES]
agent_config() {
  local file=$1 id=$2 broker_port=$3 work=$4 extra=${5:-}
  cat >"$file" <<JSON
{
  "deviceID": "$id",
  "brokerURL": "mqtts://127.0.0.1:$broker_port",
  "controllerURL": "$AIRLIFT_CONTROLLER",
  "caFile": "$AIRLIFT_CERTS/ca.crt",
  "certificate": "$AIRLIFT_CERTS/devices/$id.crt",
  "key": "$AIRLIFT_CERTS/devices/$id.key",
  "dataDirectory": "$work/$id/data",
  "installDirectory": "$work/$id/install",
  "trustedKeys": ["${AIRLIFT_TRUSTED_KEY:?run signing_key first}"],
  $extra
  "jitter": "0s"
}
JSON
}
