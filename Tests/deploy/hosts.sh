# Tests/deploy/hosts.sh: test hosts on this machine, sourced by Tests/deploy/run. Each host is a network
# namespace (fdep-hN, 198.18.0.(10+N)/24 on a veth whose other end is on the bridge fdep-br, 198.18.0.1) with an
# sshd of its own that accepts the test's key for root. The hosts share this machine's file system, so the test's
# inventory gives each its own directories. Everything here is made by the test and removed by deploy_hosts_down,
# which first ends every process in the namespaces (all of them started by the test).

deploy_bridge=fdep-br
deploy_host_ns() { echo "fdep-h$1"; }
deploy_host_address() { echo "198.18.0.$((10 + $1))"; }

# deploy_hosts_up DIR N: hosts 1…N, their sshd state in DIR/ssh (keys, configs, pids, logs).
deploy_hosts_up() {
  local dir=$1 count=$2 n ns
  mkdir -p "$dir/ssh" /run/sshd
  [ -f "$dir/ssh/client_key" ] || ssh-keygen -q -t ed25519 -N '' -C ferry-deploy-test -f "$dir/ssh/client_key" || return 1
  [ -f "$dir/ssh/host_key" ] || ssh-keygen -q -t ed25519 -N '' -C ferry-deploy-host -f "$dir/ssh/host_key" || return 1
  cp "$dir/ssh/client_key.pub" "$dir/ssh/authorized_keys"
  ip link add "$deploy_bridge" type bridge || return 1
  ip addr add 198.18.0.1/24 dev "$deploy_bridge" && ip link set "$deploy_bridge" up || return 1
  for n in $(seq 1 "$count"); do
    ns=$(deploy_host_ns "$n")
    ip netns add "$ns" || return 1
    ip link add "fdep-v$n" type veth peer name eth0 netns "$ns" || return 1
    ip link set "fdep-v$n" master "$deploy_bridge" up || return 1
    ip -n "$ns" addr add "$(deploy_host_address "$n")/24" dev eth0 || return 1
    ip -n "$ns" link set eth0 up && ip -n "$ns" link set lo up || return 1
    ip -n "$ns" route add default via 198.18.0.1 || return 1
    cat >"$dir/ssh/sshd-$n.conf" <<CONF
ListenAddress $(deploy_host_address "$n")
Port 22
HostKey $dir/ssh/host_key
PidFile $dir/ssh/sshd-$n.pid
AuthorizedKeysFile $dir/ssh/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
Subsystem sftp internal-sftp
CONF
    ip netns exec "$ns" /usr/sbin/sshd -f "$dir/ssh/sshd-$n.conf" -E "$dir/ssh/sshd-$n.log" || return 1
  done
  # Each sshd answers before the hosts are used.
  for n in $(seq 1 "$count"); do
    local tries=0
    until deploy_ssh "$dir" "$n" true 2>/dev/null; do
      tries=$((tries + 1))
      [ $tries -gt 50 ] && { echo "host $n: sshd does not answer (see $dir/ssh/sshd-$n.log)" >&2; return 1; }
      sleep 0.1
    done
  done
}

# deploy_ssh DIR N COMMAND...: runs COMMAND on host N as the playbooks' ssh does.
deploy_ssh() {
  local dir=$1 n=$2
  shift 2
  ssh -i "$dir/ssh/client_key" -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
    -o LogLevel=ERROR -o ConnectTimeout=3 "root@$(deploy_host_address "$n")" "$@"
}

# deploy_hosts_down DIR: every process in the test's namespaces (sshd, nodes, supervisors) ended, the
# namespaces, veths and the bridge deleted. Safe to call when nothing or only part was made.
deploy_hosts_down() {
  local dir=$1 ns pids n
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^fdep-h[0-9]+$'); do
    pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
    # shellcheck disable=SC2086
    [ -n "$pids" ] && kill -TERM $pids 2>/dev/null
  done
  for n in $(seq 1 50); do
    pids=""
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^fdep-h[0-9]+$'); do
      pids="$pids$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')"
    done
    [ -z "${pids// /}" ] && break
    sleep 0.1
  done
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^fdep-h[0-9]+$'); do
    pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
    # shellcheck disable=SC2086
    [ -n "$pids" ] && kill -KILL $pids 2>/dev/null
    ip netns del "$ns"
  done
  ip link del "$deploy_bridge" 2>/dev/null
  rm -f "$dir"/ssh/sshd-*.pid
  return 0
}
