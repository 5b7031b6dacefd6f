#!/usr/bin/env bash
# Installs what the tests and the demo need on Debian/Ubuntu when it is missing:
# git (with git-http-backend), the PostgreSQL server binaries (initdb, pg_ctl, postgres, pgbench)
# and jq (the reusable workflow's request step, run by the workflow tests).
set -euo pipefail

have_pg_server() {
  command -v initdb >/dev/null 2>&1 && return 0
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null 2>&1
}

missing=()
command -v git >/dev/null 2>&1 || missing+=(git)
command -v jq >/dev/null 2>&1 || missing+=(jq)
have_pg_server || missing+=(postgresql postgresql-contrib)

if [ ${#missing[@]} -eq 0 ]; then
  echo "prerequisites present: $(git --version), PostgreSQL $(ls /usr/lib/postgresql 2>/dev/null | tr '\n' ' ')"
  exit 0
fi

echo "installing: ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then SUDO=(); else SUDO=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
