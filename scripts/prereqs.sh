#!/usr/bin/env bash
# The machine's prerequisites, all checked at once: every missing or too old tool is named with the
# command that installs it, before anything is downloaded or started.
#   scripts/prereqs.sh          everything `make run` and `make test` need
#   scripts/prereqs.sh python   only what `make check` and `make unit` need (Python 3.11 with venv)
# Exit status 1 if anything is missing.
set -uo pipefail
cd "$(dirname "$0")/.."
scope=${1:-all}
PY=${PYTHON:-python3}
missing=()

need() {  # need NAME PROBLEM FIX
  missing+=("$1: $2"$'\n'"    fix: $3")
}

# major.minor of a version string >= wanted major.minor
at_least() {
  local have=$1 want=$2
  [ "$(printf '%s\n%s\n' "$want" "$have" | sort -V | head -1)" = "$want" ]
}

if ! command -v "$PY" >/dev/null; then
  need python "no $PY on PATH" "sudo apt-get install -y python3 python3-venv (3.11 or newer; or set PYTHON=/path/to/python3.11)"
else
  v=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  if ! at_least "$v" 3.11; then
    need python "$PY is $v, 3.11 or newer is needed" "install Python 3.11+ and set PYTHON=/path/to/python3.11"
  elif ! "$PY" -c 'import venv, ensurepip' 2>/dev/null; then
    need python-venv "$PY has no venv/ensurepip module" "sudo apt-get install -y python3-venv"
  fi
fi

if [ "$scope" = all ]; then
  if ! command -v java >/dev/null; then
    need java "no java on PATH (Kafka, Connect)" "sudo apt-get install -y openjdk-17-jdk-headless"
  else
    v=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)
    at_least "${v:-0}" 17 || need java "java is ${v:-unknown}, 17 or newer is needed" "sudo apt-get install -y openjdk-17-jdk-headless"
  fi
  command -v mvn >/dev/null || need maven "no mvn on PATH (fetches the pinned Kafka and Debezium jars)" "sudo apt-get install -y maven"
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    need node "no node/npm on PATH (the chaincode)" "Node.js 20: https://nodejs.org or 'sudo apt-get install -y nodejs npm' where Debian ships 20+"
  else
    v=$(node --version | tr -d v)
    at_least "$v" 20 || need node "node is $v, 20 or newer is needed" "install Node.js 20 (https://nodejs.org)"
  fi
  if ! command -v go >/dev/null; then
    need go "no go on PATH (builds the pinned helm, kubeconform, promtool, prometheus once)" "Go 1.26+: https://go.dev/dl (tools/crdgen needs 1.26; Debian 12 ships 1.19)"
  else
    v=$(go env GOVERSION | sed 's/^go//')
    at_least "$v" 1.26 || need go "go is $v, 1.26 or newer is needed (tools/crdgen)" "install Go 1.26+ (https://go.dev/dl)"
  fi
  command -v git >/dev/null || need git "no git on PATH" "sudo apt-get install -y git"
  # PostgreSQL: Debian's server binaries; the stack installs the package itself when run as root.
  if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
      need postgresql "no PostgreSQL server binaries under /usr/lib/postgresql" "sudo apt-get install -y postgresql"
    fi
  fi
  # Fabric: installed on the machine like any Fabric release, never built by the project.
  fabric=${GX_FABRIC_HOME:-${GX_CACHE_DIR:-$HOME/.cache/gx-pipeline}/fabric-3.1.5}
  if [ ! -x "$fabric/bin/peer" ] && ! command -v peer >/dev/null; then
    need fabric "Hyperledger Fabric v3.1.5 is not installed (looked in $fabric and on PATH)" "make fabric   (or: make fabric FROM=hyperledger-fabric-linux-amd64-3.1.5.tar.gz; see docs/fabric.md)"
  fi
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "error: ${#missing[@]} prerequisite(s) missing:" >&2
  printf '  %s\n' "${missing[@]}" >&2
  exit 1
fi
