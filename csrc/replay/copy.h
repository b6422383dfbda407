// Copies of one row (an observation, a frame, an action) in the sample gather.
//
// A CartPole row is 16 bytes and an action 8: a call to memcpy with a run-time
// size costs more than the copy itself, and a batch makes about a hundred of
// them. Rows up to 64 bytes are copied inline with (possibly overlapping)
// fixed-size moves, which compile to plain loads and stores; the branches all
// depend on the buffer's row size, so they are predicted perfectly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace fastrl::replay {

namespace detail {
template <std::size_t N>
inline void move_fixed(std::uint8_t* dst, const std::uint8_t* src) {
  std::uint8_t tmp[N];
  std::memcpy(tmp, src, N);
  std::memcpy(dst, tmp, N);
}
}  // namespace detail

inline void copy_row(std::uint8_t* dst, const std::uint8_t* src, std::size_t n) {
  if (n > 64) {
    std::memcpy(dst, src, n);
  } else if (n >= 32) {
    // [0, 32) and [n - 32, n) cover the row (they overlap unless n == 64).
    detail::move_fixed<32>(dst, src);
    detail::move_fixed<32>(dst + n - 32, src + n - 32);
  } else if (n >= 16) {
    detail::move_fixed<16>(dst, src);
    detail::move_fixed<16>(dst + n - 16, src + n - 16);
  } else if (n >= 8) {
    detail::move_fixed<8>(dst, src);
    detail::move_fixed<8>(dst + n - 8, src + n - 8);
  } else if (n >= 4) {
    detail::move_fixed<4>(dst, src);
    detail::move_fixed<4>(dst + n - 4, src + n - 4);
  } else {
    for (std::size_t i = 0; i < n; ++i) dst[i] = src[i];
  }
}

}  // namespace fastrl::replay
