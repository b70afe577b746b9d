#!/bin/sh
# Start coturn with deploy/coturn/turnserver.conf plus this deployment's settings, taken from
# the environment (docker-compose.yml passes exactly these names from .env) so the secret never
# appears on a command line. Started as root only to read Caddy's certificate; turnserver then runs as TURN_PROC_USER.
#
#   TURN_SECRET (required)     shared with the app, which signs the credentials it hands out
#   TURN_REALM                 realm (default: DOMAIN, else "gethory")
#   TURN_PORT                  STUN/TURN over UDP and TCP (default 3478)
#   TURN_TLS_PORT              TURN over TLS (default 5349), only when the certificate exists
#   TURN_MIN_PORT/MAX_PORT     relay port range (default 49160-50159)
#   TURN_LISTENING_IP          listen on this address only (default: every address)
#   RTC_ANNOUNCED_ADDRESS      the public IP behind 1:1 NAT (EC2): coturn's external-ip
#   TURN_TLS_CERT/TURN_TLS_KEY PEM files for TLS (default: Caddy's certificate for DOMAIN)
set -eu
: "${TURN_SECRET:?TURN_SECRET must be set (the same value the app has)}"
case $TURN_SECRET in
    # .env.example's placeholder is public: with it, anyone could mint credentials.
    *CHANGE_ME*) echo "coturn: refusing to start: replace CHANGE_ME in TURN_SECRET (.env)" >&2; exit 2 ;;
esac
domain=${DOMAIN:-}
cert=${TURN_TLS_CERT:-/caddy-data/caddy/certificates/acme-v02.api.letsencrypt.org-directory/$domain/$domain.crt}
key=${TURN_TLS_KEY:-/caddy-data/caddy/certificates/acme-v02.api.letsencrypt.org-directory/$domain/$domain.key}
conf=$(mktemp -d)/turnserver.conf
{
    cat /etc/gethory-coturn/turnserver.conf
    echo "static-auth-secret=$TURN_SECRET"
    echo "realm=${TURN_REALM:-${domain:-gethory}}"
    echo "listening-port=${TURN_PORT:-3478}"
    echo "min-port=${TURN_MIN_PORT:-49160}"
    echo "max-port=${TURN_MAX_PORT:-50159}"
    echo "proc-user=${TURN_PROC_USER:-nobody}"
    echo "proc-group=${TURN_PROC_GROUP:-nogroup}"
    if [ -n "${TURN_LISTENING_IP:-}" ]; then
        echo "listening-ip=$TURN_LISTENING_IP"
        echo "relay-ip=$TURN_LISTENING_IP"
    fi
    if [ -n "${RTC_ANNOUNCED_ADDRESS:-}" ]; then echo "external-ip=$RTC_ANNOUNCED_ADDRESS"; fi
    if [ -n "$domain" ] && [ -r "$cert" ] && [ -r "$key" ]; then
        # A copy the unprivileged turnserver can read (Caddy keeps its key root-only).
        install -m 0644 "$cert" "$(dirname "$conf")/cert.pem"
        install -m 0640 -g "${TURN_PROC_GROUP:-nogroup}" "$key" "$(dirname "$conf")/key.pem"
        echo "tls-listening-port=${TURN_TLS_PORT:-5349}"
        echo "cert=$(dirname "$conf")/cert.pem"
        echo "pkey=$(dirname "$conf")/key.pem"
    else
        echo "no-tls"
        echo "no-dtls"
    fi
} > "$conf"
chmod 0640 "$conf"
chgrp "${TURN_PROC_GROUP:-nogroup}" "$conf" "$(dirname "$conf")"
chmod 0750 "$(dirname "$conf")"
exec turnserver -c "$conf" "$@"
