/* Generated accountIDs and transactionIDs. */
#include <string.h>
#include <uuid/uuid.h>

#include "core/siphash.h"
#include "http/internal.h"

/* Random (version 4) UUIDs. libuuid's uuid_generate_random makes about five system calls
 * per ID (getrandom, then getpid/getuid/getppid to reseed random()), which showed in the
 * transfer profile; here each I/O thread draws 4 KiB from getrandom, the same kernel
 * source, once per 256 IDs, and libuuid formats them. */
#define RANDOM_POOL_BYTES 4096

static __thread unsigned char random_pool[RANDOM_POOL_BYTES];
static __thread size_t random_used = RANDOM_POOL_BYTES;

void http_generate_id(char *out, uint8_t *len) {
    if (random_used + sizeof(uuid_t) > RANDOM_POOL_BYTES) {
        ws_random_fill(random_pool, RANDOM_POOL_BYTES);
        random_used = 0;
    }
    uuid_t u;
    memcpy(u, random_pool + random_used, sizeof(u));
    memset(random_pool + random_used, 0, sizeof(u)); /* an ID's bits are used once */
    random_used += sizeof(u);
    u[6] = (unsigned char)((u[6] & 0x0f) | 0x40); /* version 4 */
    u[8] = (unsigned char)((u[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    char text[37];
    uuid_unparse_lower(u, text);
    memcpy(out, text, 36);
    *len = 36;
}
