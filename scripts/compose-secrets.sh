#!/usr/bin/env bash
# The passwords docker-compose.yml reads, made once: random, in .secrets/ (or the folder given),
# kept out of git. An existing file is kept. The folder is private to you (0700); the files are
# 0644 inside it, because Compose mounts them as they are and the containers' users (postgres,
# kafka, grafana, nobody) must read them. No trailing newline: Connect's DirectoryConfigProvider
# reads a file as it is. The Postgres password contains / = @ on purpose (every client that puts
# it in a URL must percent-encode it).
set -euo pipefail
dir="${1:-$(dirname "$0")/../.secrets}"
mkdir -p "$dir"
chmod 0700 "$dir"
make() {  # make NAME SUFFIX
  local f="$dir/$1"
  if [ -s "$f" ]; then echo "kept $f"; return; fi
  (umask 022 && python3 -c 'import secrets, sys; sys.stdout.write(secrets.token_urlsafe(24) + sys.argv[1])' "$2" >"$f")
  chmod 0644 "$f"
  echo "made $f"
}
make pg_password "/=@1"
make grafana_admin_password ""
