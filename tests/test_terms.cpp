// MODEL.md §3: the encoders, exhaustively against brute-force digit expansions.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <vector>

#include "laconic/terms.hpp"

namespace laconic {
namespace {

// Wide enough for any reconstruction below without overflow.
__extension__ typedef __int128 Wide;

// Radix-4 Booth digits of m (read with a 0 above its MSB), computed from the
// definition digit_i = b(2i-1) + b(2i) - 2 b(2i+1), b(-1) = 0. Checks that
// the digits reconstruct m and returns them.
std::vector<int> booth_digits(std::uint64_t m) {
  auto bit = [&](int i) -> int { return i < 0 || i >= 64 ? 0 : static_cast<int>((m >> i) & 1); };
  std::vector<int> digits;
  for (int i = 0; 2 * i - 1 < 64; ++i) digits.push_back(bit(2 * i - 1) + bit(2 * i) - 2 * bit(2 * i + 1));
  Wide value = 0;
  for (std::size_t i = digits.size(); i-- > 0;) value = value * 4 + digits[i];
  EXPECT_EQ(value, static_cast<Wide>(m)) << "Booth digits do not reconstruct " << m;
  return digits;
}

int brute_booth(std::uint64_t m) {
  int n = 0;
  for (int d : booth_digits(m)) n += d != 0;
  return n;
}

// Non-adjacent form by the textbook algorithm: while m > 0, a digit of
// 2 - (m mod 4) when m is odd, else 0. Checks non-adjacency and the value.
int brute_naf(std::uint64_t m) {
  Wide x = m, value = 0, power = 1;
  int weight = 0, previous = 0;
  while (x > 0) {
    int digit = 0;
    if (x & 1) {
      digit = 2 - static_cast<int>(x & 3);
      x -= digit;
    }
    EXPECT_FALSE(digit != 0 && previous != 0) << "adjacent non-zero NAF digits for " << m;
    weight += digit != 0;
    value += digit * power;
    power *= 2;
    previous = digit;
    x >>= 1;
  }
  EXPECT_EQ(value, static_cast<Wide>(m)) << "NAF digits do not reconstruct " << m;
  return weight;
}

int brute_binary(std::uint64_t m) {
  int n = 0;
  for (; m != 0; m >>= 1) n += static_cast<int>(m & 1);
  return n;
}

// Term positions (§3a) from the digit expansions above: the set of positions
// of non-zero digits, where a radix-4 Booth digit ±1 at index i sits at 2i
// and ±2 at 2i + 1.
std::uint64_t brute_booth_positions(std::uint64_t m) {
  const std::vector<int> digits = booth_digits(m);
  std::uint64_t positions = 0;
  for (std::size_t i = 0; i < digits.size() && 2 * i + 1 < 64; ++i) {
    if (digits[i] == 1 || digits[i] == -1) positions |= std::uint64_t{1} << (2 * i);
    if (digits[i] == 2 || digits[i] == -2) positions |= std::uint64_t{1} << (2 * i + 1);
  }
  return positions;
}

std::uint64_t brute_naf_positions(std::uint64_t m) {
  Wide x = m;
  std::uint64_t positions = 0;
  for (int i = 0; x > 0; ++i, x >>= 1)
    if (x & 1) {
      positions |= std::uint64_t{1} << i;
      x -= 2 - static_cast<int>(x & 3);
    }
  return positions;
}

// DNNsim's Booth-like encoding, §3a's scan as written, with the sign of each
// term: outside a run a term is +2^p, inside one (entered with +2^(i+1)) the
// terms are −2^p. Checks that the signed terms reconstruct m.
std::uint64_t brute_dnnsim_booth_positions(std::uint64_t m) {
  auto bit = [&](int i) -> int { return i < 0 || i >= 64 ? 0 : static_cast<int>((m >> i) & 1); };
  std::uint64_t positions = 0;
  Wide value = 0;
  bool run = false;
  for (int i = 40; i >= 0; --i) {
    const int b0 = bit(i), b1 = bit(i - 1), b2 = bit(i - 2);
    int position = -1, sign = 0;
    if (!run) {
      if (b0 && b1 && b2) position = i + 1, sign = 1, run = true;
      else if (b0) position = i, sign = 1;  // 100, 101, 110
    } else {
      EXPECT_FALSE(!b0 && !b1) << "000 or 001 inside a run for " << m;
      if (b0 && !b1 && !b2) position = i, sign = -1, run = false;
      else if (!b0 && b1) position = i, sign = -1;  // 010, 011
    }
    if (position >= 0) {
      positions |= std::uint64_t{1} << position;
      value += sign * (Wide{1} << position);
    }
  }
  EXPECT_EQ(value, static_cast<Wide>(m)) << "DNNsim Booth-like terms do not reconstruct " << m;
  return positions;
}

TEST(TermPositions, ExamplesFromTheModel) {
  // §3a: 60 = 111100 → {6, 2}; 119 = 1110111 → {7, 3, 0}; 27 → 4 terms; 15 → 2; 2 → 1.
  EXPECT_EQ(term_positions(Encoding::dnnsim_booth, 60), (std::uint64_t{1} << 6) | (std::uint64_t{1} << 2));
  EXPECT_EQ(term_positions(Encoding::dnnsim_booth, 119), 0b10001001u);
  EXPECT_EQ(terms(Encoding::dnnsim_booth, 27), 4);
  EXPECT_EQ(terms(Encoding::dnnsim_booth, 15), 2);
  EXPECT_EQ(terms(Encoding::dnnsim_booth, 2), 1);
  EXPECT_EQ(terms(Encoding::dnnsim_booth, 0), 0);
  // §3: 15 → +2^4 −2^0 under radix-4 Booth; 2 → +2^2 −2^1; 54 → +2^6 −2^4 +2^3 −2^1.
  EXPECT_EQ(term_positions(Encoding::booth, 15), 0b10001u);
  EXPECT_EQ(term_positions(Encoding::booth, 2), 0b110u);
  EXPECT_EQ(term_positions(Encoding::booth, 54), 0b1011010u);
  EXPECT_EQ(term_positions(Encoding::binary, 54), 54u);
  EXPECT_EQ(term_positions(Encoding::naf, 27), 0b100101u);  // 32 − 4 − 1
}

TEST(TermPositions, ExhaustiveOverSixteenBits) {
  for (std::uint64_t m = 0; m <= 65535; ++m) {
    ASSERT_EQ(term_positions(Encoding::binary, m), m);
    ASSERT_EQ(term_positions(Encoding::booth, m), brute_booth_positions(m)) << m;
    ASSERT_EQ(term_positions(Encoding::naf, m), brute_naf_positions(m)) << m;
    ASSERT_EQ(term_positions(Encoding::dnnsim_booth, m), brute_dnnsim_booth_positions(m)) << m;
    for (Encoding e : {Encoding::binary, Encoding::booth, Encoding::naf, Encoding::dnnsim_booth})
      ASSERT_EQ(popcount64(term_positions(e, m)), terms_of_magnitude(e, m)) << to_string(e) << " " << m;
  }
}

TEST(TermPositions, ExtremesOfEverySupportedType) {
  for (std::int64_t v : {std::int64_t{-128}, std::int64_t{127}, std::int64_t{255}, std::int64_t{-32768},
                         std::int64_t{32767}, std::int64_t{65535}, std::int64_t{-2147483648LL},
                         std::int64_t{2147483647}, std::int64_t{4294967295LL}, std::int64_t{2863311530LL},
                         std::int64_t{3067833782LL}}) {
    const std::uint64_t m = magnitude(v);
    EXPECT_EQ(term_positions(Encoding::booth, m), brute_booth_positions(m)) << v;
    EXPECT_EQ(term_positions(Encoding::naf, m), brute_naf_positions(m)) << v;
    EXPECT_EQ(term_positions(Encoding::dnnsim_booth, m), brute_dnnsim_booth_positions(m)) << v;
    EXPECT_EQ(terms(Encoding::dnnsim_booth, v), popcount64(brute_dnnsim_booth_positions(m))) << v;
  }
  // A run of 32 ones: +2^32 −2^0.
  EXPECT_EQ(term_positions(Encoding::dnnsim_booth, 4294967295ULL), (std::uint64_t{1} << 32) | 1);
}

TEST(Terms, ExamplesFromTheModel) {
  // §3: 15 → +2^4 −2^0, 54 → +2^6 −2^4 +2^3 −2^1, 2 → +2^2 −2^1.
  EXPECT_EQ(terms(Encoding::booth, 15), 2);
  EXPECT_EQ(terms(Encoding::booth, 54), 4);
  EXPECT_EQ(terms(Encoding::booth, 2), 2);
  EXPECT_EQ(terms(Encoding::naf, 27), 3);
  EXPECT_EQ(terms(Encoding::naf, 54), 3);
  EXPECT_EQ(terms(Encoding::naf, 255), 2);
  EXPECT_EQ(terms(Encoding::binary, 255), 8);
  for (Encoding e : {Encoding::binary, Encoding::booth, Encoding::naf, Encoding::dnnsim_booth})
    EXPECT_EQ(terms(e, 0), 0);
}

TEST(Terms, SignDoesNotCount) {
  for (std::int64_t v : {1, 2, 3, 15, 54, 255, 32767})
    for (Encoding e : {Encoding::binary, Encoding::booth, Encoding::naf, Encoding::dnnsim_booth})
      EXPECT_EQ(terms(e, -v), terms(e, v)) << v;
}

TEST(Terms, ExhaustiveOverSixteenBits) {
  for (std::int64_t v = -65535; v <= 65535; ++v) {
    const std::uint64_t m = magnitude(v);
    ASSERT_EQ(terms(Encoding::binary, v), brute_binary(m)) << v;
    ASSERT_EQ(terms(Encoding::booth, v), brute_booth(m)) << v;
    ASSERT_EQ(terms(Encoding::naf, v), brute_naf(m)) << v;
  }
}

TEST(Terms, ExtremesOfEverySupportedType) {
  const std::vector<std::int64_t> extremes = {
      std::numeric_limits<std::int8_t>::min(),  std::numeric_limits<std::int8_t>::max(),
      std::numeric_limits<std::uint8_t>::max(), std::numeric_limits<std::int16_t>::min(),
      std::numeric_limits<std::int16_t>::max(), std::numeric_limits<std::uint16_t>::max(),
      std::numeric_limits<std::int32_t>::min(), std::numeric_limits<std::int32_t>::max(),
      std::numeric_limits<std::uint32_t>::max()};
  for (std::int64_t v : extremes) {
    const std::uint64_t m = magnitude(v);
    EXPECT_EQ(terms(Encoding::binary, v), brute_binary(m)) << v;
    EXPECT_EQ(terms(Encoding::booth, v), brute_booth(m)) << v;
    EXPECT_EQ(terms(Encoding::naf, v), brute_naf(m)) << v;
  }
  EXPECT_EQ(terms(Encoding::binary, -32768), 1);
  EXPECT_EQ(terms(Encoding::booth, 65535), 2);  // 2^16 - 2^0
  EXPECT_EQ(terms(Encoding::naf, 65535), 2);
  EXPECT_EQ(terms(Encoding::binary, 4294967295LL), 32);
  EXPECT_EQ(terms(Encoding::booth, 4294967295LL), 2);
}

TEST(Terms, MaxTermsIsTheTightBoundPerWidth) {
  // The most terms any magnitude below 2^bits has, found by enumeration,
  // equals max_terms(); §3 quotes 5 for 8-bit and 9 for 16-bit Booth.
  for (int bits = 1; bits <= 20; ++bits)
    for (Encoding e : {Encoding::binary, Encoding::booth, Encoding::naf, Encoding::dnnsim_booth}) {
      int most = 0;
      for (std::uint64_t m = 0; m < (std::uint64_t{1} << bits); ++m)
        most = std::max(most, terms(e, static_cast<std::int64_t>(m)));
      EXPECT_EQ(most, max_terms(e, bits)) << to_string(e) << " " << bits << " bits";
    }
  EXPECT_EQ(max_terms(Encoding::booth, 8), 5);
  EXPECT_EQ(max_terms(Encoding::booth, 16), 9);
  EXPECT_EQ(max_terms(Encoding::dnnsim_booth, 16), 11);
  for (Encoding e : {Encoding::booth, Encoding::naf, Encoding::dnnsim_booth})
    EXPECT_LE(max_terms(e, kMaxMagnitudeBits), kMaxTerms);
  EXPECT_LE(max_terms(Encoding::binary, kMaxMagnitudeBits), kMaxTerms);
}

TEST(Terms, ParseAndPrint) {
  for (Encoding e : {Encoding::binary, Encoding::booth, Encoding::naf, Encoding::dnnsim_booth})
    EXPECT_EQ(parse_encoding(to_string(e)), e);
  EXPECT_EQ(to_string(Encoding::dnnsim_booth), "dnnsim-booth");
  EXPECT_FALSE(parse_encoding("Booth").has_value());
  EXPECT_FALSE(parse_encoding("").has_value());
}

}  // namespace
}  // namespace laconic
