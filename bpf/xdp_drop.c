// Drops every frame at the XDP hook: attached to the receiving end of the benchmark's veth
// pair so the sender benchmarks (scripts/bench-peers.sh senders) measure sender cost only.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_drop(struct xdp_md *context) {
    (void)context;
    return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
