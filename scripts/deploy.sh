#!/bin/sh
# Example deploy hook, run by flows/deploy.yaml as `scripts/deploy.sh <branch> <commit message>`
# with HOOKFLOW_TENANT and HOOKFLOW_DELIVERY in its environment. It only reports what it was
# given; replace the body with your deploy steps. Arguments arrive exactly as they were in the
# payload (no shell ever parses them), so quote them ("$1") when you use them here.
set -eu
branch="${1:?usage: deploy.sh <branch> [commit message]}"
message="${2:-}"
printf 'deploying %s\n' "$branch"
printf 'commit message: %s\n' "$message"
printf 'tenant: %s, delivery: %s\n' "${HOOKFLOW_TENANT:-}" "${HOOKFLOW_DELIVERY:-}"
