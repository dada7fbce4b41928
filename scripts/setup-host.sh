#!/usr/bin/env bash
# Installs the Debian packages Tickwire builds and tests with. Idempotent: installs only
# what is missing, so a second run costs a dpkg query. Needs root (apt-get).
set -euo pipefail

packages=(
  libxdp-dev libbpf-dev libnuma-dev   # the C shim links xdp, bpf, numa
  libssl-dev                          # TLS for venue WebSockets
  gcc g++ pkg-config                  # the wire-header C test and the C++ peers
  libboost-dev                        # boost::lockfree::spsc_queue peer (scripts/bench-peers.sh)
  iproute2                            # network namespaces for transport tests
  iputils-ping                        # ARP/ICMP still reach the kernel beside the AF_XDP receiver
  linux-libc-dev                      # linux/bpf.h etc. for bpf/*.c (clang -target bpf, scripts/build-bpf.sh)
  tshark tcpdump                      # Wireshark dissector test: capture and decode real traffic
  nftables                            # random packet loss in test namespaces (this kernel has no netem)
  prometheus                          # the metrics endpoint test scrapes with a real Prometheus (its own instance)
  systemd                             # systemd-analyze verify on scripts/systemd/tickwire.service
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup-host: missing packages ${missing[*]}; run as root or: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
  echo "setup-host: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
