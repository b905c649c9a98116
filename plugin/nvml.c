/* NVLink bandwidth from NVML, loaded with dlopen: plait.so must load on login
 * nodes without the NVIDIA driver, and Debian ships no NVML. Every query that
 * answers NOT_SUPPORTED (or anything but success) counts as "unknown": the
 * placer then falls back to the PCI tree. Calls are serialised, as NCCL does. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

typedef int nvml_return_t; /* 0: NVML_SUCCESS */
typedef struct nvml_device *nvml_device_t;

/* nvmlPciInfo_t, the layout of NVML 11 and later. */
typedef struct {
    char busIdLegacy[16];
    unsigned int domain;
    unsigned int bus;
    unsigned int device;
    unsigned int pciDeviceId;
    unsigned int pciSubSystemId;
    char busId[32];
} nvml_pci_t;

#define NVML_MAX_LINKS 18

struct nvml_api {
    nvml_return_t (*init)(void);
    nvml_return_t (*shutdown)(void);
    nvml_return_t (*by_busid)(const char *, nvml_device_t *);
    nvml_return_t (*link_state)(nvml_device_t, unsigned int, int *);
    nvml_return_t (*link_version)(nvml_device_t, unsigned int, unsigned int *);
    nvml_return_t (*link_remote)(nvml_device_t, unsigned int, nvml_pci_t *);
};

static pthread_mutex_t nvml_lock = PTHREAD_MUTEX_INITIALIZER;

/* GB/s per direction of one link of each NVLink version. */
static double link_gbps(unsigned int version)
{
    switch (version) {
    case 1:
        return 20.0;
    case 2:
    case 3:
    case 4:
        return 25.0;
    case 5:
        return 50.0;
    default:
        return 25.0;
    }
}

static int query(struct nvml_api *api, plait_topology_t *t)
{
    /* Per GPU: links to other GPUs, and to switches (by the switch's bus id). */
    /* Static, not on the stack: callers hold nvml_lock. */
    static char sw_id[PLAIT_MAX_GPUS * 2][16];
    static double sw_bw[PLAIT_MAX_GPUS][PLAIT_MAX_GPUS * 2];
    int nsw = 0, answered = 0;
    memset(sw_bw, 0, sizeof(sw_bw));
    for (int g = 0; g < t->ngpus; g++) {
        nvml_device_t dev;
        if (api->by_busid(t->gpu[g].pci.busid, &dev) != 0)
            continue;
        for (unsigned int l = 0; l < NVML_MAX_LINKS; l++) {
            int active = 0;
            if (api->link_state(dev, l, &active) != 0 || !active)
                continue;
            unsigned int version = 0;
            if (api->link_version(dev, l, &version) != 0)
                version = 0;
            nvml_pci_t remote;
            memset(&remote, 0, sizeof(remote));
            if (api->link_remote(dev, l, &remote) != 0)
                continue;
            answered = 1;
            char busid[16];
            snprintf(busid, sizeof(busid), "%04x:%02x:%02x.0", remote.domain & 0xffff,
                     remote.bus & 0xff, remote.device & 0x1f);
            int peer = -1;
            for (int h = 0; h < t->ngpus; h++)
                if (!strcmp(t->gpu[h].pci.busid, busid))
                    peer = h;
            if (peer >= 0 && peer != g) {
                t->nvlink_gbps[g][peer] += link_gbps(version);
                continue;
            }
            int s = 0;
            while (s < nsw && strcmp(sw_id[s], busid))
                s++;
            if (s == nsw) {
                if (nsw == PLAIT_MAX_GPUS * 2)
                    continue;
                snprintf(sw_id[nsw++], sizeof(sw_id[0]), "%s", busid);
            }
            sw_bw[g][s] += link_gbps(version);
        }
    }
    for (int g = 0; g < t->ngpus; g++)
        for (int h = 0; h < t->ngpus; h++)
            for (int s = 0; s < nsw && g != h; s++) {
                double bw = sw_bw[g][s] < sw_bw[h][s] ? sw_bw[g][s] : sw_bw[h][s];
                t->nvlink_gbps[g][h] += bw;
            }
    return answered;
}

int plait_nvml_nvlink(plait_topology_t *t)
{
    if (t->ngpus < 2)
        return 0;
    pthread_mutex_lock(&nvml_lock);
    int rc = 0;
    void *lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (lib) {
        struct nvml_api api;
        *(void **)&api.init = dlsym(lib, "nvmlInit_v2");
        *(void **)&api.shutdown = dlsym(lib, "nvmlShutdown");
        *(void **)&api.by_busid = dlsym(lib, "nvmlDeviceGetHandleByPciBusId_v2");
        *(void **)&api.link_state = dlsym(lib, "nvmlDeviceGetNvLinkState");
        *(void **)&api.link_version = dlsym(lib, "nvmlDeviceGetNvLinkVersion");
        *(void **)&api.link_remote = dlsym(lib, "nvmlDeviceGetNvLinkRemotePciInfo_v2");
        if (api.init && api.shutdown && api.by_busid && api.link_state && api.link_version &&
            api.link_remote && api.init() == 0) {
            rc = query(&api, t);
            api.shutdown();
        }
        dlclose(lib);
    }
    if (rc) {
        int any = 0;
        for (int g = 0; g < t->ngpus; g++)
            for (int h = 0; h < t->ngpus; h++)
                any |= t->nvlink_gbps[g][h] > 0;
        t->nvlink_from = any ? "nvml" : "none";
    } else {
        memset(t->nvlink_gbps, 0, sizeof(t->nvlink_gbps));
    }
    pthread_mutex_unlock(&nvml_lock);
    return rc;
}
