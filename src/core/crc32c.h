/* CRC32C (Castagnoli), the checksum on every stored record. Pure; any thread. */
#ifndef WS_CORE_CRC32C_H
#define WS_CORE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Returns the CRC32C of data[0..len). crc32c("123456789") == 0xE3069283. */
uint32_t ws_crc32c(const void *data, size_t len);

#endif
