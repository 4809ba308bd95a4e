#!/bin/sh
# xnai-edge-banner.service: once the daemon is READY (the unit is ordered after it), tell the
# person at the screen where the status page is, as Home Assistant OS does: the URL with this
# device's IPv4 address on the console (serial in a VM) and on tty1.  The password of the page
# is shown on tty1 only: whoever sits at the device's own screen may read it; the serial log
# and the journal never see it.
#
# For tests: XNAI_BANNER_ROOT prefixes file paths, XNAI_BANNER_IP fixes the address,
# XNAI_BANNER_CONSOLE / XNAI_BANNER_TTY name the files written instead of /dev/console, /dev/tty1.
set -u

ROOT="${XNAI_BANNER_ROOT:-}"
CONSOLE="${XNAI_BANNER_CONSOLE:-/dev/console}"
TTY="${XNAI_BANNER_TTY:-/dev/tty1}"
WAIT_S="${XNAI_BANNER_WAIT_S:-120}"
CONFIG="$ROOT/etc/xnai-edge/config.toml"
PASSWORD_FILE="$ROOT/var/lib/xnai-edge/secrets/web-password"

# [web] port from the config (default 8080); a plain scan, the file is ours and simple TOML.
web_port() {
    awk '/^\[/{s=$0} s=="[web]" && $1=="port" {gsub(/[^0-9]/,"",$3); print $3; exit}' \
        "$CONFIG" 2>/dev/null | grep -E '^[0-9]+$' || echo 8080
}

first_ipv4() {
    if [ -n "${XNAI_BANNER_IP+set}" ]; then echo "$XNAI_BANNER_IP"; return 0; fi  # "" = none
    ip -4 -o addr show scope global 2>/dev/null | awk '{split($4,a,"/"); print a[1]; exit}'
}

# The daemon's resident memory at READY, for the log (make image-test reports it).
rss_line() {
    pid=$(systemctl show -p MainPID --value xnai-edge.service 2>/dev/null || true)
    case "$pid" in ""|0|*[!0-9]*) return 0 ;; esac
    rss=$(awk '/^VmRSS:/ {print int($2 / 1024)}' "/proc/$pid/status" 2>/dev/null)
    [ -z "$rss" ] || echo "xnai-edge: daemon pid $pid, RSS $rss MB"
}

main() {
    port=$(web_port)
    deadline=$(( $(date +%s) + WAIT_S ))
    addr=$(first_ipv4)
    while [ -z "$addr" ] && [ "$(date +%s)" -lt "$deadline" ]; do
        sleep 2  # waiting for DHCP, not synchronising with a test
        addr=$(first_ipv4)
    done
    host=$(cat "$ROOT/etc/hostname" 2>/dev/null || echo xnai-edge)
    if [ -n "$addr" ]; then
        line="xnai-edge is ready: status page http://$addr:$port/ (host $host)"
    else
        line="xnai-edge is ready, but has no IPv4 address yet: plug in a network cable"
    fi
    rss=$(rss_line)
    printf '\n%s\n%s\n\n' "$line" "$rss" > "$CONSOLE" 2>/dev/null || true
    if [ "$TTY" != "$CONSOLE" ] && [ -w "$TTY" ]; then
        {
            printf '\n%s\n' "$line"
            if [ -r "$PASSWORD_FILE" ]; then
                printf 'status page password: %s\n' "$(head -n1 "$PASSWORD_FILE")"
            fi
            printf '\n'
        } > "$TTY" 2>/dev/null || true
    fi
    echo "$line"
}

main "$@"
