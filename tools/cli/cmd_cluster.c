/*
 * synq cluster status|add|remove: a synqd cluster's membership (docs/cluster.md).
 *
 * status asks the node synq is connected to for its own view (stats-cluster, never forwarded);
 * add and remove go to whichever node, which relays them to the leader, and wait for the
 * configuration change to commit (CHANGED) or fail (NOT_CHANGED).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int status(cli *c)
{
    cli_yaml y;
    int rc;
    if ((rc = cli_connect(c)) ||
        (rc = cli_yaml_request(c, "cluster status", &y, "%s", "stats-cluster")))
        return rc;
    out_yaml_doc(stdout, &y, c->json);
    cli_yaml_free(&y);
    return CLI_OK;
}

static int change(cli *c, const char *line)
{
    int rc;
    char *reply;
    if ((rc = cli_connect(c)) || (rc = cli_sendf(c, "%s", line)) ||
        (rc = cli_read_line(c, &reply, 0)))
        return rc;
    if (strcmp(reply, "CHANGED") == 0) {
        if (c->json)
            printf("{\"changed\":true}\n");
        return CLI_OK;
    }
    if (strcmp(reply, "NOT_CHANGED") == 0) {
        cli_err(c, "cluster: %s could not make the change (see its log)\n", c->addr);
        return CLI_NO;
    }
    if (strcmp(reply, "NOT_FOUND") == 0) {
        cli_err(c, "cluster: %s is not a cluster node\n", c->addr);
        return CLI_FAIL;
    }
    return cli_reply_error(c, "cluster", reply);
}

int cmd_cluster(cli *c, int argc, char **argv)
{
    static const struct option longopts[] = {CLI_COMMON_LONGOPTS, {NULL, 0, NULL, 0}};
    int rc = cli_parse_opts(c, argc, argv, CLI_COMMON_SHORTOPTS, longopts, NULL, NULL);
    if (rc)
        return rc;
    int n = argc - optind;
    const char *what = n > 0 ? argv[optind] : "";
    char line[160];
    uint64_t id;
    if (strcmp(what, "status") == 0 && n == 1)
        return status(c);
    if (strcmp(what, "add") == 0 && n == 3) {
        const char *addr = argv[optind + 2];
        if ((rc = cli_parse_id(argv[0], argv[optind + 1], &id)))
            return rc;
        if (!strchr(addr, ':') || strpbrk(addr, " \r\n") || strlen(addr) > 63)
            return cli_usage_error(argv[0], "ADDRESS is the new node's Raft HOST:PORT");
        snprintf(line, sizeof line, "cluster-add %llu %s", (unsigned long long)id, addr);
        return change(c, line);
    }
    if (strcmp(what, "remove") == 0 && n == 2) {
        if ((rc = cli_parse_id(argv[0], argv[optind + 1], &id)))
            return rc;
        snprintf(line, sizeof line, "cluster-remove %llu", (unsigned long long)id);
        return change(c, line);
    }
    return cli_usage_error(argv[0], "expected status, add ID HOST:PORT or remove ID");
}
