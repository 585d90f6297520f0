#!/usr/bin/env bash
# Secrets for deploy/compose (idempotent): the admin token (tokens.csv + admin.token), the agent
# secret, and node-1's agent token derived from it. Run from the repository root.
set -euo pipefail
dir="$(dirname "$0")/secrets"
mkdir -p "$dir" && chmod 700 "$dir"
[[ -s "$dir/admin.token" ]] || python3 -c 'import secrets; print(secrets.token_urlsafe(24))' >"$dir/admin.token"
printf '%s,admin,admin,"system:masters"\n' "$(cat "$dir/admin.token")" >"$dir/tokens.csv"
[[ -s "$dir/agent-secret" ]] || python3 -c 'import secrets; print(secrets.token_urlsafe(32))' >"$dir/agent-secret"
python3 -m kubelite.node.agent_auth --secret-file "$dir/agent-secret" node-1 >"$dir/node-1.token"
chmod 600 "$dir"/*
echo "secrets in $dir"
