// Tickwire AF_XDP receive filter: IPv4 UDP datagrams whose destination port is in
// `tickwire_ports` go to the AF_XDP socket registered for the receiving queue in
// `tickwire_xsks`; everything else (ARP, SSH, other UDP, IPv6, fragments) is passed to the
// kernel untouched, so the host stays reachable while the feed bypasses it.
//
// Every header is checked against data_end before it is read (the verifier insists, and the
// userspace frame parser checks again: it must not trust this program either).
// Built by scripts/build-bpf.sh (clang -O2 -g -target bpf), loaded by XdpUdpReceiver via libxdp.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define VLAN_HEADER_LENGTH 4

// Destination UDP port (host byte order) -> 1. Userspace writes one entry per configured port.
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 64);
    __type(key, __u16);
    __type(value, __u8);
} tickwire_ports SEC(".maps");

// Receive queue -> AF_XDP socket.
struct {
    __uint(type, BPF_MAP_TYPE_XSKMAP);
    __uint(max_entries, 64);
    __type(key, __u32);
    __type(value, __u32);
} tickwire_xsks SEC(".maps");

SEC("xdp")
int tickwire_redirect_udp(struct xdp_md *context) {
    void *data = (void *)(long)context->data;
    void *data_end = (void *)(long)context->data_end;

    struct ethhdr *ethernet = data;
    if ((void *)(ethernet + 1) > data_end) return XDP_PASS;
    __u16 ethertype = ethernet->h_proto;
    void *network = ethernet + 1;
    if (ethertype == bpf_htons(ETH_P_8021Q)) {
        if (network + VLAN_HEADER_LENGTH > data_end) return XDP_PASS;
        ethertype = *(__u16 *)(network + 2);
        network += VLAN_HEADER_LENGTH;
    }
    if (ethertype != bpf_htons(ETH_P_IP)) return XDP_PASS;

    struct iphdr *ip = network;
    if ((void *)(ip + 1) > data_end) return XDP_PASS;
    if (ip->version != 4 || ip->ihl < 5 || ip->protocol != IPPROTO_UDP) return XDP_PASS;
    // Fragments go to the kernel, which reassembles them; the feed never fragments.
    if (ip->frag_off & bpf_htons(0x3FFF)) return XDP_PASS;
    struct udphdr *udp = network + ip->ihl * 4;
    if ((void *)(udp + 1) > data_end) return XDP_PASS;

    __u16 port = bpf_ntohs(udp->dest);
    if (!bpf_map_lookup_elem(&tickwire_ports, &port)) return XDP_PASS;
    // No socket on this queue: the kernel keeps the packet (XDP_PASS as the fallback action).
    return bpf_redirect_map(&tickwire_xsks, context->rx_queue_index, XDP_PASS);
}

char _license[] SEC("license") = "GPL";
