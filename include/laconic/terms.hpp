// Terms of a value under the encodings of MODEL.md §3 and §3a, and where they
// are (the term positions Pragmatic's shifters see, §3a, §9).
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

// binary, radix-4 booth and naf (§3); dnnsim_booth is DNNsim's Booth-like
// recoding of runs of three or more ones (§3a).
enum class Encoding : std::uint8_t { binary, booth, naf, dnnsim_booth };

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

LACONIC_HOST_DEVICE inline int highest_bit(std::uint64_t x) {  // x != 0
#if defined(__CUDA_ARCH__)
  return 63 - __clzll(static_cast<long long>(x));
#else
  return 63 - __builtin_clzll(x);
#endif
}

LACONIC_HOST_DEVICE inline int lowest_bit(std::uint64_t x) {  // x != 0
#if defined(__CUDA_ARCH__)
  return __ffsll(static_cast<long long>(x)) - 1;
#else
  return __builtin_ctzll(x);
#endif
}

// §3a term positions E(v), as a bit mask (bit p set when p is a position),
// of a magnitude below 2^32 (positions reach bit 33 at most). |E(v)| = t(v).

// binary: the 1 bits of |v|.
LACONIC_HOST_DEVICE inline std::uint64_t positions_binary(std::uint64_t mag) { return mag; }

// booth: for each non-zero radix-4 digit d_i, 2i if |d_i| = 1, 2i + 1 if
// |d_i| = 2. With y = mag << 1 and e = y ^ (y >> 1) as in terms_booth, digit
// i reads the bits (b(2i+1), b(2i), b(2i-1)) = (y(2i+2), y(2i+1), y(2i));
// |d_i| = 1 iff b(2i) != b(2i-1), i.e. e has bit 2i; |d_i| = 2 iff the triple
// is 100 or 011, i.e. e has bit 2i+1 and not bit 2i.
LACONIC_HOST_DEVICE inline std::uint64_t positions_booth(std::uint64_t mag) {
  const std::uint64_t y = mag << 1;
  const std::uint64_t e = y ^ (y >> 1);
  return (e & 0x5555555555555555ULL) | (e & ~(e << 1) & 0xAAAAAAAAAAAAAAAAULL);
}

// naf: the non-zero digits of the non-adjacent form are the set bits of
// ((3|v|) XOR |v|) >> 1 (their count is terms_naf).
LACONIC_HOST_DEVICE inline std::uint64_t positions_naf(std::uint64_t mag) { return ((3 * mag) ^ mag) >> 1; }

// dnnsim_booth (§3a; DNNsim core/src/Utils.cpp, generateBoothEncodingEntry):
// scan i from the top down over the triples (b_i, b_i-1, b_i-2), b_-1 = b_-2
// = 0. Outside a run: 111 puts a term at i + 1 and enters a run; 100, 101,
// 110 put a term at i. Inside a run: 100 puts a term at i and leaves it; 010
// and 011 put a term at i; the others put nothing. Triples above the highest
// one bit start with 0 outside a run and put nothing, so the scan starts there
// and the width does not matter.
LACONIC_HOST_DEVICE inline std::uint64_t positions_dnnsim_booth(std::uint64_t mag) {
  if (mag == 0) return 0;
  const std::uint64_t padded = mag << 2;  // bit i of mag is bit i + 2 here
  std::uint64_t positions = 0;
  bool run = false;
  for (int i = highest_bit(mag); i >= 0; --i) {
    const unsigned triple = static_cast<unsigned>((padded >> i) & 7);  // b_i b_i-1 b_i-2
    if (!run) {
      if (triple == 7) {
        positions |= std::uint64_t{1} << (i + 1);
        run = true;
      } else if (triple >= 4) {
        positions |= std::uint64_t{1} << i;
      }
    } else if (triple == 4) {
      positions |= std::uint64_t{1} << i;
      run = false;
    } else if (triple == 2 || triple == 3) {
      positions |= std::uint64_t{1} << i;
    }
  }
  return positions;
}

// §3a: term positions of a magnitude under `encoding`.
LACONIC_HOST_DEVICE inline std::uint64_t term_positions(Encoding encoding, std::uint64_t mag) {
  switch (encoding) {
    case Encoding::binary: return positions_binary(mag);
    case Encoding::booth: return positions_booth(mag);
    case Encoding::naf: return positions_naf(mag);
    case Encoding::dnnsim_booth: return positions_dnnsim_booth(mag);
  }
  return 0;
}

// §3a: t(v) = |E(v)| under DNNsim's Booth-like encoding.
LACONIC_HOST_DEVICE inline int terms_dnnsim_booth(std::uint64_t mag) { return popcount64(positions_dnnsim_booth(mag)); }

// Terms of a magnitude |v| (the engines that move magnitudes rather than
// signed values call this one).
LACONIC_HOST_DEVICE inline int terms_of_magnitude(Encoding encoding, std::uint64_t mag) {
  switch (encoding) {
    case Encoding::binary: return terms_binary(mag);
    case Encoding::booth: return terms_booth(mag);
    case Encoding::naf: return terms_naf(mag);
    case Encoding::dnnsim_booth: return terms_dnnsim_booth(mag);
  }
  return 0;
}

LACONIC_HOST_DEVICE inline int terms(Encoding encoding, std::int64_t v) {
  return terms_of_magnitude(encoding, magnitude(v));
}

// The most terms a magnitude of `bits` bits can have (0 < bits <= 32):
// binary `bits`; Booth one digit per bit pair plus the top one, floor(bits/2)+1
// (9 for 16 bits, 5 for 8, MODEL.md §3); NAF ceil((bits+1)/2) non-adjacent
// digits over bits+1 positions; DNNsim's Booth-like encoding leaves runs of
// one or two ones as they are, so 1011011…: floor((2·bits + 2)/3) (11 for 16
// bits). The tests check every bound exhaustively up to 20 bits.
LACONIC_HOST_DEVICE constexpr int max_terms(Encoding encoding, int bits) {
  switch (encoding) {
    case Encoding::binary: return bits;
    case Encoding::booth: return bits / 2 + 1;
    case Encoding::naf: return (bits + 2) / 2;
    case Encoding::dnnsim_booth: return (2 * bits + 2) / 3;
  }
  return bits;
}

std::string_view to_string(Encoding encoding);
std::optional<Encoding> parse_encoding(std::string_view name);

}  // namespace laconic
