/* plait-topo: shows the placement plait.so would compute for a job.
 *
 *   plait-topo [--topology FILE] --nodes N --layout dp=..,tp=..,pp=..
 *              [--placement topo|block] [--tasks-per-node N] [--gpus-per-node N]
 *              [--config FILE] [--json] [--svg FILE]
 *   plait-topo --check-config FILE
 *
 * See plait-topo(1). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "placement.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: plait-topo [--topology FILE] [--nodes N] --layout dp=D,tp=T,pp=P\n"
               "                  [--placement topo|block] [--tasks-per-node N]\n"
               "                  [--gpus-per-node N] [--leaf-nodes K]\n"
               "                  [--slurm-topology FILE --nodelist LIST] [--config FILE]\n"
               "                  [--json] [--svg FILE]\n"
               "       plait-topo --check-config FILE\n");
}

static int die(const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "plait-topo: ");
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
    return 2;
}

static long whole(const char *s, long max)
{
    char *end;
    errno = 0;
    long v = s && *s >= '0' && *s <= '9' ? strtol(s, &end, 10) : -1;
    if (v < 0 || errno || *end || v > max)
        return -1;
    return v;
}

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fprintf(f, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            fprintf(f, "\\u%04x", *s);
        else
            fputc(*s, f);
    }
    fputc('"', f);
}

static void print_json(FILE *f, const plait_topology_t *t, const plait_task_t *tasks, int world,
                       int tpn, const plait_layout_t *l)
{
    char cpus[PLAIT_MAX_CPUS * 6];
    fprintf(f, "[\n");
    for (int r = 0; r < world; r++) {
        const plait_task_t *k = &tasks[r];
        plait_cpus_format(&k->cpus, cpus, sizeof(cpus));
        fprintf(f, "  {\"rank\": %d, \"node\": %d, \"local_rank\": %d, \"gpu\": ", k->rank, r / tpn,
                k->local_rank);
        if (k->gpu >= 0) {
            fprintf(f, "%d, \"gpu_busid\": ", k->gpu);
            json_string(f, t->gpu[k->gpu].pci.busid);
        } else {
            fprintf(f, "null, \"gpu_busid\": null");
        }
        fprintf(f, ", \"dp\": %d, \"tp\": %d, \"pp\": %d, \"tp_group\": %d, \"cpus\": ", k->dp,
                k->tp, k->pp, k->rank / l->tp);
        json_string(f, cpus);
        fprintf(f, ", \"nic\": ");
        if (k->nic >= 0)
            json_string(f, t->nic[k->nic].name);
        else
            fprintf(f, "null");
        fprintf(f, "}%s\n", r + 1 < world ? "," : "");
    }
    fprintf(f, "]\n");
}

static void print_text(FILE *f, const plait_topology_t *t, const plait_task_t *tasks, int nnodes,
                       int tpn, const plait_layout_t *l, char **names, const int *leaf)
{
    char cpus[PLAIT_MAX_CPUS * 6];
    for (int node = 0; node < nnodes; node++) {
        fprintf(f, "node %d", node);
        if (names)
            fprintf(f, " (%s)", names[node]);
        if (leaf)
            fprintf(f, ", leaf switch %d", leaf[node]);
        fputc('\n', f);
        fprintf(f, "  %-4s %-13s %5s  %-14s %-9s %-18s %s\n", "gpu", "bus id", "rank", "dp,tp,pp",
                "tp group", "cpus", "nic");
        /* By GPU, the way one looks at a node; tasks without GPUs by rank. */
        for (int pass = 0; pass < 2; pass++)
            for (int g = pass ? -1 : 0; pass ? g == -1 : g < t->ngpus; g++)
                for (int i = 0; i < tpn; i++) {
                    const plait_task_t *k = &tasks[node * tpn + i];
                    if (k->gpu != g)
                        continue;
                    char coords[48], gpu[8];
                    snprintf(coords, sizeof(coords), "%d,%d,%d", k->dp, k->tp, k->pp);
                    snprintf(gpu, sizeof(gpu), "%d", k->gpu);
                    plait_cpus_format(&k->cpus, cpus, sizeof(cpus));
                    fprintf(f, "  %-4s %-13s %5d  %-14s %-9d %-18s %s\n", g >= 0 ? gpu : "-",
                            g >= 0 ? t->gpu[g].pci.busid : "-", k->rank, coords, k->rank / l->tp,
                            cpus[0] ? cpus : "-", k->nic >= 0 ? t->nic[k->nic].name : "-");
                }
    }
}

static void xml_text(FILE *f, const char *s)
{
    for (; *s; s++)
        fputs(*s == '&' ? "&amp;" : *s == '<' ? "&lt;" : *s == '>' ? "&gt;" : (char[]){*s, 0}, f);
}

/* One row per node (at most 64), GPUs grouped by package; a tensor-parallel
 * group has one colour. */
static int write_svg(const char *path, const plait_topology_t *t, const plait_task_t *tasks,
                     int nnodes, int tpn, const plait_layout_t *l, double cost, double block)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    int shown = nnodes < 64 ? nnodes : 64;
    int per_row = t->ngpus > 0 ? t->ngpus : tpn;
    int box = 110, gap = 8, pkg_gap = 24;
    int npk = t->npackages > 0 ? t->npackages : 1;
    int width = 40 + per_row * (box + gap) + npk * pkg_gap + 40;
    int row = box + 50;
    int height = 70 + shown * row + 20;
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "font-family=\"sans-serif\" font-size=\"11\">\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
            width, height);
    fprintf(f, "<text x=\"20\" y=\"24\" font-size=\"14\">");
    xml_text(f, t->source);
    fprintf(f,
            ": %d node(s), dp=%d tp=%d pp=%d</text>\n"
            "<text x=\"20\" y=\"44\">modelled cost per step: %.1f ms (block placement: %.1f "
            "ms)%s</text>\n",
            nnodes, l->dp, l->tp, l->pp, cost * 1e3, block * 1e3,
            shown < nnodes ? "; first 64 nodes shown" : "");
    for (int node = 0; node < shown; node++) {
        int y = 60 + node * row;
        fprintf(f, "<text x=\"20\" y=\"%d\">node %d</text>\n", y + 14, node);
        int x = 40, prev_pkg = -2;
        /* GPUs in bus order, a gap between packages; idle GPUs grey; then
         * tasks without a GPU. */
        for (int slot = 0; slot < t->ngpus + tpn; slot++) {
            const plait_task_t *k = NULL;
            int g = slot < t->ngpus ? slot : -1;
            if (g < 0 && slot - t->ngpus < tpn && tasks[node * tpn + slot - t->ngpus].gpu < 0)
                k = &tasks[node * tpn + slot - t->ngpus];
            for (int i = 0; g >= 0 && i < tpn; i++)
                if (tasks[node * tpn + i].gpu == g)
                    k = &tasks[node * tpn + i];
            if (g < 0 && !k)
                continue;
            int pkg = g >= 0 ? t->gpu[g].pci.package : -1;
            if (prev_pkg != -2 && pkg != prev_pkg)
                x += pkg_gap;
            prev_pkg = pkg;
            int hue = k ? (k->rank / l->tp) * 67 % 360 : 0;
            fprintf(f,
                    "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" rx=\"6\" "
                    "fill=\"%s\" stroke=\"#333\"/>\n",
                    x, y + 22, box, box - 10, "white");
            if (k)
                fprintf(f,
                        "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" rx=\"6\" "
                        "fill=\"hsl(%d,60%%,80%%)\" stroke=\"#333\"/>\n",
                        x, y + 22, box, box - 10, hue);
            fprintf(f, "<text x=\"%d\" y=\"%d\">GPU %s%s</text>\n", x + 6, y + 40,
                    g >= 0 ? t->gpu[g].pci.busid + 5 : "-", k ? "" : " (idle)");
            if (k) {
                fprintf(f, "<text x=\"%d\" y=\"%d\">rank %d</text>\n", x + 6, y + 56, k->rank);
                fprintf(f, "<text x=\"%d\" y=\"%d\">dp %d tp %d pp %d</text>\n", x + 6, y + 72,
                        k->dp, k->tp, k->pp);
                fprintf(f, "<text x=\"%d\" y=\"%d\">%s</text>\n", x + 6, y + 88,
                        k->nic >= 0 ? t->nic[k->nic].name : "");
            }
            x += box + gap;
        }
    }
    fprintf(f, "</svg>\n");
    return fclose(f);
}

static int check_config(const char *path)
{
    struct plait_config cfg;
    char err[1024];
    plait_config_init(&cfg);
    if (plait_config_read_file(&cfg, path, err, sizeof(err))) {
        fprintf(stderr, "plait-topo: %s\n", err);
        return 1;
    }
    printf("%s: ok (placement %s, topology %s, bind %s, nvml %s)\n", path,
           plait_placement_name(cfg.placement), cfg.topology[0] ? cfg.topology : "discovered",
           cfg.bind ? "yes" : "no", cfg.nvml ? "yes" : "no");
    return 0;
}

int main(int argc, char **argv)
{
    const char *topo_path = NULL, *layout_text = NULL, *svg = NULL, *config = NULL;
    const char *placement_text = "topo", *slurm_topology = NULL, *nodelist = NULL;
    long nodes = 1, tpn = -1, gpn = -1, leaf_nodes = 0;
    int json = 0;
    static const struct option longopts[] = {
        {"topology", required_argument, NULL, 't'},
        {"nodes", required_argument, NULL, 'N'},
        {"layout", required_argument, NULL, 'l'},
        {"placement", required_argument, NULL, 'p'},
        {"tasks-per-node", required_argument, NULL, 'n'},
        {"gpus-per-node", required_argument, NULL, 'g'},
        {"leaf-nodes", required_argument, NULL, 'L'},
        {"slurm-topology", required_argument, NULL, 'S'},
        {"nodelist", required_argument, NULL, 'w'},
        {"config", required_argument, NULL, 'c'},
        {"check-config", required_argument, NULL, 'C'},
        {"json", no_argument, NULL, 'j'},
        {"svg", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "t:N:l:p:n:g:c:js:h", longopts, NULL)) != -1) {
        switch (ch) {
        case 't':
            topo_path = optarg;
            break;
        case 'N':
            if ((nodes = whole(optarg, 1 << 20)) < 1)
                return die("--nodes=%s: expected a positive integer%s", optarg, "");
            break;
        case 'l':
            layout_text = optarg;
            break;
        case 'p':
            placement_text = optarg;
            break;
        case 'n':
            if ((tpn = whole(optarg, PLAIT_MAX_WORLD)) < 1)
                return die("--tasks-per-node=%s: expected a positive integer%s", optarg, "");
            break;
        case 'g':
            if ((gpn = whole(optarg, PLAIT_MAX_GPUS)) < 0)
                return die("--gpus-per-node=%s: expected 0 to 64%s", optarg, "");
            break;
        case 'L':
            if ((leaf_nodes = whole(optarg, 1 << 20)) < 1)
                return die("--leaf-nodes=%s: expected a positive integer%s", optarg, "");
            break;
        case 'S':
            slurm_topology = optarg;
            break;
        case 'w':
            nodelist = optarg;
            break;
        case 'c':
            config = optarg;
            break;
        case 'C':
            return check_config(optarg);
        case 'j':
            json = 1;
            break;
        case 's':
            svg = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc)
        return die("unexpected argument '%s'%s", argv[optind], "");
    if (!layout_text) {
        usage(stderr);
        return die("--layout is required%s%s", "", "");
    }
    struct plait_config cfg;
    char err[1024];
    plait_config_init(&cfg);
    if (config && plait_config_read_file(&cfg, config, err, sizeof(err)))
        return die("%s%s", err, "");
    /* Leaf switches: from topology.conf and the job's node list. */
    char **names = NULL;
    int nnames = 0, *leaf = NULL;
    if (!slurm_topology && cfg.slurm_topology[0] && nodelist)
        slurm_topology = cfg.slurm_topology;
    if (slurm_topology) {
        plait_leaves_t *leaves;
        if (!nodelist)
            return die("--slurm-topology needs --nodelist (the job's nodes, in Slurm's "
                       "order)%s%s",
                       "", "");
        if (plait_hostlist_expand(nodelist, &names, &nnames, err, sizeof(err)))
            return die("--nodelist=%s: %s", nodelist, err);
        if (plait_leaves_load(&leaves, slurm_topology, err, sizeof(err))) {
            plait_hostlist_free(names, nnames);
            return die("--slurm-topology=%s: %s", slurm_topology, err);
        }
        leaf = malloc(sizeof(int) * (size_t)(nnames ? nnames : 1));
        for (int k = 0; leaf && k < nnames; k++)
            leaf[k] = plait_leaf_of(leaves, names[k]);
        plait_leaves_free(leaves);
        nodes = nnames;
        leaf_nodes = 0;
    }
    enum plait_placement placement;
    if (plait_placement_parse(placement_text, &placement) || placement == PLAIT_PLACE_NONE)
        return die("--placement=%s: expected topo or block%s", placement_text, "");
    plait_layout_t layout;
    if (plait_layout_parse(layout_text, &layout, err, sizeof(err)))
        return die("--layout=%s: %s", layout_text, err);

    plait_topology_t *topo = NULL;
    if (!topo_path && cfg.topology[0])
        topo_path = cfg.topology;
    int lr = topo_path ? plait_topology_load_file(&topo, topo_path, err, sizeof(err))
                       : plait_topology_load_live(&topo, cfg.nvml, err, sizeof(err));
    if (lr)
        return die("--topology=%s: %s", topo_path ? topo_path : "(this machine)", err);

    /* Tasks per node: given, else from a complete layout, else one per GPU. */
    if (tpn < 0) {
        if (layout.dp && layout.tp && layout.pp) {
            long world = (long)layout.dp * layout.tp * layout.pp;
            tpn = world % nodes ? -1 : world / nodes;
        } else if (topo->ngpus > 0) {
            tpn = topo->ngpus;
        }
        if (tpn < 1) {
            plait_topology_free(topo);
            return die("give --tasks-per-node (the layout does not divide into %s nodes%s)",
                       "--nodes", "");
        }
    }
    if (plait_layout_resolve(&layout, nodes * tpn, err, sizeof(err))) {
        plait_topology_free(topo);
        return die("--layout=%s: %s", layout_text, err);
    }
    if (gpn < 0)
        gpn = topo->ngpus;
    if (gpn > topo->ngpus) {
        plait_topology_free(topo);
        return die("--gpus-per-node: the topology has fewer GPUs%s%s", "", "");
    }
    int world = (int)(nodes * tpn);
    if (leaf_nodes > 0) {
        leaf = malloc(sizeof(int) * (size_t)nodes);
        for (long k = 0; leaf && k < nodes; k++)
            leaf[k] = (int)(k / leaf_nodes);
    }
    plait_task_t *tasks = malloc(sizeof(plait_task_t) * (size_t)world);
    plait_task_t *btasks = malloc(sizeof(plait_task_t) * (size_t)world);
    if (!tasks || !btasks || ((leaf_nodes > 0 || slurm_topology) && !leaf)) {
        plait_topology_free(topo);
        return die("out of memory%s%s", "", "");
    }
    plait_job_t job = {
        .topo = topo,
        .layout = layout,
        .nnodes = (int)nodes,
        .tasks_per_node = (int)tpn,
        .ngpus = (int)gpn,
        .cost = &cfg.cost,
        .placement = placement,
        .leaf_of_node = leaf,
    };
    double cost, block;
    int rc = 0;
    if (plait_place_job(&job, tasks, &cost, err, sizeof(err))) {
        rc = die("%s%s", err, "");
        goto out;
    }
    job.placement = PLAIT_PLACE_BLOCK;
    if (plait_place_job(&job, btasks, &block, err, sizeof(err))) {
        rc = die("%s%s", err, "");
        goto out;
    }
    char lay[64];
    plait_layout_format(&layout, lay, sizeof(lay));
    FILE *summary = json ? stderr : stdout;
    if (json)
        print_json(stdout, topo, tasks, world, (int)tpn, &layout);
    else {
        fprintf(stdout, "%s: %ld node(s) x %ld tasks, %s, placement %s, NVLink from %s\n",
                topo->source, nodes, tpn, lay, plait_placement_name(placement), topo->nvlink_from);
        print_text(stdout, topo, tasks, (int)nodes, (int)tpn, &layout, names, leaf);
    }
    fprintf(summary, "modelled communication cost per step: %s %.3f ms, block %.3f ms",
            plait_placement_name(placement), cost * 1e3, block * 1e3);
    if (placement == PLAIT_PLACE_TOPO && block > 0)
        fprintf(summary, " (topo %.1f%% lower)", 100.0 * (block - cost) / block);
    fprintf(summary, "\n");
    if (svg && write_svg(svg, topo, tasks, (int)nodes, (int)tpn, &layout, cost, block)) {
        rc = die("--svg=%s: cannot write it: %s", svg, strerror(errno));
        goto out;
    }
out:
    free(tasks);
    free(btasks);
    free(leaf);
    plait_hostlist_free(names, nnames);
    plait_topology_free(topo);
    return rc;
}
