#!/usr/bin/env bash
# Leak check around a whole test run (issue 5 "clean teardown"):
#   scripts/leak-check.sh snapshot FILE   before the run
#   scripts/leak-check.sh compare FILE    after it: lists what is new and exits 1 if anything is
# What counts: mounts, network/IPC/UTS namespaces (pinned or held by a process), beluga cgroups (each container's too,
# and anything beneath a hybrid host's cgroup2 mount point), network interfaces, CNI address
# reservations and iptables/nftables rules,
# processes of beluga, its shims, the OCI runtimes or any container (a process whose root is not
# the host's), runtime state under /run, and temporary directories the tests create. The shared
# busybox rootfs the tests keep on purpose (/tmp/beluga-test-rootfs-*) is not a leak.
set -euo pipefail

shared_chains='^(:CNI-HOSTPORT-(DNAT|MASQ|SETMARK) -|-A (PREROUTING|OUTPUT|POSTROUTING) .*-j CNI-HOSTPORT-(DNAT|MASQ)$|-A CNI-HOSTPORT-(MASQ|SETMARK) |:CNI-(FORWARD|ADMIN) -|-A FORWARD -m comment --comment "CNI firewall plugin rules" -j CNI-FORWARD$|-A CNI-FORWARD -m comment --comment "CNI firewall plugin admin overrides" -j CNI-ADMIN$)'

# One "kind: thing" line per item, sorted as a whole (comm needs that).
state() {
  {
    # /run/netns is the shared mount point iproute2 makes at its first `ip netns add` (the
    # tests' far-end namespaces) and keeps for good, by design: not a leak.
    awk '$5 != "/run/netns" {print "mount: " $5}' /proc/self/mountinfo || true
    for p in /proc/[0-9]*; do
      for k in net ipc uts; do
        ns=$(readlink "$p/ns/$k" 2>/dev/null) && echo "namespace: $ns"
      done
      exe=$(readlink "$p/exe" 2>/dev/null) || continue
      root=$(readlink "$p/root" 2>/dev/null) || root=/
      case "$exe" in
        */beluga | */beluga-shim | */runc | */crun | */conmon) echo "process: ${p#/proc/} $exe" ;;
        *) [ "$root" = / ] || echo "process: ${p#/proc/} $exe (container)" ;;
      esac
    done
    find /sys/fs/cgroup -maxdepth 4 -type d -path '*/beluga*' 2>/dev/null | sed 's/^/cgroup: /' || true
    # Beneath a hybrid host's cgroup2 mount, as a runtime run with it hidden would see it: nothing
    # may be written into the host's /sys/fs/cgroup there (issue 13).
    if mountpoint -q /sys/fs/cgroup/unified 2>/dev/null; then
      unshare -m --propagation slave sh -c \
        'umount -l /sys/fs/cgroup/unified && find /sys/fs/cgroup/unified -mindepth 1 -maxdepth 2' \
        2>/dev/null | sed 's/^/under the hidden cgroup2 mount: /' || true
    fi
    ls -1 /run/runc /run/crun /run/beluga 2>/dev/null | sed 's/^/runtime state: /' || true
    # Pod networking (issue 14): interfaces, CNI address reservations, packet-filter rules.
    ip -o link show 2>/dev/null | awk -F': ' '{sub(/@.*/, "", $2); print "interface: " $2}' || true
    find /var/lib/cni/networks -type f ! -name lock ! -name 'last_reserved_ip.*' 2>/dev/null | sed 's/^/cni reservation: /' || true
    # Rules and chains of one's own; a built-in table loaded on the way stays empty, and is not one.
    if command -v iptables-save >/dev/null; then
      # The plugins' shared entry chains (portmap's, made by the first hostPort; firewall's
      # CNI-FORWARD and CNI-ADMIN), never removed by design, as on every node, are not a pod's;
      # the per-pod rules in them still count.
      iptables-save 2>/dev/null | grep -E '^(-A |:[^ ]+ - )' | sed 's/ \[[0-9]*:[0-9]*\]$//' \
        | grep -vE "$shared_chains" | sed 's/^/iptables: /' || true
    fi
    # The same for IPv6 (a dual-stack list's masquerade and port mappings).
    if command -v ip6tables-save >/dev/null; then
      ip6tables-save 2>/dev/null | grep -E '^(-A |:[^ ]+ - )' | sed 's/ \[[0-9]*:[0-9]*\]$//' \
        | grep -vE "$shared_chains" | sed 's/^/ip6tables: /' || true
    fi
    # nftables tables other than iptables' own (whose rules iptables-save lists).
    if command -v nft >/dev/null; then
      nft list tables 2>/dev/null | grep -vE '^table (ip|ip6|inet|arp|bridge) (filter|nat|mangle|raw|security)$' \
        | sed 's/^/nftables: /' || true
    fi
    find /tmp -maxdepth 1 -mindepth 1 \( -name '.tmp*' -o -name 'beluga-*' \) \
      ! -name 'beluga-test-rootfs-*' 2>/dev/null | sed 's/^/temporary directory: /' || true
  } | sort -u
}

case "${1:-}" in
  snapshot)
    state >"$2"
    ;;
  compare)
    new=$(comm -13 "$2" <(state) || true)
    if [ -n "$new" ]; then
      echo "leak check: left behind by the test run:" >&2
      echo "$new" >&2
      # What a leaked temporary directory holds says whose it was.
      echo "$new" | sed -n 's/^temporary directory: //p' | while read -r dir; do
        echo "$dir holds:" >&2
        find "$dir" -maxdepth 2 2>/dev/null | head -20 | sed 's/^/  /' >&2 || true
      done
      exit 1
    fi
    echo "leak check: nothing left behind (mounts, namespaces, cgroups, processes, runtime state, temp dirs, interfaces, CNI reservations, packet-filter rules)"
    ;;
  *)
    echo "usage: $0 snapshot|compare FILE" >&2
    exit 2
    ;;
esac
