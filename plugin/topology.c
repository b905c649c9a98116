/* Node topology from hwloc: cores, NVIDIA GPUs and NICs with their PCI paths,
 * and GPU-GPU NVLink bandwidth (hwloc's NVLinkBandwidth distances, or NVML). */
#include <errno.h>
#include <fcntl.h>
#include <hwloc.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "placement.h"

const char *plait_link_name(enum plait_link l)
{
    static const char *names[PLAIT_LINK_COUNT] = {
        "self",   "nvlink",       "pcie-switch", "host-bridge",
        "socket", "inter-socket", "network",     "spine",
    };
    return (unsigned)l < PLAIT_LINK_COUNT ? names[l] : "?";
}

enum plait_link plait_pci_link(const struct plait_pci *a, const struct plait_pci *b)
{
    if (!strcmp(a->busid, b->busid))
        return PLAIT_LINK_SELF;
    int k = 0;
    while (k < a->depth && k < b->depth && a->path[k] == b->path[k])
        k++;
    /* Below a shared root port there is a PCIe switch (or one device). */
    if (k >= 2)
        return PLAIT_LINK_PCIE_SWITCH;
    if (k == 1)
        return PLAIT_LINK_HOST_BRIDGE;
    return a->package == b->package ? PLAIT_LINK_SOCKET : PLAIT_LINK_INTER_SOCKET;
}

static void to_cpus(hwloc_const_bitmap_t set, plait_cpus_t *out)
{
    plait_cpus_zero(out);
    if (!set)
        return;
    int i;
    hwloc_bitmap_foreach_begin(i, set)
    {
        plait_cpus_set(out, i);
    }
    hwloc_bitmap_foreach_end();
}

static int package_of(hwloc_topology_t topo, hwloc_obj_t obj)
{
    hwloc_obj_t anc = hwloc_get_non_io_ancestor_obj(topo, obj);
    if (!anc)
        return -1;
    if (anc->type == HWLOC_OBJ_PACKAGE)
        return (int)anc->logical_index;
    hwloc_obj_t p = hwloc_get_ancestor_obj_by_type(topo, HWLOC_OBJ_PACKAGE, anc);
    if (p)
        return (int)p->logical_index;
    /* Above the packages (a Machine): local to one only if its CPUs are. */
    if (anc->cpuset) {
        hwloc_obj_t inside =
            hwloc_get_next_obj_covering_cpuset_by_type(topo, anc->cpuset, HWLOC_OBJ_PACKAGE, NULL);
        if (inside && hwloc_bitmap_isincluded(anc->cpuset, inside->cpuset))
            return (int)inside->logical_index;
    }
    return -1;
}

static void fill_pci(hwloc_topology_t topo, hwloc_obj_t dev, struct plait_pci *pci)
{
    memset(pci, 0, sizeof(*pci));
    snprintf(pci->busid, sizeof(pci->busid), "%04x:%02x:%02x.%01x", dev->attr->pcidev.domain,
             dev->attr->pcidev.bus, dev->attr->pcidev.dev, dev->attr->pcidev.func);
    uint64_t up[64];
    int n = 0;
    for (hwloc_obj_t p = dev->parent; p && p->type == HWLOC_OBJ_BRIDGE && n < 64; p = p->parent)
        up[n++] = p->gp_index;
    /* Deeper than PLAIT_PCI_DEPTH: keep the top of the tree, which is what
     * tells switches and host bridges apart. */
    pci->depth = n < PLAIT_PCI_DEPTH ? n : PLAIT_PCI_DEPTH;
    for (int i = 0; i < pci->depth; i++)
        pci->path[i] = up[n - 1 - i];
    hwloc_obj_t anc = hwloc_get_non_io_ancestor_obj(topo, dev);
    to_cpus(anc ? anc->cpuset : NULL, &pci->cpus);
    pci->package = package_of(topo, dev);
}

static int busid_cmp(const char *a, const char *b)
{
    return strcmp(a, b); /* fixed-width hex: lexical order is bus order */
}

/* RDMA device names of the common drivers, for XML files whose OS device
 * types hwloc cannot read (hwloc 3 exports a bitmask there). */
static int rdma_name(const char *name)
{
    static const char *prefixes[] = {"mlx", "hfi1_", "qib",   "bnxt_re", "irdma", "efa",
                                     "rxe", "siw",   "ionic", "erdma",   "cxi",   "hns_"};
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
        if (!strncmp(name, prefixes[i], strlen(prefixes[i])))
            return 1;
    return 0;
}

static int rdma_port(hwloc_obj_t osdev)
{
    int first = 0;
    for (unsigned i = 0; i < osdev->infos_count; i++) {
        int port;
        char rest[32];
        if (sscanf(osdev->infos[i].name, "Port%dState%31s", &port, rest) == 1 && port > 0) {
            if (!strcmp(osdev->infos[i].value, "4"))
                return port; /* ACTIVE */
            if (!first || port < first)
                first = port;
        }
    }
    return first ? first : 1;
}

static int is_nic_class(unsigned class_id)
{
    return (class_id >> 8) == 0x02 || class_id == 0x0c06;
}

static void fill_nic(hwloc_topology_t topo, hwloc_obj_t dev, struct plait_nic *nic)
{
    memset(nic, 0, sizeof(*nic));
    fill_pci(topo, dev, &nic->pci);
    for (hwloc_obj_t o = dev->io_first_child; o; o = o->next_sibling) {
        if (o->type != HWLOC_OBJ_OS_DEVICE || !o->name)
            continue;
        if (o->attr->osdev.type == HWLOC_OBJ_OSDEV_OPENFABRICS || rdma_name(o->name)) {
            if (!nic->rdma) {
                snprintf(nic->name, sizeof(nic->name), "%.36s:%d", o->name, rdma_port(o));
                nic->rdma = 1;
            }
        } else if (!nic->netdev[0]) {
            snprintf(nic->netdev, sizeof(nic->netdev), "%.31s", o->name);
        }
    }
    if (!nic->rdma && nic->netdev[0])
        memcpy(nic->name, nic->netdev, sizeof(nic->netdev)); /* both NUL-terminated */
}

static void gpu_model(hwloc_obj_t dev, char *buf, size_t len)
{
    const char *m = NULL;
    for (hwloc_obj_t o = dev->io_first_child; o && !m; o = o->next_sibling)
        m = hwloc_obj_get_info_by_name(o, "GPUModel");
    if (!m)
        m = hwloc_obj_get_info_by_name(dev, "PCIDevice");
    snprintf(buf, len, "%s", m ? m : "NVIDIA GPU");
}

static int find_gpu(const plait_topology_t *t, const char *busid)
{
    for (int i = 0; i < t->ngpus; i++)
        if (!strcmp(t->gpu[i].pci.busid, busid))
            return i;
    return -1;
}

/* GPU index of a distance-matrix endpoint: the GPU's PCI device or one of its
 * OS devices. -2: a CPU-side endpoint (package, NUMA node), -1: anything else
 * (an NVSwitch). */
static int endpoint_gpu(const plait_topology_t *t, hwloc_obj_t o)
{
    if (o->type == HWLOC_OBJ_OS_DEVICE && o->parent && o->parent->type == HWLOC_OBJ_PCI_DEVICE)
        o = o->parent;
    if (o->type == HWLOC_OBJ_PCI_DEVICE) {
        char busid[16];
        snprintf(busid, sizeof(busid), "%04x:%02x:%02x.%01x", o->attr->pcidev.domain,
                 o->attr->pcidev.bus, o->attr->pcidev.dev, o->attr->pcidev.func);
        return find_gpu(t, busid);
    }
    if (o->type == HWLOC_OBJ_OS_DEVICE || o->type == HWLOC_OBJ_MISC || o->type == HWLOC_OBJ_BRIDGE)
        return -1;
    return -2;
}

static void nvlink_from_hwloc(hwloc_topology_t topo, plait_topology_t *t)
{
    unsigned nr = 4;
    struct hwloc_distances_s *d[4];
    if (hwloc_distances_get_by_name(topo, "NVLinkBandwidth", &nr, d, 0) != 0)
        return;
    if (nr > 4)
        nr = 4;
    int found = 0;
    for (unsigned k = 0; k < nr; k++) {
        unsigned n = d[k]->nbobjs;
        int *g = calloc(n, sizeof(int));
        if (!g)
            continue;
        for (unsigned i = 0; i < n; i++)
            g[i] = endpoint_gpu(t, d[k]->objs[i]);
        for (unsigned i = 0; i < n; i++) {
            if (g[i] < 0)
                continue;
            for (unsigned j = 0; j < n; j++) {
                if (i == j || g[j] == g[i])
                    continue;
                double mbps = (double)d[k]->values[i * n + j];
                if (g[j] >= 0 && mbps > 0) {
                    t->nvlink_gbps[g[i]][g[j]] += mbps / 1000.0;
                    found = 1;
                } else if (g[j] == -1 && mbps > 0) {
                    /* Through a switch: GPU i -> switch j -> every GPU m. */
                    for (unsigned m = 0; m < n; m++) {
                        if (g[m] < 0 || g[m] == g[i])
                            continue;
                        double back = (double)d[k]->values[j * n + m];
                        double bw = mbps < back ? mbps : back;
                        if (bw > 0) {
                            t->nvlink_gbps[g[i]][g[m]] += bw / 1000.0;
                            found = 1;
                        }
                    }
                }
            }
        }
        free(g);
        hwloc_distances_release(topo, d[k]);
    }
    if (found)
        t->nvlink_from = "hwloc";
}

static int build(hwloc_topology_t topo, const char *name, int use_nvml, plait_topology_t **out,
                 char *err, size_t errlen)
{
    plait_topology_t *t = calloc(1, sizeof(*t));
    if (!t) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    memcpy(t->source, name, strnlen(name, sizeof(t->source) - 1));
    t->nvlink_from = "none";
    t->npackages = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PACKAGE);

    hwloc_obj_type_t ctype =
        hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE) > 0 ? HWLOC_OBJ_CORE : HWLOC_OBJ_PU;
    int ncores = hwloc_get_nbobjs_by_type(topo, ctype);
    if (ncores <= 0) {
        snprintf(err, errlen, "no cores in the topology");
        free(t);
        return -1;
    }
    t->cores = calloc((size_t)ncores, sizeof(*t->cores));
    if (!t->cores) {
        snprintf(err, errlen, "out of memory");
        free(t);
        return -1;
    }
    for (int i = 0; i < ncores; i++) {
        hwloc_obj_t c = hwloc_get_obj_by_type(topo, ctype, (unsigned)i);
        struct plait_core *core = &t->cores[t->ncores];
        hwloc_obj_t p = hwloc_get_ancestor_obj_by_type(topo, HWLOC_OBJ_PACKAGE, c);
        core->package = p ? (int)p->logical_index : -1;
        int pu;
        hwloc_bitmap_foreach_begin(pu, c->cpuset)
        {
            if (core->npus < PLAIT_MAX_PU_PER_CORE && pu < PLAIT_MAX_CPUS)
                core->pu[core->npus++] = pu;
        }
        hwloc_bitmap_foreach_end();
        if (core->npus)
            t->ncores++;
    }

    for (hwloc_obj_t dev = hwloc_get_next_pcidev(topo, NULL); dev;
         dev = hwloc_get_next_pcidev(topo, dev)) {
        unsigned cls = dev->attr->pcidev.class_id;
        if (dev->attr->pcidev.vendor_id == 0x10de && (cls >> 8) == 0x03) {
            if (t->ngpus == PLAIT_MAX_GPUS)
                continue;
            struct plait_gpu *g = &t->gpu[t->ngpus++];
            fill_pci(topo, dev, &g->pci);
            gpu_model(dev, g->model, sizeof(g->model));
        } else if (is_nic_class(cls) && t->nnics < PLAIT_MAX_NICS) {
            struct plait_nic *n = &t->nic[t->nnics];
            fill_nic(topo, dev, n);
            if (n->name[0])
                t->nnics++;
        }
    }
    /* Bus order, as CUDA_DEVICE_ORDER=PCI_BUS_ID and Slurm number GPUs. */
    for (int i = 1; i < t->ngpus; i++)
        for (int j = i; j > 0 && busid_cmp(t->gpu[j - 1].pci.busid, t->gpu[j].pci.busid) > 0; j--) {
            struct plait_gpu tmp = t->gpu[j];
            t->gpu[j] = t->gpu[j - 1];
            t->gpu[j - 1] = tmp;
        }
    for (int i = 1; i < t->nnics; i++)
        for (int j = i; j > 0 && busid_cmp(t->nic[j - 1].pci.busid, t->nic[j].pci.busid) > 0; j--) {
            struct plait_nic tmp = t->nic[j];
            t->nic[j] = t->nic[j - 1];
            t->nic[j - 1] = tmp;
        }

    nvlink_from_hwloc(topo, t);
    if (use_nvml && !strcmp(t->nvlink_from, "none"))
        plait_nvml_nvlink(t);
    plait_topology_finish(t);
    *out = t;
    return 0;
}

void plait_topology_finish(plait_topology_t *t)
{
    for (int i = 0; i < t->ngpus; i++) {
        for (int j = 0; j < t->ngpus; j++) {
            enum plait_link l = i == j ? PLAIT_LINK_SELF
                                : t->nvlink_gbps[i][j] > 0 && t->nvlink_gbps[j][i] > 0
                                    ? PLAIT_LINK_NVLINK
                                    : plait_pci_link(&t->gpu[i].pci, &t->gpu[j].pci);
            t->gpu_link[i][j] = (unsigned char)l;
        }
        for (int n = 0; n < t->nnics; n++)
            t->gpu_nic_link[i][n] = (unsigned char)plait_pci_link(&t->gpu[i].pci, &t->nic[n].pci);
    }
    /* Each GPU's NIC: the closest; among equals the least used so far, then
     * an RDMA one, then bus order. With two GPUs and two NICs behind one
     * switch, each GPU gets its own. */
    int load[PLAIT_MAX_NICS] = {0};
    for (int i = 0; i < t->ngpus; i++) {
        int best = -1;
        for (int n = 0; n < t->nnics; n++) {
            if (best < 0) {
                best = n;
                continue;
            }
            int ln = t->gpu_nic_link[i][n], lb = t->gpu_nic_link[i][best];
            if (ln != lb) {
                if (ln < lb)
                    best = n;
                continue;
            }
            if (load[n] != load[best]) {
                if (load[n] < load[best])
                    best = n;
                continue;
            }
            if (t->nic[n].rdma > t->nic[best].rdma)
                best = n;
        }
        t->gpu[i].nic = best;
        if (best >= 0)
            load[best]++;
    }
}

static int load_common(hwloc_topology_t topo, const char *name, int use_nvml,
                       plait_topology_t **out, char *err, size_t errlen)
{
    if (hwloc_topology_load(topo) != 0) {
        snprintf(err, errlen, "hwloc cannot load it (%s)", strerror(errno));
        return -1;
    }
    return build(topo, name, use_nvml, out, err, errlen);
}

static hwloc_topology_t new_topology(char *err, size_t errlen)
{
    hwloc_topology_t topo;
    if (hwloc_topology_init(&topo) != 0) {
        snprintf(err, errlen, "hwloc_topology_init failed");
        return NULL;
    }
    /* The whole node whatever the caller's cgroup allows: every node and
     * every task must compute the same mapping. */
    hwloc_topology_set_flags(topo, HWLOC_TOPOLOGY_FLAG_INCLUDE_DISALLOWED);
    hwloc_topology_set_io_types_filter(topo, HWLOC_TYPE_FILTER_KEEP_ALL);
    return topo;
}

/* Seconds hwloc may take over one file: milliseconds for real ones. */
#define CANONICAL_TIMEOUT_S 10
/* CPU and NUMA node numbers no machine reaches: hwloc 2.9 numbers a PU or
 * NUMA node without os_index 2^32 - 1, takes a mangled set as one that
 * large, and exports it (half a gigabyte of text, seconds). */
#define CANONICAL_MAX_CPU (1 << 20)
/* The child's exit status for such a file. */
#define CANONICAL_CPU_TOO_LARGE 2

/* Whether a finite set names a CPU or NUMA node of CANONICAL_MAX_CPU or
 * more (hwloc_bitmap_last's int is negative from 2^31 on). */
static int set_too_large(hwloc_const_bitmap_t set)
{
    if (!set || hwloc_bitmap_weight(set) <= 0)
        return 0;
    int last = hwloc_bitmap_last(set);
    return last < 0 || last >= CANONICAL_MAX_CPU;
}

/* Whether any object's sets do: the normal levels and the NUMA nodes (I/O
 * objects have none). */
static int sets_too_large(hwloc_topology_t topo)
{
    int depths = hwloc_topology_get_depth(topo);
    for (int d = -1; d < depths; d++) {
        int depth = d < 0 ? HWLOC_TYPE_DEPTH_NUMANODE : d;
        for (hwloc_obj_t o = NULL; (o = hwloc_get_next_obj_by_depth(topo, depth, o));)
            if (set_too_large(o->cpuset) || set_too_large(o->complete_cpuset) ||
                set_too_large(o->nodeset) || set_too_large(o->complete_nodeset))
                return 1;
    }
    return 0;
}

/* The child of canonical_xml(): hwloc's import, then its export, written
 * to fd as a length and the bytes. Never returns. */
static void canonical_child(int fd, const char *xml, size_t len)
{
    /* The host process's crash handlers (Slurm's, a sanitizer's) must not
     * report the child's crash as its own: it just dies. */
    static const int fatal[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
    for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
        signal(fatal[i], SIG_DFL);
    char err[256];
    hwloc_topology_t topo = new_topology(err, sizeof(err));
    char *out = NULL;
    int olen = 0;
    uint64_t n = 0;
    if (!topo || hwloc_topology_set_xmlbuffer(topo, xml, (int)len + 1) != 0 ||
        hwloc_topology_load(topo) != 0)
        _exit(1);
    if (sets_too_large(topo))
        _exit(CANONICAL_CPU_TOO_LARGE);
    if (hwloc_topology_export_xmlbuffer(topo, &out, &olen, 0) == 0)
        n = (uint64_t)olen;
    int ok = write(fd, &n, sizeof(n)) == (ssize_t)sizeof(n);
    for (size_t done = 0; ok && done < n;) {
        ssize_t w = write(fd, out + done, (size_t)n - done);
        ok = w > 0 || (w < 0 && errno == EINTR);
        done += w > 0 ? (size_t)w : 0;
    }
    _exit(ok ? 0 : 1);
}

/* Reads the child's answer: 0 and *xml (NUL-terminated, hwloc's own
 * export), or -1 when it had none, died or ran past the timeout. */
static int canonical_read(int fd, pid_t pid, char **xml, char *err, size_t errlen)
{
    uint64_t n = 0;
    char *buf = NULL;
    size_t got = 0, want = sizeof(n);
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        int pr = poll(&p, 1, CANONICAL_TIMEOUT_S * 1000);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr == 0) {
            kill(pid, SIGKILL);
            snprintf(err, errlen,
                     "hwloc took over %d s reading it: not a usable hwloc XML topology "
                     "(expected the output of 'lstopo --of xml')",
                     CANONICAL_TIMEOUT_S);
            break;
        }
        char *dst = buf ? buf + got - sizeof(n) : (char *)&n + got;
        ssize_t r = pr < 0 ? -1 : read(fd, dst, want - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
        if (got == sizeof(n) && !buf) {
            if (n == 0 || n > PLAIT_TOPOLOGY_MAX_BYTES * 4ull || !(buf = malloc((size_t)n + 1)))
                break;
            want += (size_t)n;
        }
        if (buf && got == want) {
            buf[n] = '\0';
            *xml = buf;
            return 0;
        }
    }
    free(buf);
    return -1;
}

/* hwloc's XML import trusts its input: hwloc 2.9 dereferences NULL on an
 * object without complete_cpuset (lstopo --input crashes as well). Topology
 * files are written by users and admins, and plait runs inside srun and
 * slurmstepd, so hwloc first reads the file in a child process and exports
 * it again: a crash or hang there refuses the file, and the process itself
 * only ever imports hwloc's own export. */
static int canonical_xml(const char *xml, size_t len, char **canon, char *err, size_t errlen)
{
    int fds[2];
    *canon = NULL;
    err[0] = '\0';
    if (pipe2(fds, O_CLOEXEC) != 0) {
        snprintf(err, errlen, "cannot check it: pipe: %s", strerror(errno));
        return -1;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        canonical_child(fds[1], xml, len);
    }
    close(fds[1]);
    if (pid < 0) {
        snprintf(err, errlen, "cannot check it: fork: %s", strerror(errno));
        close(fds[0]);
        return -1;
    }
    int rc = canonical_read(fds[0], pid, canon, err, errlen);
    close(fds[0]);
    int status = 0;
    pid_t w;
    while ((w = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
        ;
    if (rc == 0 && w == pid && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
        rc = -1;
    if (rc != 0 && !err[0]) {
        if (w == pid && WIFEXITED(status) && WEXITSTATUS(status) == CANONICAL_CPU_TOO_LARGE)
            snprintf(err, errlen,
                     "it has a CPU or NUMA node numbered %d or more (one without os_index, or a "
                     "mangled set?): not a usable hwloc XML topology (expected the output of "
                     "'lstopo --of xml')",
                     CANONICAL_MAX_CPU);
        else if (w == pid && WIFSIGNALED(status))
            snprintf(err, errlen,
                     "hwloc crashed reading it (signal %d): not a valid hwloc XML topology "
                     "(expected the output of 'lstopo --of xml')",
                     WTERMSIG(status));
        else
            snprintf(err, errlen,
                     "not a valid hwloc XML topology (expected the output of "
                     "'lstopo --of xml')");
    }
    if (rc != 0) {
        free(*canon);
        *canon = NULL;
    }
    return rc;
}

int plait_topology_load_buffer(plait_topology_t **out, const char *buf, size_t len,
                               const char *name, char *err, size_t errlen)
{
    *out = NULL;
    if (len > PLAIT_TOPOLOGY_MAX_BYTES) {
        snprintf(err, errlen, "larger than %d MiB", PLAIT_TOPOLOGY_MAX_BYTES >> 20);
        return -1;
    }
    if (len < 16 || !memmem(buf, len < 4096 ? len : 4096, "<topology", 9)) {
        snprintf(err, errlen,
                 "not an hwloc XML topology (expected the output of "
                 "'lstopo --of xml')");
        return -1;
    }
    /* hwloc wants a NUL-terminated buffer and its length including the NUL. */
    char *copy = malloc(len + 1);
    if (!copy) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    memcpy(copy, buf, len);
    copy[len] = '\0';
    char *canon;
    if (canonical_xml(copy, len, &canon, err, errlen)) {
        free(copy);
        return -1;
    }
    free(copy);
    copy = canon;
    len = strlen(canon);
    hwloc_topology_t topo = new_topology(err, errlen);
    int rc = -1;
    if (topo) {
        if (hwloc_topology_set_xmlbuffer(topo, copy, (int)len + 1) != 0)
            snprintf(err, errlen,
                     "not an hwloc XML topology (expected the output of "
                     "'lstopo --of xml')");
        else
            rc = load_common(topo, name, 0, out, err, errlen);
        hwloc_topology_destroy(topo);
    }
    free(copy);
    if (rc && strstr(err, "hwloc cannot load"))
        snprintf(err, errlen,
                 "not a valid hwloc XML topology (expected the output of "
                 "'lstopo --of xml')");
    return rc;
}

int plait_read_file(const char *path, size_t max, char **data, size_t *len, char *err,
                    size_t errlen)
{
    *data = NULL;
    *len = 0;
    /* O_NONBLOCK: a FIFO must not hang us; O_NOCTTY: nor take a terminal. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open it: %s", strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "not a regular file");
        close(fd);
        return -1;
    }
    if ((unsigned long long)st.st_size > max) {
        snprintf(err, errlen, "larger than %zu bytes", max);
        close(fd);
        return -1;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        snprintf(err, errlen, "out of memory");
        close(fd);
        return -1;
    }
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(err, errlen, "cannot read it: %s", strerror(errno));
            free(buf);
            close(fd);
            return -1;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    buf[got] = '\0';
    *data = buf;
    *len = got;
    return 0;
}

int plait_topology_load_file(plait_topology_t **out, const char *path, char *err, size_t errlen)
{
    char *data;
    size_t len;
    *out = NULL;
    if (plait_read_file(path, PLAIT_TOPOLOGY_MAX_BYTES, &data, &len, err, errlen))
        return -1;
    int rc = plait_topology_load_buffer(out, data, len, path, err, errlen);
    free(data);
    return rc;
}

int plait_topology_load_live(plait_topology_t **out, int use_nvml, char *err, size_t errlen)
{
    *out = NULL;
    hwloc_topology_t topo = new_topology(err, errlen);
    if (!topo)
        return -1;
    int rc = load_common(topo, "this node (hwloc)", use_nvml, out, err, errlen);
    hwloc_topology_destroy(topo);
    return rc;
}

void plait_topology_free(plait_topology_t *t)
{
    if (!t)
        return;
    free(t->cores);
    free(t);
}
