#!/bin/sh
# Sends a pod's TCP through its hotproxy sidecar, as Istio's istio-init does, in the pod's network
# namespace (an init container with NET_ADMIN, or `nsenter -n -t <pid>`):
#   inbound  (PREROUTING) → 15006  (virtualInbound in sidecar.yaml)
#   outbound (OUTPUT)     → 15001  (virtualOutbound)
# The proxy runs as PROXY_UID: its own connections go out untouched (-m owner), and those it
# makes to the pod's own address from 127.0.0.6 (the inbound clusters) are not redirected again.
#
#   iptables.sh            install the rules (once per pod; running it again replaces them)
#   iptables.sh clean      remove them
# Settings (environment): PROXY_UID (1337), PROXY_GID (1337), INBOUND_PORT (15006),
# OUTBOUND_PORT (15001), INBOUND_EXCLUDE_PORTS (space-separated, "15000 15001 15006"),
# OUTBOUND_EXCLUDE_CIDRS (space-separated, none).
set -eu
PROXY_UID="${PROXY_UID:-1337}"
PROXY_GID="${PROXY_GID:-1337}"
INBOUND_PORT="${INBOUND_PORT:-15006}"
OUTBOUND_PORT="${OUTBOUND_PORT:-15001}"
INBOUND_EXCLUDE_PORTS="${INBOUND_EXCLUDE_PORTS:-15000 15001 15006}"
OUTBOUND_EXCLUDE_CIDRS="${OUTBOUND_EXCLUDE_CIDRS:-}"
IPT="${IPTABLES:-iptables}"
CHAINS="HOTPROXY_INBOUND HOTPROXY_IN_REDIRECT HOTPROXY_OUTPUT HOTPROXY_REDIRECT"

clean() {
    $IPT -t nat -D PREROUTING -p tcp -j HOTPROXY_INBOUND 2>/dev/null || true
    $IPT -t nat -D OUTPUT -p tcp -j HOTPROXY_OUTPUT 2>/dev/null || true
    # every chain flushed before any is deleted: a chain still jumped to cannot be
    for chain in $CHAINS; do $IPT -t nat -F "$chain" 2>/dev/null || true; done
    for chain in $CHAINS; do $IPT -t nat -X "$chain" 2>/dev/null || true; done
}

clean
[ "${1:-}" = clean ] && exit 0

for chain in $CHAINS; do
    $IPT -t nat -N "$chain"
done
$IPT -t nat -A HOTPROXY_IN_REDIRECT -p tcp -j REDIRECT --to-ports "$INBOUND_PORT"
$IPT -t nat -A HOTPROXY_REDIRECT -p tcp -j REDIRECT --to-ports "$OUTBOUND_PORT"

# Inbound: every TCP connection to the pod, but for the proxy's own ports.
$IPT -t nat -A PREROUTING -p tcp -j HOTPROXY_INBOUND
for port in $INBOUND_EXCLUDE_PORTS; do
    $IPT -t nat -A HOTPROXY_INBOUND -p tcp --dport "$port" -j RETURN
done
$IPT -t nat -A HOTPROXY_INBOUND -p tcp -j HOTPROXY_IN_REDIRECT

# Outbound, in order:
$IPT -t nat -A OUTPUT -p tcp -j HOTPROXY_OUTPUT
# the inbound clusters' connections to the application (source 127.0.0.6)
$IPT -t nat -A HOTPROXY_OUTPUT -o lo -s 127.0.0.6/32 -j RETURN
# the proxy calling the pod's own address: that is inbound traffic for the pod
$IPT -t nat -A HOTPROXY_OUTPUT -o lo ! -d 127.0.0.1/32 -p tcp -m owner --uid-owner "$PROXY_UID" -j HOTPROXY_IN_REDIRECT
# the application talking to itself over loopback stays in the pod
$IPT -t nat -A HOTPROXY_OUTPUT -o lo -m owner ! --uid-owner "$PROXY_UID" -j RETURN
# the proxy's own connections leave as they are (else they would come back to it)
$IPT -t nat -A HOTPROXY_OUTPUT -m owner --uid-owner "$PROXY_UID" -j RETURN
$IPT -t nat -A HOTPROXY_OUTPUT -m owner --gid-owner "$PROXY_GID" -j RETURN
$IPT -t nat -A HOTPROXY_OUTPUT -d 127.0.0.1/32 -j RETURN
for cidr in $OUTBOUND_EXCLUDE_CIDRS; do
    $IPT -t nat -A HOTPROXY_OUTPUT -d "$cidr" -j RETURN
done
# everything else the application opens goes to the sidecar
$IPT -t nat -A HOTPROXY_OUTPUT -j HOTPROXY_REDIRECT
echo "hotproxy sidecar: inbound TCP → :$INBOUND_PORT, outbound TCP → :$OUTBOUND_PORT, uid $PROXY_UID exempt"
