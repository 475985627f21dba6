#!/usr/bin/env bash
# Render deploy/nginx/marketplace.conf for this host and print it (or write it to the file given).
#
#   NGINX_SERVER_NAME=market.example.com NGINX_TLS_CERT=/etc/ssl/market/fullchain.pem \
#   NGINX_TLS_KEY=/etc/ssl/market/privkey.pem bash deploy/nginx/render.sh /etc/nginx/sites-enabled/marketplace.conf
#
# Optional: NGINX_UPSTREAM (gunicorn's bind, default 127.0.0.1:8000), NGINX_STATIC_ROOT (collectstatic's
# STATIC_ROOT, default <repo>/staticfiles), NGINX_HTTP_PORT / NGINX_HTTPS_PORT (80 / 443), NGINX_ACME_ROOT.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"

: "${NGINX_SERVER_NAME:?set NGINX_SERVER_NAME to the host name(s) of the site}"
: "${NGINX_TLS_CERT:?set NGINX_TLS_CERT to the certificate chain (PEM)}"
: "${NGINX_TLS_KEY:?set NGINX_TLS_KEY to the private key (PEM)}"
UPSTREAM="${NGINX_UPSTREAM:-127.0.0.1:8000}"
STATIC_ROOT="${NGINX_STATIC_ROOT:-$ROOT/staticfiles}"
HTTP_PORT="${NGINX_HTTP_PORT:-80}"
HTTPS_PORT="${NGINX_HTTPS_PORT:-443}"
ACME_ROOT="${NGINX_ACME_ROOT:-/var/www/letsencrypt}"
SUFFIX=""; [ "$HTTPS_PORT" = 443 ] || SUFFIX=":$HTTPS_PORT"

for value in "$NGINX_SERVER_NAME" "$NGINX_TLS_CERT" "$NGINX_TLS_KEY" "$UPSTREAM" "$STATIC_ROOT" "$ACME_ROOT"; do
    case "$value" in
        *[\;\{\}\|\'\"]* | *$'\n'*) echo "render.sh: refusing a value with ; { } | quotes or newlines: $value" >&2; exit 2 ;;
    esac
done
for port in "$HTTP_PORT" "$HTTPS_PORT"; do
    [[ "$port" =~ ^[0-9]{1,5}$ ]] || { echo "render.sh: not a port: $port" >&2; exit 2; }
done

rendered="$(sed \
    -e "s|@SERVER_NAME@|$NGINX_SERVER_NAME|g" \
    -e "s|@TLS_CERT@|$NGINX_TLS_CERT|g" \
    -e "s|@TLS_KEY@|$NGINX_TLS_KEY|g" \
    -e "s|@UPSTREAM@|$UPSTREAM|g" \
    -e "s|@STATIC_ROOT@|${STATIC_ROOT%/}|g" \
    -e "s|@HTTP_PORT@|$HTTP_PORT|g" \
    -e "s|@HTTPS_PORT_SUFFIX@|$SUFFIX|g" \
    -e "s|@HTTPS_PORT@|$HTTPS_PORT|g" \
    -e "s|@ACME_ROOT@|$ACME_ROOT|g" \
    "$HERE/marketplace.conf")"
if grep -q '@[A-Z_]*@' <<<"$rendered"; then
    echo "render.sh: placeholders left: $(grep -o '@[A-Z_]*@' <<<"$rendered" | sort -u | tr '\n' ' ')" >&2
    exit 2
fi
if [ $# -ge 1 ]; then printf '%s\n' "$rendered" >"$1"; else printf '%s\n' "$rendered"; fi
