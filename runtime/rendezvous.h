/* The wire protocol between plait-run and the ranks it starts, over the Unix
 * socket named by PLAIT_RUN_SOCKET. A rank sends its hello once; plait-run
 * answers with every rank's blob when all have arrived, and later tells the
 * survivors when a rank dies abnormally, so they fail fast and name it. */
#ifndef PLAIT_RUNTIME_RENDEZVOUS_H
#define PLAIT_RUNTIME_RENDEZVOUS_H

#include <stddef.h>
#include <stdint.h>

#define PLAIT_RUN_SOCKET_ENV "PLAIT_RUN_SOCKET"
#define PLAIT_RUN_BLOB_MAX   (1u << 20)

/* rank -> plait-run: hello, then len bytes of blob. */
typedef struct {
    uint32_t rank;
    uint32_t len;
} plait_hello_t;

enum { PLAIT_MSG_ALL = 1, PLAIT_MSG_DEATH = 2, PLAIT_MSG_STOP = 3 };

/* plait-run -> rank. ALL: a = number of ranks, then for each rank a uint32
 * length and its blob. DEATH: a = the rank, b = its wait status. STOP:
 * plait-run was interrupted (b = the signal) before every rank had joined,
 * so the exchange will never come. */
typedef struct {
    uint32_t type;
    uint32_t a;
    uint32_t b;
} plait_notice_t;

/* Full reads and writes on a blocking descriptor; read waits at most
 * timeout_s (< 0: forever). 0 on success, -1 with errno (ETIMEDOUT, EPIPE for
 * end of file). */
int plait_write_all(int fd, const void *buf, size_t len);
int plait_read_all(int fd, void *buf, size_t len, double timeout_s);
/* "exited with status 3" / "killed by signal 9" */
void plait_describe_wait_status(int status, char *buf, size_t len);

#endif
