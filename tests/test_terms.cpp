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

TEST(Terms, ExamplesFromTheModel) {
  // §3: 15 → +2^4 −2^0, 54 → +2^6 −2^4 +2^3 −2^1, 2 → +2^2 −2^1.
  EXPECT_EQ(terms(Encoding::booth, 15), 2);
  EXPECT_EQ(terms(Encoding::booth, 54), 4);
  EXPECT_EQ(terms(Encoding::booth, 2), 2);
  EXPECT_EQ(terms(Encoding::naf, 27), 3);
  EXPECT_EQ(terms(Encoding::naf, 54), 3);
  EXPECT_EQ(terms(Encoding::naf, 255), 2);
  EXPECT_EQ(terms(Encoding::binary, 255), 8);
  for (Encoding e : {Encoding::binary, Encoding::booth, Encoding::naf}) EXPECT_EQ(terms(e, 0), 0);
}

TEST(Terms, SignDoesNotCount) {
  for (std::int64_t v : {1, 2, 3, 15, 54, 255, 32767})
    for (Encoding e : {Encoding::binary, Encoding::booth, Encoding::naf}) EXPECT_EQ(terms(e, -v), terms(e, v)) << v;
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
  for (int bits = 1; bits <= 16; ++bits)
    for (Encoding e : {Encoding::binary, Encoding::booth, Encoding::naf}) {
      int most = 0;
      for (std::uint64_t m = 0; m < (std::uint64_t{1} << bits); ++m)
        most = std::max(most, terms(e, static_cast<std::int64_t>(m)));
      EXPECT_EQ(most, max_terms(e, bits)) << to_string(e) << " " << bits << " bits";
    }
  EXPECT_EQ(max_terms(Encoding::booth, 8), 5);
  EXPECT_EQ(max_terms(Encoding::booth, 16), 9);
  EXPECT_LE(max_terms(Encoding::binary, kMaxMagnitudeBits), kMaxTerms);
}

TEST(Terms, ParseAndPrint) {
  for (Encoding e : {Encoding::binary, Encoding::booth, Encoding::naf}) EXPECT_EQ(parse_encoding(to_string(e)), e);
  EXPECT_FALSE(parse_encoding("Booth").has_value());
  EXPECT_FALSE(parse_encoding("").has_value());
}

}  // namespace
}  // namespace laconic
