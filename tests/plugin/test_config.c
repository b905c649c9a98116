/* Admin configuration: the libconfig file (etc/plait.conf) and plugstack.conf
 * arguments, good and malformed. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../plugin/config.h"
#include "../check.h"

static char path[64];

static void write_conf(const char *text)
{
    strcpy(path, "/tmp/plait-test-conf-XXXXXX");
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
}

/* The file must fail with "path:line: ..." containing why. */
static void bad_file(const char *text, int line, const char *why)
{
    struct plait_config c;
    char err[1024] = "", where[128];
    write_conf(text);
    plait_config_init(&c);
    CHECK_MSG(plait_config_read_file(&c, path, err, sizeof(err)) == -1, "accepted: %s", text);
    snprintf(where, sizeof(where), "%s:%d: ", path, line);
    CHECK_MSG(strncmp(err, where, strlen(where)) == 0, "'%s' does not start with '%s'", err, where);
    CHECK_STR_CONTAINS(err, why);
    unlink(path);
}

static int args_rc(const char **av, int ac, char *err, size_t len, struct plait_config *c)
{
    return plait_config_load(c, ac, (char **)av, err, len);
}

int main(void)
{
    struct plait_config c;
    char err[1024] = "";
    const char *top = getenv("PLAIT_TOP");
    char shipped[4096];

    /* The shipped file is valid and says what the built-in defaults say. */
    snprintf(shipped, sizeof(shipped), "%s/etc/plait.conf", top ? top : ".");
    plait_config_init(&c);
    CHECK_MSG(plait_config_read_file(&c, shipped, err, sizeof(err)) == 0, "%s", err);
    struct plait_config d;
    plait_config_init(&d);
    CHECK(c.placement == d.placement && c.bind == d.bind && c.nvml == d.nvml);
    CHECK(memcmp(&c.cost, &d.cost, sizeof(c.cost)) == 0);

    write_conf("# admin defaults\n"
               "placement = \"block\";\n"
               "topology = \"/etc/plait/dgx.xml\";\n"
               "bind = false;\n"
               "nvml = false;\n"
               "cost = { network_gbps = 50.0; tp_bytes = 1000; pcie_switch_gbps = 32; };\n");
    plait_config_init(&c);
    CHECK_MSG(plait_config_read_file(&c, path, err, sizeof(err)) == 0, "%s", err);
    CHECK(c.placement == PLAIT_PLACE_BLOCK);
    CHECK_STR_EQ(c.topology, "/etc/plait/dgx.xml");
    CHECK(!c.bind && !c.nvml);
    CHECK(c.cost.gbps[PLAIT_LINK_NETWORK] == 50.0 && c.cost.tp_bytes == 1000.0);
    CHECK(c.cost.gbps[PLAIT_LINK_PCIE_SWITCH] == 32.0);
    unlink(path);

    bad_file("placement = \"topo\";\nfoo = 1;\n", 2, "unknown key 'foo' (expected one of");
    bad_file("cost = {\n  network_gbps = 5.0;\n  warp = 9;\n};\n", 3, "unknown key 'cost.warp'");
    bad_file("placement = \"fast\";\n", 1, "placement = \"fast\" (expected \"topo\", \"block\"");
    bad_file("placement = 3;\n", 1, "'placement' must be a string");
    bad_file("\nbind = \"yes\";\n", 2, "'bind' must be true or false");
    bad_file("cost = { socket_gbps = 0.0; };\n", 1, "out of range");
    bad_file("cost = { dp_bytes = \"x\"; };\n", 1, "'cost.dp_bytes' must be a number");
    bad_file("cost = 3;\n", 1, "'cost' must be a group");
    bad_file("placement = \"topo\";\nbind = ;\n", 2, "syntax error");
    /* Found by fuzz_plait_conf: a quoted value's newline was copied into the
     * message, which then took two lines. */
    bad_file("placement = \"to\npo\";\n", 1, "placement = \"to?po\" (expected");
    bad_file("topology = \"/a\\nb\";\n", 1, "topology = \"/a?b\" is not a usable path");

    plait_config_init(&c);
    CHECK(plait_config_read_file(&c, "/nonexistent/plait.conf", err, sizeof(err)) == -1);
    CHECK_STR_CONTAINS(err, "/nonexistent/plait.conf: cannot open it");

    /* plugstack.conf arguments override the file they name. */
    write_conf("placement = \"block\";\nbind = false;\n");
    char cfgarg[128];
    snprintf(cfgarg, sizeof(cfgarg), "config=%s", path);
    const char *av1[] = {"placement=topo", cfgarg, "cost.network_gbps=100", "nvml=no"};
    CHECK_MSG(args_rc(av1, 4, err, sizeof(err), &c) == 0, "%s", err);
    CHECK(c.placement == PLAIT_PLACE_TOPO && !c.bind && !c.nvml);
    CHECK(c.cost.gbps[PLAIT_LINK_NETWORK] == 100.0);
    CHECK_STR_EQ(c.file, path);
    unlink(path);

    const char *av2[] = {"placment=topo"};
    CHECK(args_rc(av2, 1, err, sizeof(err), &c) == -1);
    CHECK_STR_CONTAINS(err, "plugstack.conf argument 'placment=topo': unknown key");
    const char *av3[] = {"bind=maybe"};
    CHECK(args_rc(av3, 1, err, sizeof(err), &c) == -1);
    CHECK_STR_CONTAINS(err, "expected yes or no");
    const char *av4[] = {"topology"};
    CHECK(args_rc(av4, 1, err, sizeof(err), &c) == -1);
    CHECK_STR_CONTAINS(err, "expected key=value");
    const char *av5[] = {"cost.tp_bytes=-4"};
    CHECK(args_rc(av5, 1, err, sizeof(err), &c) == -1);
    CHECK_STR_CONTAINS(err, "bytes >= 0");
    const char *av6[] = {"cost.speed=4"};
    CHECK(args_rc(av6, 1, err, sizeof(err), &c) == -1);
    CHECK_STR_CONTAINS(err, "unknown key");
    const char *av7[] = {"config=/nonexistent/x.conf"};
    CHECK(args_rc(av7, 1, err, sizeof(err), &c) == -1);
    CHECK_STR_CONTAINS(err, "/nonexistent/x.conf: cannot open it");
    const char *av8[] = {"placement=none", "topology=/etc/plait/x.xml", "bind=yes"};
    CHECK(args_rc(av8, 3, err, sizeof(err), &c) == 0);
    CHECK(c.placement == PLAIT_PLACE_NONE && c.bind);
    CHECK_STR_EQ(c.topology, "/etc/plait/x.xml");
    return check_status("test_config");
}
