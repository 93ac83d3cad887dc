#!/bin/sh
# Cluster/deploy/container/entrypoint.sh: a Ferry node in a StatefulSet pod (Cluster/deploy/kubernetes/ferry.yaml).
# The pod's ordinal (hostname NAME-K) gives the node id K+1 and the address NAME-K.SERVICE (the headless
# service); pods 0…FERRY_FOUNDERS-1 bootstrap the cluster, later ones start with `join: true` and are added with
# `ferry cluster add-node` (see the manifest). The SQS key comes from the environment (a Secret).
#   entrypoint.sh               writes /etc/ferry/node.yaml and runs the node (exec, so SIGTERM reaches it)
#   entrypoint.sh --print-config   prints the config it would write, and exits
set -eu
name=${HOSTNAME%-*}
ordinal=${HOSTNAME##*-}
case "$ordinal" in '' | *[!0-9]*) echo "entrypoint: hostname $HOSTNAME does not end in -<ordinal>" >&2; exit 2 ;; esac
: "${FERRY_SERVICE:?the headless service's name}" "${FERRY_NAMESPACE:?the pod's namespace}"
: "${FERRY_ACCESS_KEY_ID:?from a Secret}" "${FERRY_SECRET_ACCESS_KEY:?from a Secret}"
founders=${FERRY_FOUNDERS:-3}
domain=$FERRY_SERVICE.$FERRY_NAMESPACE.svc.${FERRY_CLUSTER_DOMAIN:-cluster.local}
join=false
[ "$ordinal" -ge "$founders" ] && join=true
config() {
  cat <<EOF
node_id: $((ordinal + 1))
cluster_id: ${FERRY_CLUSTER_ID:-ferry}
data_dir: ${FERRY_DATA_DIR:-/var/lib/ferry}
fsync: ${FERRY_FSYNC:-always}
join: $join
sqs:
  auth: sigv4
  account_id: "${FERRY_SQS_ACCOUNT_ID:-000000000000}"
  access_keys:
    - {id: $FERRY_ACCESS_KEY_ID, secret: "$FERRY_SECRET_ACCESS_KEY"}
members:
EOF
  last=$((founders - 1))
  [ "$ordinal" -gt "$last" ] && last=$ordinal
  for k in $(seq 0 "$last"); do
    echo "  - {id: $((k + 1)), host: $name-$k.$domain, peer_port: 7100, client_port: 7200, http_port: 7300}"
  done
}
if [ "${1:-}" = --print-config ]; then
  config
  exit 0
fi
mkdir -p /etc/ferry
config >/etc/ferry/node.yaml
exec ferry node --config /etc/ferry/node.yaml
