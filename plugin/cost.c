/* The cost model's defaults (docs/plugin.md, "Cost model").
 *
 * Bandwidths are effective GB/s per direction for GPU peer-to-peer traffic,
 * seeded from NCCL's per-path constants and PCIe 4.0/5.0 x16 practice; the
 * traffic is that of a 70B-parameter GPT (hidden 8192, sequence 4096, 80
 * layers, bf16, 16 micro-batches) at tp=8, pp=4: what matters to the placer is
 * that tensor-parallel traffic dwarfs data-parallel traffic, which exceeds
 * pipeline traffic. Admins override any of them in plait.conf. */
#include "placement.h"

#define GIB (1024.0 * 1024.0 * 1024.0)

void plait_cost_default(plait_cost_t *c)
{
    for (int i = 0; i < PLAIT_LINK_COUNT; i++)
        c->gbps[i] = 1.0;
    c->gbps[PLAIT_LINK_SELF] = 1e6;
    c->gbps[PLAIT_LINK_NVLINK] = 25.0; /* one link, when NVML or hwloc gave no figure */
    c->gbps[PLAIT_LINK_PCIE_SWITCH] = 24.0;
    c->gbps[PLAIT_LINK_HOST_BRIDGE] = 20.0;
    c->gbps[PLAIT_LINK_SOCKET] = 16.0;
    c->gbps[PLAIT_LINK_INTER_SOCKET] = 10.0;
    c->gbps[PLAIT_LINK_NETWORK] = 25.0; /* one 200 Gb/s port */
    c->gbps[PLAIT_LINK_SPINE] = 12.5;   /* 2:1 oversubscribed above the leaf */
    /* 4 all-reduces of a 64 MiB activation per layer, 20 layers per stage,
     * 16 micro-batches. */
    c->tp_bytes = 4.0 * 20 * 16 * 64 * 1024 * 1024;
    /* Activations forward and gradients backward, 16 micro-batches. */
    c->pp_bytes = 2.0 * 16 * 64 * 1024 * 1024;
    /* bf16 gradients of 70e9 / (8 * 4) parameters. */
    c->dp_bytes = 2.0 * 70e9 / 32;
}
