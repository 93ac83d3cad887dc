# Cluster/packages.sh: the Debian packages Ferry needs, and the one function that installs them.
# Sourced (not run) by Cluster/local and Tests/run, so both install the same way.
#
# A fresh machine has empty package lists, so `apt-get install` alone finds nothing: when anything is missing,
# `apt-get update` runs first. apt's own output goes to a log file; on failure its last lines are shown, and
# without root the exact commands to run by hand are printed instead.

# What building and running a node needs: liblz4 (storage compression), libcrypto (SHA-256, HMAC), pkg-config
# (SwiftPM finds both through it), iptables (Cluster/local partition).
ferry_packages=(liblz4-dev libssl-dev pkg-config iptables)

# Prints the packages among the arguments that are not installed, one per line. Only the package's state counts,
# not what is wanted of it: a package on hold ("hold ok installed") or one whose purge dpkg refused because others
# depend on it ("purge ok installed") is installed, and apt-get, finding it at its newest version, would not
# change it.
ferry_missing_packages() {
  local package
  for package in "$@"; do
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null)" = installed ] || echo "$package"
  done
}

# ferry_install_packages CALLER PACKAGE...: installs the missing ones; CALLER names the script in messages.
# Returns non-zero (after saying why) when they cannot be installed. `FERRY_APT_OPTIONS` adds options to every
# apt-get call (for example `-o Acquire::Retries=3`).
ferry_install_packages() {
  local caller=$1
  shift
  local missing
  mapfile -t missing < <(ferry_missing_packages "$@")
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "$caller: missing Debian packages: ${missing[*]}" >&2
    echo "$caller: install them as root, then run this again:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    return 1
  fi
  local log
  log=$(mktemp /tmp/ferry-apt-XXXXXX.log)
  echo "$caller: installing ${missing[*]} (apt-get update, then apt-get install; log: $log)"
  # shellcheck disable=SC2086 # FERRY_APT_OPTIONS is a list of words
  if ! apt-get ${FERRY_APT_OPTIONS:-} update >"$log" 2>&1; then
    echo "$caller: apt-get update failed; the end of its output:" >&2
    tail -n 15 "$log" >&2
    return 1
  fi
  # shellcheck disable=SC2086
  if ! DEBIAN_FRONTEND=noninteractive apt-get ${FERRY_APT_OPTIONS:-} install -y --no-install-recommends \
    "${missing[@]}" >>"$log" 2>&1; then
    echo "$caller: apt-get install ${missing[*]} failed; the end of its output:" >&2
    tail -n 15 "$log" >&2
    return 1
  fi
  mapfile -t missing < <(ferry_missing_packages "$@")
  if [ ${#missing[@]} -gt 0 ]; then
    echo "$caller: apt-get reported success but ${missing[*]} is still not installed; see $log" >&2
    return 1
  fi
  rm -f "$log"
}
