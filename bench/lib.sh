# Helpers shared by the bench/ commands (sourced after scripts/lib.sh).

# Sets `bin` to the folder with the airlift binaries: $BENCH_BIN when
# bench/run chose one (it builds once), else a debug build made here.
bench_binaries() {
  if [ -n "${BENCH_BIN:-}" ]; then
    bin=$BENCH_BIN
  else
    swift build 2>&1 | grep -E "error|Build complete" || true
    bin=$(swift build --show-bin-path)
  fi
}

# Appends one row of the summary table to $BENCH_ROWS (when bench/run set it):
# bench_row BENCHMARK AIRLIFT PEER RATIO GOAL MET(yes|no|-)
bench_row() {
  [ -n "${BENCH_ROWS:-}" ] || return 0
  local IFS=$'\t'
  echo "$*" >>"$BENCH_ROWS"
}

# A value from a JSON file: json_get FILE PYTHON_EXPRESSION_ON_d
json_get() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }

# Seconds since 1970 with a fraction.
now() { date +%s.%N; }

# Floating-point arithmetic: calc 'EXPRESSION' (awk, so no bc needed).
calc() { awk "BEGIN { printf \"%.3f\", $1 }"; }

# Whether a number is at most / at least a bound: le A B, ge A B.
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }
yes_no() { if "$@"; then echo yes; else echo no; fi; }

# Peak resident memory (VmHWM) and CPU seconds (user + system) of a process.
peak_rss_mb() { awk '/^VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }
cpu_seconds() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$1/stat"; }

# A counter from the controller's /metrics, read with the operator certificate:
# controller_metric NAME: the sum of its series over all labels (needs AIRLIFT_CONTROLLER and AIRLIFT_CERTS).
controller_metric() {
  curl -s --cacert "$AIRLIFT_CERTS/ca.crt" --cert "$AIRLIFT_CERTS/operator.crt" --key "$AIRLIFT_CERTS/operator.key" \
    "$AIRLIFT_CONTROLLER/metrics" |
    awk -v name="$1" '$1 == name || index($1, name "{") == 1 {sum += $2; found = 1} END {if (found) printf "%.0f\n", sum}'
}

# Resident memory of a process now, in kB.
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
