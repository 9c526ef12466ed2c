// Terms of a value under the three encodings of MODEL.md §3.
//
// Terms are counted on the magnitude |v| (sign-magnitude: the sign rides along
// and costs nothing), and t(0) = 0 under every encoding. Every engine, host or
// device, calls these functions; nothing else in the project computes terms.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "laconic/host_device.hpp"

namespace laconic {

enum class Encoding : std::uint8_t { binary, booth, naf };

// Widest magnitude the project handles: 32 bits (u4 traces, and |-2^31|).
inline constexpr int kMaxMagnitudeBits = 32;
// Largest number of terms any supported value can have (binary, 32 bits).
inline constexpr int kMaxTerms = 32;

LACONIC_HOST_DEVICE inline std::uint64_t magnitude(std::int64_t v) {
  // Negate in unsigned arithmetic so that INT64_MIN is well defined.
  return v < 0 ? std::uint64_t{0} - static_cast<std::uint64_t>(v) : static_cast<std::uint64_t>(v);
}

LACONIC_HOST_DEVICE inline int popcount64(std::uint64_t x) {
#if defined(__CUDA_ARCH__)
  return __popcll(x);
#else
  return __builtin_popcountll(x);
#endif
}

// §3 binary: t(v) = popcount(|v|).
LACONIC_HOST_DEVICE inline int terms_binary(std::uint64_t mag) { return popcount64(mag); }

// §3 booth: radix-4 modified Booth recoding of |v| read as an unsigned number
// with a 0 bit above its MSB. Digit i = b(2i-1) + b(2i) - 2 b(2i+1), b(-1) = 0,
// is zero exactly when the three bits b(2i+1), b(2i), b(2i-1) are all equal.
// With y = mag << 1 (so that y's bit 0 is b(-1) = 0), digit i reads y's bits
// 2i, 2i+1, 2i+2; e = y ^ (y >> 1) marks each pair of unequal neighbours, so
// digit i is non-zero iff e has bit 2i or bit 2i+1 set. Valid for mag < 2^62.
LACONIC_HOST_DEVICE inline int terms_booth(std::uint64_t mag) {
  const std::uint64_t y = mag << 1;
  const std::uint64_t e = y ^ (y >> 1);
  return popcount64((e | (e >> 1)) & 0x5555555555555555ULL);
}

// §3 naf: weight of the non-adjacent form, popcount(((3|v|) XOR |v|) >> 1).
// Valid for mag < 2^62 (3·mag must not overflow).
LACONIC_HOST_DEVICE inline int terms_naf(std::uint64_t mag) {
  return popcount64(((3 * mag) ^ mag) >> 1);
}

// Terms of a magnitude |v| (the engines that move magnitudes rather than
// signed values call this one).
LACONIC_HOST_DEVICE inline int terms_of_magnitude(Encoding encoding, std::uint64_t mag) {
  switch (encoding) {
    case Encoding::binary: return terms_binary(mag);
    case Encoding::booth: return terms_booth(mag);
    case Encoding::naf: return terms_naf(mag);
  }
  return 0;
}

LACONIC_HOST_DEVICE inline int terms(Encoding encoding, std::int64_t v) {
  return terms_of_magnitude(encoding, magnitude(v));
}

// The most terms a magnitude of `bits` bits can have (0 < bits <= 32):
// binary `bits`; Booth one digit per bit pair plus the top one, floor(bits/2)+1
// (9 for 16 bits, 5 for 8, MODEL.md §3); NAF ceil((bits+1)/2) non-adjacent
// digits over bits+1 positions (the tests check both bounds exhaustively).
constexpr int max_terms(Encoding encoding, int bits) {
  switch (encoding) {
    case Encoding::binary: return bits;
    case Encoding::booth: return bits / 2 + 1;
    case Encoding::naf: return (bits + 2) / 2;
  }
  return bits;
}

std::string_view to_string(Encoding encoding);
std::optional<Encoding> parse_encoding(std::string_view name);

}  // namespace laconic
