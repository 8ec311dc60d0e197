#!/bin/sh
# Starts Alertmanager with its secrets taken from the environment: each one is written to a file of its own (mode
# 0600, in ALERTMANAGER_SECRETS_DIR, a tmpfs in production) that alertmanager.yml names in a *_file field, and the
# variables are dropped from the environment Alertmanager itself sees. Extra arguments go to Alertmanager.
#   PAGERDUTY_ROUTING_KEY=... SLACK_WEBHOOK_URL=... SMTP_PASSWORD=... ops/alertmanager/entrypoint.sh \
#     --config.file=ops/alertmanager/alertmanager.yml
set -eu
dir="${ALERTMANAGER_SECRETS_DIR:-/run/alertmanager-secrets}"
umask 077
mkdir -p "$dir"
write() { # variable name, file name
  eval "value=\${$1:-}"
  if [ -z "$value" ]; then
    echo "entrypoint.sh: $1 is not set" >&2
    exit 2
  fi
  printf '%s' "$value" > "$dir/$2"
}
write PAGERDUTY_ROUTING_KEY pagerduty_routing_key
write SLACK_WEBHOOK_URL slack_webhook_url
write SMTP_PASSWORD smtp_password
unset PAGERDUTY_ROUTING_KEY SLACK_WEBHOOK_URL SMTP_PASSWORD
# Debian names the binary prometheus-alertmanager; upstream builds call it alertmanager.
exec "${ALERTMANAGER_BIN:-$(command -v alertmanager || command -v prometheus-alertmanager)}" "$@"
