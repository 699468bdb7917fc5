#!/usr/bin/env bash
# Shared functions for the Airlift certificate scripts (Certs/init, Certs/new-device).
# Source it; do not run it. Everything is done with the `openssl` CLI.
#
# Conventions:
#   - every key is EC P-256 (prime256v1), PEM, PKCS#8, mode 600;
#   - every certificate gets a random 128-bit serial (-set_serial), so no
#     serial file is shared between parallel runs;
#   - files are written to a temp name and renamed into place, so an
#     interrupted run never leaves a half-written key or certificate;
#   - existing files are never overwritten (idempotent).

set -euo pipefail

# Not a command: explain and stop when executed directly.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  msg="Usage: source Certs/lib.sh  (shared functions for Certs/init and Certs/new-device; run those instead)"
  if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then echo "$msg"; exit 0; fi
  echo "lib.sh: error: this file is not a command. $msg" >&2
  exit 2
fi

AIRLIFT_CERTS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
AIRLIFT_DEFAULT_OUT="$AIRLIFT_CERTS_DIR/generated"
AIRLIFT_CA_CN="Airlift Fleet CA"
AIRLIFT_CA_DAYS=3650       # 10 years
AIRLIFT_SERVER_DAYS=825    # broker/controller server certs and the controller/operator client certs
AIRLIFT_DEVICE_DAYS=1825   # device client certs (5 years; override with --days)

PROG="$(basename "$0")"

die() {
  echo "$PROG: error: $*" >&2
  exit 1
}

info() {
  echo "$PROG: $*"
}

require_openssl() {
  command -v openssl >/dev/null 2>&1 || die "the 'openssl' command is not installed (Debian: apt-get install openssl)"
}

# abs_path PATH -> absolute path (the directory must exist).
abs_dir() {
  (cd "$1" && pwd)
}

# random_serial -> "0x" + 128 random bits, top bit cleared so it is always a
# positive DER integer of at most 16 octets (RFC 5280 allows 20).
random_serial() {
  local hex
  hex="$(openssl rand -hex 16)" || die "openssl rand failed"
  # first nibble 1-7: positive (top bit clear) and never a leading zero
  local first=$(( 0x${hex:0:1} & 7 ))
  printf '0x%x%s\n' "$(( first == 0 ? 1 : first ))" "${hex:1}"
}

# make_key PATH: create an EC P-256 private key (mode 600) unless it exists.
# Returns 0 if created, 1 if it already existed.
make_key() {
  local key="$1" tmp
  if [[ -e "$key" ]]; then
    [[ -s "$key" ]] || die "$key exists but is empty; remove it and run again"
    return 1
  fi
  tmp="$(mktemp "$key.tmp.XXXXXX")"
  chmod 600 "$tmp"
  if ! openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp" 2>"$tmp.err"; then
    cat "$tmp.err" >&2; rm -f "$tmp" "$tmp.err"
    die "could not create private key $key"
  fi
  rm -f "$tmp.err"
  install_new "$tmp" "$key" || return 1
  return 0
}

# install_new TMP DEST: rename TMP to DEST unless DEST appeared meanwhile
# (a parallel run won the race); then TMP is dropped and 1 is returned.
install_new() {
  local tmp="$1" dest="$2"
  mv -n "$tmp" "$dest" 2>/dev/null || true
  if [[ -e "$tmp" ]]; then
    rm -f "$tmp"
    [[ -e "$dest" ]] || die "could not write $dest"
    return 1
  fi
  return 0
}

# extensions_for PROFILE [SAN...] -> prints an openssl extension section body.
#   ca      : CA:true, keyCertSign/cRLSign
#   server  : serverAuth, SAN
#   server+client : serverAuth + clientAuth, SAN
#   client  : clientAuth
extensions_for() {
  local profile="$1"; shift
  local sans="" s
  for s in "$@"; do sans+="${sans:+,}$s"; done
  case "$profile" in
    ca)
      echo "basicConstraints = critical, CA:true, pathlen:0"
      echo "keyUsage = critical, keyCertSign, cRLSign"
      echo "subjectKeyIdentifier = hash"
      ;;
    server)
      echo "basicConstraints = critical, CA:false"
      echo "keyUsage = critical, digitalSignature, keyAgreement"
      echo "extendedKeyUsage = serverAuth"
      echo "subjectAltName = $sans"
      echo "subjectKeyIdentifier = hash"
      echo "authorityKeyIdentifier = keyid, issuer"
      ;;
    server+client)
      echo "basicConstraints = critical, CA:false"
      echo "keyUsage = critical, digitalSignature, keyAgreement"
      echo "extendedKeyUsage = serverAuth, clientAuth"
      echo "subjectAltName = $sans"
      echo "subjectKeyIdentifier = hash"
      echo "authorityKeyIdentifier = keyid, issuer"
      ;;
    client)
      echo "basicConstraints = critical, CA:false"
      echo "keyUsage = critical, digitalSignature, keyAgreement"
      echo "extendedKeyUsage = clientAuth"
      echo "subjectKeyIdentifier = hash"
      echo "authorityKeyIdentifier = keyid, issuer"
      ;;
    *) die "internal: unknown certificate profile '$profile'" ;;
  esac
}

# make_ca OUT: fleet CA (ca.key, ca.crt), self-signed, 10 years.
make_ca() {
  local out="$1" key="$1/ca.key" crt="$1/ca.crt" tmp cnf
  if [[ -e "$crt" ]]; then
    [[ -e "$key" ]] || die "$crt exists but $key is missing; the CA cannot sign anything without its key (restore it, or remove $crt to start a new CA and re-issue every certificate)"
    info "exists: $crt"
    return 0
  fi
  if make_key "$key"; then info "created: $key"; else info "exists: $key (reusing it for the new CA certificate)"; fi
  cnf="$(mktemp "$out/.ca.cnf.XXXXXX")"
  {
    echo "[req]"
    echo "distinguished_name = dn"
    echo "x509_extensions = ext"
    echo "prompt = no"
    echo "[dn]"
    echo "CN = $AIRLIFT_CA_CN"
    echo "[ext]"
    extensions_for ca
  } >"$cnf"
  tmp="$(mktemp "$crt.tmp.XXXXXX")"
  if ! openssl req -x509 -new -config "$cnf" -key "$key" -sha256 \
        -days "$AIRLIFT_CA_DAYS" -set_serial "$(random_serial)" -out "$tmp" 2>"$tmp.err"; then
    cat "$tmp.err" >&2; rm -f "$tmp" "$tmp.err" "$cnf"
    die "could not create the CA certificate $crt"
  fi
  rm -f "$tmp.err" "$cnf"
  chmod 644 "$tmp"
  install_new "$tmp" "$crt" || { info "exists: $crt (created by a parallel run)"; return 0; }
  info "created: $crt (CN=$AIRLIFT_CA_CN, valid $AIRLIFT_CA_DAYS days)"
}

# require_ca OUT: fail clearly unless the CA exists in OUT.
require_ca() {
  local out="$1"
  if [[ ! -f "$out/ca.crt" || ! -f "$out/ca.key" ]]; then
    die "no fleet CA in $out (missing ca.crt or ca.key); run '$AIRLIFT_CERTS_DIR/init${2:+ --out $out}' first"
  fi
}

# issue_cert OUT BASEPATH CN PROFILE DAYS [SAN...]
#   creates BASEPATH.key and BASEPATH.crt signed by OUT/ca.{crt,key}.
#   Idempotent: if BASEPATH.crt exists nothing is done.
issue_cert() {
  local out="$1" base="$2" cn="$3" profile="$4" days="$5"; shift 5
  local key="$base.key" crt="$base.crt" ext tmp
  if [[ -e "$crt" ]]; then
    [[ -e "$key" ]] || die "$crt exists but $key is missing; remove $crt and run again to issue a new key and certificate"
    info "exists: $crt"
    return 0
  fi
  if make_key "$key"; then info "created: $key"; else info "exists: $key (reusing it for the new certificate)"; fi
  ext="$(mktemp "$base.ext.XXXXXX")"
  { echo "[ext]"; extensions_for "$profile" "$@"; } >"$ext"
  tmp="$(mktemp "$crt.tmp.XXXXXX")"
  # CN is passed via -subj; escape the characters -subj treats specially.
  local subj_cn="${cn//\\/\\\\}"; subj_cn="${subj_cn//\//\\/}"; subj_cn="${subj_cn//+/\\+}"; subj_cn="${subj_cn//=/\\=}"
  if ! openssl req -new -key "$key" -subj "/CN=$subj_cn" 2>"$tmp.err" \
      | openssl x509 -req -CA "$out/ca.crt" -CAkey "$out/ca.key" -sha256 \
          -set_serial "$(random_serial)" -days "$days" \
          -extfile "$ext" -extensions ext -out "$tmp" 2>>"$tmp.err"; then
    cat "$tmp.err" >&2; rm -f "$tmp" "$tmp.err" "$ext"
    die "could not create certificate $crt"
  fi
  rm -f "$tmp.err" "$ext"
  chmod 644 "$tmp"
  install_new "$tmp" "$crt" || { info "exists: $crt (created by a parallel run)"; return 0; }
  info "created: $crt (CN=$cn, $profile, valid $days days${*:+, SAN $*})"
}

# parse_out_arg "$@": sets OUT_DIR and REST_ARGS (everything except --out DIR).
parse_out_arg() {
  OUT_DIR="$AIRLIFT_DEFAULT_OUT"
  OUT_GIVEN=""
  REST_ARGS=()
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --out)
        [[ $# -ge 2 && -n "$2" ]] || die "--out needs a directory (try --help)"
        OUT_DIR="$2"; OUT_GIVEN=1; shift 2 ;;
      --out=*)
        OUT_DIR="${1#--out=}"; OUT_GIVEN=1
        [[ -n "$OUT_DIR" ]] || die "--out needs a directory (try --help)"
        shift ;;
      *) REST_ARGS+=("$1"); shift ;;
    esac
  done
}

# make_empty_crl DIR -> DIR/crl.pem, a signed revocation list with no entries
# (only when missing): the broker checks client certificates against it, and
# the controller rewrites it when a device is revoked (`airlift device revoke`).
make_empty_crl() {
  local out="$1" crl="$1/crl.pem" scratch
  [[ -f "$crl" ]] && return 0
  scratch="$(mktemp -d)"
  : >"$scratch/index.txt"
  printf '[ca]\ndefault_ca = fleet\n[fleet]\ndatabase = %s/index.txt\ndefault_md = sha256\ndefault_crl_days = 365\n' \
    "$scratch" >"$scratch/ca.cnf"
  if ! openssl ca -config "$scratch/ca.cnf" -gencrl -keyfile "$out/ca.key" -cert "$out/ca.crt" \
        -out "$crl.tmp" 2>"$scratch/err"; then
    cat "$scratch/err" >&2; rm -rf "$scratch" "$crl.tmp"
    die "could not create the revocation list $crl"
  fi
  rm -rf "$scratch"
  chmod 644 "$crl.tmp" && mv -f "$crl.tmp" "$crl"
  info "created: $crl (empty certificate revocation list)"
}
