// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320): the checksum of zlib's crc32() and Python's
// zlib.crc32(), computed eight bytes at a time (slicing-by-8) so that checksumming a multi-gigabyte
// replay file costs a fraction of writing it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace fastrl {

class Crc32 {
 public:
  // Continues the checksum `crc` (0 to start) over n bytes at p; returns the new checksum.
  static std::uint32_t update(std::uint32_t crc, const void* p, std::size_t n) {
    const auto& t = tables();
    const auto* b = static_cast<const std::uint8_t*>(p);
    std::uint32_t c = ~crc;
    while (n >= 8) {
      std::uint32_t lo, hi;
      std::memcpy(&lo, b, 4);
      std::memcpy(&hi, b + 4, 4);
      lo ^= c;  // little-endian byte order, as on every platform fastrl builds for
      c = t[7][lo & 0xFF] ^ t[6][(lo >> 8) & 0xFF] ^ t[5][(lo >> 16) & 0xFF] ^ t[4][lo >> 24] ^
          t[3][hi & 0xFF] ^ t[2][(hi >> 8) & 0xFF] ^ t[1][(hi >> 16) & 0xFF] ^ t[0][hi >> 24];
      b += 8;
      n -= 8;
    }
    while (n--) c = t[0][(c ^ *b++) & 0xFF] ^ (c >> 8);
    return ~c;
  }

 private:
  using Tables = std::array<std::array<std::uint32_t, 256>, 8>;
  static const Tables& tables() {
    static const Tables t = [] {
      Tables x{};
      for (std::uint32_t i = 0; i < 256; ++i) {
        std::uint32_t c = i;
        for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        x[0][i] = c;
      }
      for (std::uint32_t i = 0; i < 256; ++i)
        for (int s = 1; s < 8; ++s) x[s][i] = (x[s - 1][i] >> 8) ^ x[0][x[s - 1][i] & 0xFF];
      return x;
    }();
    return t;
  }
};

}  // namespace fastrl
