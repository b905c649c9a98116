/* Admin defaults from plugstack.conf arguments and a libconfig file. */
#include <errno.h>
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#define TOP_KEYS "placement, topology, bind, nvml, slurm_topology, cost"
#define COST_KEYS                                                                                  \
    "nvlink_gbps, pcie_switch_gbps, host_bridge_gbps, socket_gbps, inter_socket_gbps, "            \
    "network_gbps, spine_gbps, tp_bytes, pp_bytes, dp_bytes"

void plait_config_init(struct plait_config *c)
{
    memset(c, 0, sizeof(*c));
    c->placement = PLAIT_PLACE_TOPO;
    c->bind = 1;
    c->nvml = 1;
    plait_cost_default(&c->cost);
}

struct cost_key {
    const char *name;
    int link; /* index in gbps[], or -1..-3 for tp, pp, dp bytes */
};

static const struct cost_key cost_keys[] = {
    {"nvlink_gbps", PLAIT_LINK_NVLINK},
    {"pcie_switch_gbps", PLAIT_LINK_PCIE_SWITCH},
    {"host_bridge_gbps", PLAIT_LINK_HOST_BRIDGE},
    {"socket_gbps", PLAIT_LINK_SOCKET},
    {"inter_socket_gbps", PLAIT_LINK_INTER_SOCKET},
    {"network_gbps", PLAIT_LINK_NETWORK},
    {"spine_gbps", PLAIT_LINK_SPINE},
    {"tp_bytes", -1},
    {"pp_bytes", -2},
    {"dp_bytes", -3},
};

static double *cost_slot(struct plait_config *c, const char *name, int *is_bytes)
{
    for (size_t i = 0; i < sizeof(cost_keys) / sizeof(cost_keys[0]); i++) {
        if (strcmp(cost_keys[i].name, name))
            continue;
        int l = cost_keys[i].link;
        *is_bytes = l < 0;
        return l == -1   ? &c->cost.tp_bytes
               : l == -2 ? &c->cost.pp_bytes
               : l == -3 ? &c->cost.dp_bytes
                         : &c->cost.gbps[l];
    }
    return NULL;
}

static int cost_value_ok(double v, int is_bytes)
{
    return is_bytes ? (v >= 0 && v < 1e18) : (v > 0 && v < 1e9);
}

static int parse_bool(const char *s, int *out)
{
    if (!strcmp(s, "yes") || !strcmp(s, "true") || !strcmp(s, "1"))
        *out = 1;
    else if (!strcmp(s, "no") || !strcmp(s, "false") || !strcmp(s, "0"))
        *out = 0;
    else
        return -1;
    return 0;
}

const char *plait_printable(const char *s, char *buf, size_t len)
{
    size_t i = 0;
    for (; s[i] && i + 1 < len; i++)
        buf[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
    buf[i] = '\0';
    return buf;
}

static int set_path(char *dst, const char *value)
{
    size_t n = strlen(value);
    if (n >= PLAIT_PATH_MAX)
        return -1;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)value[i] < 0x20)
            return -1;
    memcpy(dst, value, n + 1);
    return 0;
}

/* ---- The file ---------------------------------------------------------- */

static int where(char *err, size_t errlen, const config_setting_t *s, const char *path)
{
    const char *file = config_setting_source_file(s);
    return snprintf(err, errlen, "%s:%d: ", file ? file : path, config_setting_source_line(s));
}

#define FAIL(s, ...)                                                                               \
    do {                                                                                           \
        int at_ = where(err, errlen, (s), path);                                                   \
        if (at_ >= 0 && (size_t)at_ < errlen)                                                      \
            snprintf(err + at_, errlen - (size_t)at_, __VA_ARGS__);                                \
        return -1;                                                                                 \
    } while (0)

static int read_string(const config_setting_t *s, const char *path, const char *key,
                       const char **out, char *err, size_t errlen)
{
    if (config_setting_type(s) != CONFIG_TYPE_STRING)
        FAIL(s, "'%s' must be a string in double quotes", key);
    *out = config_setting_get_string(s);
    return 0;
}

static int read_cost(struct plait_config *c, const config_setting_t *group, const char *path,
                     char *err, size_t errlen)
{
    if (!config_setting_is_group(group))
        FAIL(group, "'cost' must be a group: cost = { network_gbps = 25.0; ... };");
    for (int i = 0; i < config_setting_length(group); i++) {
        const config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
        const char *name = config_setting_name(s);
        int is_bytes;
        double *slot = cost_slot(c, name ? name : "", &is_bytes);
        if (!slot)
            FAIL(s, "unknown key 'cost.%s' (expected one of %s)", name ? name : "?", COST_KEYS);
        int t = config_setting_type(s);
        if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64 && t != CONFIG_TYPE_FLOAT)
            FAIL(s, "'cost.%s' must be a number", name);
        double v = t == CONFIG_TYPE_FLOAT ? config_setting_get_float(s)
                                          : (double)config_setting_get_int64(s);
        if (!cost_value_ok(v, is_bytes))
            FAIL(s, "'cost.%s' = %g is out of range (expected %s)", name, v,
                 is_bytes ? "bytes >= 0" : "GB/s > 0");
        *slot = v;
    }
    return 0;
}

int plait_config_read_file(struct plait_config *c, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        snprintf(err, errlen, "config file %s: cannot open it: %s", path, strerror(errno));
        return -1;
    }
    config_t cfg;
    config_init(&cfg);
    int ok = config_read(&cfg, f);
    fclose(f);
    int rc = -1;
    if (ok != CONFIG_TRUE) {
        snprintf(err, errlen, "%s:%d: %s", path, config_error_line(&cfg), config_error_text(&cfg));
        goto out;
    }
    const config_setting_t *root = config_root_setting(&cfg);
    for (int i = 0; i < config_setting_length(root); i++) {
        const config_setting_t *s = config_setting_get_elem(root, (unsigned)i);
        const char *name = config_setting_name(s);
        const char *str;
        char shown[256];
        if (!name)
            continue;
#undef FAIL
#define FAIL(s, ...)                                                                               \
    do {                                                                                           \
        int at_ = where(err, errlen, (s), path);                                                   \
        if (at_ >= 0 && (size_t)at_ < errlen)                                                      \
            snprintf(err + at_, errlen - (size_t)at_, __VA_ARGS__);                                \
        goto out;                                                                                  \
    } while (0)
        if (!strcmp(name, "placement")) {
            if (read_string(s, path, name, &str, err, errlen))
                goto out;
            if (plait_placement_parse(str, &c->placement))
                FAIL(s, "placement = \"%s\" (expected \"topo\", \"block\" or \"none\")",
                     plait_printable(str, shown, sizeof(shown)));
        } else if (!strcmp(name, "topology") || !strcmp(name, "slurm_topology")) {
            if (read_string(s, path, name, &str, err, errlen))
                goto out;
            if (set_path(!strcmp(name, "topology") ? c->topology : c->slurm_topology, str))
                FAIL(s, "%s = \"%s\" is not a usable path", name,
                     plait_printable(str, shown, sizeof(shown)));
        } else if (!strcmp(name, "bind") || !strcmp(name, "nvml")) {
            if (config_setting_type(s) != CONFIG_TYPE_BOOL)
                FAIL(s, "'%s' must be true or false", name);
            *(!strcmp(name, "bind") ? &c->bind : &c->nvml) = config_setting_get_bool(s);
        } else if (!strcmp(name, "cost")) {
            if (read_cost(c, s, path, err, errlen))
                goto out;
        } else {
            FAIL(s, "unknown key '%s' (expected one of %s)", name, TOP_KEYS);
        }
    }
    rc = 0;
out:
    config_destroy(&cfg);
    return rc;
}

/* ---- plugstack.conf arguments ------------------------------------------ */

static int apply_arg(struct plait_config *c, const char *arg, char *err, size_t errlen)
{
    const char *eq = strchr(arg, '=');
    if (!eq) {
        snprintf(err, errlen, "plugstack.conf argument '%s': expected key=value", arg);
        return -1;
    }
    size_t klen = (size_t)(eq - arg);
    const char *v = eq + 1;
#define KEY(k) (klen == strlen(k) && !strncmp(arg, k, klen))
    if (KEY("config")) {
        return 0; /* read first, by plait_config_load */
    } else if (KEY("placement")) {
        if (plait_placement_parse(v, &c->placement)) {
            snprintf(err, errlen,
                     "plugstack.conf argument '%s': expected placement=topo, block or none", arg);
            return -1;
        }
    } else if (KEY("topology") || KEY("slurm_topology")) {
        if (set_path(KEY("topology") ? c->topology : c->slurm_topology, v)) {
            snprintf(err, errlen, "plugstack.conf argument '%s': not a usable path", arg);
            return -1;
        }
    } else if (KEY("bind") || KEY("nvml")) {
        if (parse_bool(v, KEY("bind") ? &c->bind : &c->nvml)) {
            snprintf(err, errlen, "plugstack.conf argument '%s': expected yes or no", arg);
            return -1;
        }
    } else if (klen > 5 && !strncmp(arg, "cost.", 5)) {
        char name[64];
        int is_bytes;
        snprintf(name, sizeof(name), "%.*s", (int)(klen - 5), arg + 5);
        double *slot = cost_slot(c, name, &is_bytes);
        char *end;
        errno = 0;
        double d = strtod(v, &end);
        if (!slot) {
            snprintf(err, errlen,
                     "plugstack.conf argument '%s': unknown key (expected cost.KEY "
                     "with KEY one of %s)",
                     arg, COST_KEYS);
            return -1;
        }
        if (end == v || *end || errno || !cost_value_ok(d, is_bytes)) {
            snprintf(err, errlen, "plugstack.conf argument '%s': expected %s", arg,
                     is_bytes ? "bytes >= 0" : "GB/s > 0");
            return -1;
        }
        *slot = d;
    } else {
        snprintf(err, errlen,
                 "plugstack.conf argument '%s': unknown key (expected one of "
                 "config, placement, topology, bind, nvml, slurm_topology, cost.KEY)",
                 arg);
        return -1;
    }
#undef KEY
    return 0;
}

int plait_config_load(struct plait_config *c, int ac, char **av, char *err, size_t errlen)
{
    plait_config_init(c);
    for (int i = 0; i < ac; i++)
        if (!strncmp(av[i], "config=", 7)) {
            if (set_path(c->file, av[i] + 7) || !av[i][7]) {
                snprintf(err, errlen, "plugstack.conf argument '%s': not a usable path", av[i]);
                return -1;
            }
        }
    if (c->file[0] && plait_config_read_file(c, c->file, err, errlen))
        return -1;
    for (int i = 0; i < ac; i++)
        if (apply_arg(c, av[i], err, errlen))
            return -1;
    return 0;
}
