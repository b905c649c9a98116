/* A stand-in libnvidia-ml.so.1 for test_nvml: the few NVML calls plait makes,
 * answering as FAKE_NVML_MODE says: "switch" (every GPU 4 links of NVLink 4
 * to each of 2 NVSwitches), "pairs" (GPUs 0-1 and 2-3 joined by 2 links of
 * NVLink 3, the others NOT_SUPPORTED), "unsupported" (every link query
 * NOT_SUPPORTED), "noinit" (nvmlInit fails). GPUs are the bus ids in
 * FAKE_NVML_GPUS ("0000:1b:00.0,0000:1c:00.0,..."). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char busIdLegacy[16];
    unsigned int domain, bus, device, pciDeviceId, pciSubSystemId;
    char busId[32];
} pci_t;

#define OK            0
#define NOT_SUPPORTED 3
#define NOT_FOUND     6

static const char *mode(void)
{
    const char *m = getenv("FAKE_NVML_MODE");
    return m ? m : "unsupported";
}

static int gpu_index(const char *busid)
{
    const char *list = getenv("FAKE_NVML_GPUS");
    int i = 0;
    for (const char *p = list; p && *p; i++) {
        if (!strncmp(p, busid, 12))
            return i;
        p = strchr(p, ',');
        p = p ? p + 1 : NULL;
    }
    return -1;
}

static void gpu_busid(int i, unsigned *bus, unsigned *dev)
{
    const char *p = getenv("FAKE_NVML_GPUS");
    for (int k = 0; k < i && p; k++) {
        p = strchr(p, ',');
        p = p ? p + 1 : NULL;
    }
    unsigned dom, fn;
    if (!p || sscanf(p, "%x:%x:%x.%x", &dom, bus, dev, &fn) != 4)
        *bus = *dev = 0;
}

int nvmlInit_v2(void)
{
    return strcmp(mode(), "noinit") ? OK : 999;
}

int nvmlShutdown(void)
{
    return OK;
}

int nvmlDeviceGetHandleByPciBusId_v2(const char *busid, void **dev)
{
    int i = gpu_index(busid);
    if (i < 0)
        return NOT_FOUND;
    *dev = (void *)(long)(i + 1);
    return OK;
}

int nvmlDeviceGetNvLinkState(void *dev, unsigned link, int *active)
{
    int g = (int)(long)dev - 1;
    if (!strcmp(mode(), "switch")) {
        *active = link < 8;
        return OK;
    }
    if (!strcmp(mode(), "pairs") && g < 4 && link < 2) {
        *active = 1;
        return OK;
    }
    return NOT_SUPPORTED;
}

int nvmlDeviceGetNvLinkVersion(void *dev, unsigned link, unsigned *version)
{
    (void)dev;
    (void)link;
    *version = !strcmp(mode(), "switch") ? 4 : 3;
    return OK;
}

int nvmlDeviceGetNvLinkRemotePciInfo_v2(void *dev, unsigned link, pci_t *pci)
{
    int g = (int)(long)dev - 1;
    memset(pci, 0, sizeof(*pci));
    if (!strcmp(mode(), "switch")) {
        pci->bus = 0xc2 + link / 4; /* links 0-3: switch c2, 4-7: switch c3 */
        return OK;
    }
    gpu_busid(g ^ 1, &pci->bus, &pci->device);
    return OK;
}
