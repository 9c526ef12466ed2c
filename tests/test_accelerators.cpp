// MODEL.md §8 and §9 worked by hand: Pragmatic's first-stage shifter, column
// registers, the diagonal depthwise mapping, the first-layer fold, each
// accelerator at its own geometry, and the presets. Every engine must give
// these numbers (the cuda engine where a device answers).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <random>
#include <set>
#include <vector>

#include "engine_cases.hpp"
#include "laconic/config.hpp"
#include "laconic/engine.hpp"
#include "laconic/model.hpp"
#include "laconic/network.hpp"
#include "laconic/npy.hpp"
#include "test_util.hpp"

namespace laconic {
namespace {

using namespace testing_engines;

std::unique_ptr<VectorSource> values(std::vector<std::int64_t> v) { return std::make_unique<VectorSource>(std::move(v)); }

void set_registers(ProfileConfig& config, Accelerator a, int registers) {
  config.column_registers[static_cast<std::size_t>(a)] = registers;
}

// ---------------------------------------------------------------------------
// §9, one column of three lanes (an FC layer with one block, one column).
// Binary term positions: 65 = 1000001 → {0, 6}, 4 → {2}, 48 = 110000 → {4, 5}.
// B = 2 (the shifter reaches o … o + 3):
//   cycle 1: o = 0, lanes take 0 and 2; 4 > 3 waits     → {6}, {}, {4, 5}
//   cycle 2: o = 4, lanes take 6 (≤ 7) and 4             → {}, {}, {5}
//   cycle 3: o = 5                                        → 3 cycles
// B = 1 (o … o + 1): {0} | o = 2: {2} | o = 4: {4} | o = 5: {5, 6} → 4 cycles.
// B = 0 (o only): 0 | 2 | 4 | 5 | 6 → 5 cycles. B = ∞: max t(a) = 2 cycles.
TestLayer three_lane_column() {
  TestLayer layer;
  layer.shape = fc_shape(3, 1);
  layer.activations = values({65, 4, 48});
  layer.weights = values({1, 1, 1});
  return layer;
}

TEST(PragmaticShifter, OneColumnForEachShifterWidth) {
  const TestLayer layer = three_lane_column();
  const std::vector<std::pair<int, std::uint64_t>> expected = {{2, 3}, {1, 4}, {0, 5}, {kShifterUnbounded, 2}};
  for (const auto& engine : engines_to_check())
    for (const auto& [bits, cycles] : expected) {
      ProfileConfig config = config_with(Encoding::binary, Geometry{1, 1, 1, 4});
      config.shifter_bits = bits;
      const LayerResult r = run(*engine, layer, config);
      EXPECT_EQ(r.cycles().pragmatic, cycles) << engine->name() << ", B = " << bits;
      EXPECT_EQ(r.work().pragmatic, (2u + 1 + 2) * 16) << engine->name();  // Σ t(a) · P_base · K
    }
}

TEST(PragmaticShifter, TheSharedFunctionFollowsThePseudoCode) {
  for (const auto& [bits, cycles] : std::vector<std::pair<int, unsigned>>{{2, 3}, {1, 4}, {0, 5}, {-1, 2}, {6, 2}}) {
    std::uint64_t positions[3] = {65, 4, 48};
    EXPECT_EQ(pragmatic_shifter_cycles(positions, 3, bits), cycles) << "B = " << bits;
  }
  std::uint64_t empty[2] = {0, 0};
  EXPECT_EQ(pragmatic_shifter_cycles(empty, 2, 2), 0u);  // the caller's max(1, ·) makes it a cycle
}

// §9's pseudo-code with sets, against the shared function on random lanes of
// 32- and 64-bit masks, for every B that matters.
unsigned literal_shifter(const std::vector<std::uint64_t>& masks, int bits) {
  std::vector<std::set<int>> lanes;
  for (std::uint64_t m : masks) {
    std::set<int> e;
    for (int p = 0; p < 64; ++p)
      if ((m >> p) & 1) e.insert(p);
    lanes.push_back(e);
  }
  unsigned cycles = 0;
  for (;;) {
    int o = 1000;
    for (const auto& e : lanes)
      if (!e.empty()) o = std::min(o, *e.begin());
    if (o == 1000) return cycles;
    for (auto& e : lanes)
      if (!e.empty() && (bits < 0 || *e.begin() <= o + (1 << bits) - 1)) e.erase(e.begin());
    ++cycles;
  }
}

TEST(PragmaticShifter, RandomLanesAgainstThePseudoCode) {
  std::mt19937_64 rng(5);
  for (int trial = 0; trial < 4000; ++trial) {
    const int lanes = 1 + static_cast<int>(rng() % 17);
    const bool wide = trial % 2 == 1;
    std::vector<std::uint64_t> masks(static_cast<std::size_t>(lanes));
    for (auto& m : masks) {
      m = rng() & rng();  // about a quarter of the bits set
      if (!wide) m &= 0xffffffffu;
      else m &= (std::uint64_t{1} << 34) - 1;  // positions of 32-bit magnitudes reach 33
      if (rng() % 4 == 0) m = 0;
    }
    for (int bits : {0, 1, 2, 3, 4, 5, 6, 7, kShifterUnbounded}) {
      const unsigned expected = literal_shifter(masks, bits);
      if (wide) {
        std::vector<std::uint64_t> scratch = masks;
        ASSERT_EQ(pragmatic_shifter_cycles(scratch.data(), lanes, bits), expected) << "trial " << trial << " B " << bits;
      } else {
        std::vector<std::uint32_t> scratch(masks.begin(), masks.end());
        ASSERT_EQ(pragmatic_shifter_cycles(scratch.data(), lanes, bits), expected) << "trial " << trial << " B " << bits;
      }
    }
  }
}

TEST(PragmaticShifter, EightColumnsAtOnceAsEachAlone) {
  std::mt19937_64 rng(9);
  for (int trial = 0; trial < 500; ++trial) {
    const int lanes = 1 + static_cast<int>(rng() % 17);
    std::uint32_t columns[17][8];
    std::uint64_t wide[17][8];
    for (int l = 0; l < lanes; ++l)
      for (int k = 0; k < 8; ++k) {
        const std::uint64_t m = rng() % 3 == 0 ? 0 : (rng() & rng() & ((std::uint64_t{1} << 34) - 1));
        columns[l][k] = static_cast<std::uint32_t>(m);
        wide[l][k] = m;
      }
    for (int bits : {0, 1, 2, 3, 5, kShifterUnbounded}) {
      std::uint32_t narrow_scratch[17][8];
      std::uint64_t wide_scratch[17][8];
      std::copy(&columns[0][0], &columns[0][0] + 17 * 8, &narrow_scratch[0][0]);
      std::copy(&wide[0][0], &wide[0][0] + 17 * 8, &wide_scratch[0][0]);
      unsigned narrow_cycles[8], wide_cycles[8];
      pragmatic_shifter_cycles<std::uint32_t, 8>(narrow_scratch, lanes, bits, narrow_cycles);
      pragmatic_shifter_cycles<std::uint64_t, 8>(wide_scratch, lanes, bits, wide_cycles);
      for (int k = 0; k < 8; ++k) {
        std::vector<std::uint64_t> narrow_lanes, wide_lanes;
        for (int l = 0; l < lanes; ++l) {
          narrow_lanes.push_back(columns[l][k]);
          wide_lanes.push_back(wide[l][k]);
        }
        ASSERT_EQ(narrow_cycles[k], literal_shifter(narrow_lanes, bits)) << "trial " << trial << " column " << k;
        ASSERT_EQ(wide_cycles[k], literal_shifter(wide_lanes, bits)) << "trial " << trial << " column " << k;
      }
    }
  }
}

// ---------------------------------------------------------------------------
// §8 column registers. Four channels of a 2×1 input, one 1×1 filter of
// weight 1, L = 1 (a step per channel), Ct = 2 (both windows in one set):
// column c of step k reads channel k at row c. Activations (binary terms):
//   channel 0: 15, 1 (4, 1)   channel 1: 1, 1 (1, 1)
//   channel 2: 1, 15 (1, 4)   channel 3: 1, 1 (1, 1)
// so d(k) = (4,1), (1,1), (1,4), (1,1) for Laconic (t(a)·t(1)) and for
// Pragmatic (one lane a column: one term a cycle, whatever B).
//   R = 0: Σ max = 4 + 1 + 4 + 1 = 10.
//   R = 1: E(0) = (4,1), M 4 | E(1) = max(E, M(−1) = 0) + d = (5,2), M 5 |
//          E(2) = max(E, M(0) = 4) + d = (6,8), M 8 | E(3) = max(E, M(1) = 5) + d = (7,9) → 9.
//   R = 2: (4,1) | (5,2) | max(E, M(−1) = 0) + d = (6,6) | max(E, M(0) = 4) + d = (7,7) → 7.
//   R = 3 and more: each column alone, max(4+1+1+1, 1+1+4+1) = 7.
TestLayer register_timeline() {
  TestLayer layer;
  layer.shape = conv_shape(4, 2, 1, 1, 1, 1, 1, 1, Padding{}, 1);
  layer.activations = values({15, 1, 1, 1, 1, 15, 1, 1});
  layer.weights = values({1, 1, 1, 1});
  return layer;
}

TEST(ColumnRegisters, TimelineOfFourSteps) {
  const TestLayer layer = register_timeline();
  const std::vector<std::pair<int, std::uint64_t>> expected = {{0, 10}, {1, 9}, {2, 7}, {3, 7}, {8, 7}};
  for (const auto& engine : engines_to_check())
    for (const auto& [registers, cycles] : expected) {
      ProfileConfig config = config_with(Encoding::binary, Geometry{1, 1, 2, 1});
      set_registers(config, Accelerator::pragmatic, registers);
      set_registers(config, Accelerator::laconic, registers);
      const Cycles c = run(*engine, layer, config).cycles();
      EXPECT_EQ(c.pragmatic, cycles) << engine->name() << ", R = " << registers;
      EXPECT_EQ(c.laconic, cycles) << engine->name() << ", R = " << registers;
      EXPECT_EQ(c.baseline, 4u) << engine->name();  // uniform costs: registers change nothing
      EXPECT_EQ(c.stripes, 4u * 8) << engine->name();
    }
}

TEST(ColumnRegisters, TheSharedClockFollowsTheRecurrence) {
  const std::vector<std::vector<std::uint64_t>> d = {{4, 1}, {1, 1}, {1, 4}, {1, 1}};
  for (const auto& [registers, cycles] : std::vector<std::pair<int, std::uint64_t>>{{0, 10}, {1, 9}, {2, 7}, {5, 7}}) {
    std::vector<std::uint64_t> finish(2), history(static_cast<std::size_t>(registers) + 1);
    ColumnClock clock(2, registers, finish.data(), history.data());
    for (const auto& step : d) clock.step([&](std::int64_t c) { return step[static_cast<std::size_t>(c)]; });
    EXPECT_EQ(clock.cycles(), cycles) << "R = " << registers;
  }
}

// ---------------------------------------------------------------------------
// §8 diagonal depthwise mapping. Depthwise 3 channels of 1×2, 1×1 filters,
// L = 2, Rt = 4 (L' = min(L, Rt) = 2), T = 1, Ct = 2 (both windows a set).
// Activations (binary terms), columns x = 0, 1:
//   channel 0: 3, 1 (2, 1)   channel 1: 7, 0 (3, 0)   channel 2: 1, 15 (1, 4)
// weights 1, 3, 1 (terms 1, 2, 1).
// Diagonal: filters {0, 1} then {2}, one step each.
//   Laconic   step 1: x=0 max(2·1, 3·2) = 6, x=1 max(1·1, 0·2) = 1 → 6; step 2: x=0 1, x=1 4 → 4. Σ 10.
//   Pragmatic (B = 2) step 1: x=0 lanes 3 {0,1}, 7 {0,1,2} → 3 cycles; x=1 lanes 1, 0 → 1 → 3;
//             step 2: x=0 1, x=1 15 {0,1,2,3} → 4 → 4. Σ 7; with R = 1: (3,1) then (1,4):
//             E(1) = max(E(0), M(−1) = 0) + d = (4, 5) → 5.
//   Baseline 2 steps, Stripes 2·8.
// Per group: one step per channel.
//   Laconic max(2, 1) + max(6, 0 → 1) + max(1, 4) = 2 + 6 + 4 = 12.
//   Pragmatic max(2, 1) + max(3, 1) + max(1, 4) = 9. Baseline 3, Stripes 24.
TestLayer depthwise_three_channels() {
  TestLayer layer;
  layer.shape = conv_shape(3, 1, 2, 3, 1, 1, 1, 1, Padding{}, 3);
  layer.activations = values({3, 1, 7, 0, 1, 15});
  layer.weights = values({1, 3, 1});
  return layer;
}

TEST(DepthwiseMapping, DiagonalAgainstPerGroup) {
  const TestLayer layer = depthwise_three_channels();
  for (const auto& engine : engines_to_check()) {
    ProfileConfig config = config_with(Encoding::binary, Geometry{1, 4, 2, 2});
    config.depthwise = DepthwiseMapping::diagonal;
    Cycles c = run(*engine, layer, config).cycles();
    EXPECT_EQ(c.laconic, 10u) << engine->name();
    EXPECT_EQ(c.pragmatic, 7u) << engine->name();
    EXPECT_EQ(c.baseline, 2u) << engine->name();
    EXPECT_EQ(c.stripes, 16u) << engine->name();
    set_registers(config, Accelerator::pragmatic, 1);
    EXPECT_EQ(run(*engine, layer, config).cycles().pragmatic, 5u) << engine->name();

    config.depthwise = DepthwiseMapping::per_group;
    set_registers(config, Accelerator::pragmatic, 0);
    const LayerResult r = run(*engine, layer, config);
    c = r.cycles();
    EXPECT_EQ(c.laconic, 12u) << engine->name();
    EXPECT_EQ(c.pragmatic, 9u) << engine->name();
    EXPECT_EQ(c.baseline, 3u) << engine->name();
    EXPECT_EQ(c.stripes, 24u) << engine->name();
    EXPECT_EQ(r.macs(), 6u) << engine->name();  // the mapping changes no MAC and no work
    EXPECT_EQ(r.work().laconic, 2u * 1 + 1 * 1 + 3 * 2 + 1 * 1 + 4 * 1) << engine->name();
  }
}

// ---------------------------------------------------------------------------
// §8 first-layer fold. Three channels of 4×4, padding 1 (Hp = Wp = 6), one
// 3×3 filter of weights 1, stride 2: Ho = Wo = 2. One activation is not 0:
// A[0][1][1] = 7 (3 binary terms), padded position (2, 2).
// Unfolded (T = Rt = 1, Ct = 4 holds the 4 windows, L = 16 one block): 9
// steps (r, s); window (oh, ow) reads padded (2oh + r, 2ow + s), which is
// (2, 2) for r, s ∈ {0, 2}: 4 steps cost 3, 5 cost 1 → Laconic 17.
// Folded (σ = 2): 12 channels of 3×3, a 2×2 kernel, stride 1; padded (2, 2)
// goes to channel 0 at (1, 1); output 3 − 2 + 1 = 2 per side, the same 4
// windows. 4 steps (r', s'); window (oh', ow') reads folded (oh' + r',
// ow' + s'), which is (1, 1) for exactly one window in each step: 4 steps
// cost 3 → Laconic 12. Pragmatic (one non-empty lane: 3 cycles) the same.
// Baseline 9 → 4, Stripes 72 → 32. Work: MACs 1·2·2·3·9 = 108; the 7 meets
// the weight in the 4 MACs with 2oh + r = 2ow + s = 2: laconic work 12.
TestLayer first_layer() {
  TestLayer layer;
  layer.shape = conv_shape(3, 4, 4, 1, 3, 3, 2, 2, Padding{1, 1, 1, 1}, 1);
  std::vector<std::int64_t> a(48, 0);
  a[1 * 4 + 1] = 7;
  layer.activations = values(a);
  layer.weights = values(std::vector<std::int64_t>(27, 1));
  return layer;
}

TEST(FirstLayerFold, ThreeChannelsStrideTwo) {
  const TestLayer layer = first_layer();
  const LayerShape folded = folded_shape(layer.shape);
  EXPECT_EQ(folded.channels, 12);
  EXPECT_EQ(folded.height, 3);
  EXPECT_EQ(folded.kernel_height, 2);
  EXPECT_EQ(folded.out_height(), 2);
  for (const auto& engine : engines_to_check()) {
    ProfileConfig config = config_with(Encoding::binary, Geometry{1, 1, 4, 16});
    for (bool fold : {false, true}) {
      config.fold_first_layer = fold;
      const LayerResult r = run(*engine, layer, config);
      const Cycles c = r.cycles();
      EXPECT_EQ(c.laconic, fold ? 12u : 17u) << engine->name() << ", fold " << fold;
      EXPECT_EQ(c.pragmatic, fold ? 12u : 17u) << engine->name() << ", fold " << fold;
      EXPECT_EQ(c.baseline, fold ? 4u : 9u) << engine->name() << ", fold " << fold;
      EXPECT_EQ(c.stripes, fold ? 32u : 72u) << engine->name() << ", fold " << fold;
      EXPECT_EQ(r.macs(), 108u) << engine->name();
      EXPECT_EQ(r.work().laconic, 12u) << engine->name();
    }
  }
}

TEST(FirstLayerFold, AppliesOnlyToThreeChannelsOneGroupAndAnEqualStrideAboveOne) {
  ProfileConfig config;
  EXPECT_TRUE(folds_first_layer(conv_shape(3, 8, 8, 4, 3, 3, 2, 2, Padding{}, 1), config));
  EXPECT_FALSE(folds_first_layer(conv_shape(3, 8, 8, 4, 3, 3, 1, 1, Padding{}, 1), config));
  EXPECT_FALSE(folds_first_layer(conv_shape(4, 8, 8, 4, 3, 3, 2, 2, Padding{}, 1), config));
  EXPECT_FALSE(folds_first_layer(conv_shape(3, 8, 8, 3, 3, 3, 2, 2, Padding{}, 3), config));
  EXPECT_FALSE(folds_first_layer(conv_shape(3, 8, 8, 4, 3, 3, 2, 1, Padding{}, 1), config));
  config.fold_first_layer = false;
  EXPECT_FALSE(folds_first_layer(conv_shape(3, 8, 8, 4, 3, 3, 2, 2, Padding{}, 1), config));
}

// ---------------------------------------------------------------------------
// §8 each accelerator at its own geometry, and the presets.

TEST(Presets, DnnsimIsTheDefaultAndEqualIsTheFirstModel) {
  const ProfileConfig dnnsim = ProfileConfig::preset(Preset::dnnsim);
  EXPECT_EQ(ProfileConfig{}, dnnsim);
  EXPECT_EQ(dnnsim.geometry(Accelerator::baseline), (Geometry{16, 16, 1, 16}));
  for (Accelerator a : {Accelerator::stripes, Accelerator::pragmatic, Accelerator::laconic})
    EXPECT_EQ(dnnsim.geometry(a), (Geometry{16, 16, 16, 16})) << to_string(a);
  EXPECT_EQ(dnnsim.shifter_bits, 2);
  EXPECT_EQ(dnnsim.registers(Accelerator::pragmatic), 1);
  EXPECT_EQ(dnnsim.registers(Accelerator::laconic), 0);
  EXPECT_EQ(dnnsim.depthwise, DepthwiseMapping::diagonal);
  EXPECT_TRUE(dnnsim.fold_first_layer);
  EXPECT_EQ(dnnsim.matching_preset(), Preset::dnnsim);

  const ProfileConfig equal = ProfileConfig::preset(Preset::equal);
  for (Accelerator a : kAccelerators) EXPECT_EQ(equal.geometry(a), Geometry{}) << to_string(a);
  EXPECT_EQ(equal.registers(Accelerator::pragmatic), 0);
  EXPECT_EQ(equal.depthwise, DepthwiseMapping::per_group);
  EXPECT_FALSE(equal.fold_first_layer);
  EXPECT_EQ(equal.matching_preset(), Preset::equal);

  ProfileConfig custom = dnnsim;
  custom.geometry(Accelerator::laconic).lanes = 8;
  EXPECT_FALSE(custom.matching_preset().has_value());
}

TEST(Presets, RegistersOnlyWhereTheyCanMatter) {
  ProfileConfig config;
  config.column_registers[static_cast<std::size_t>(Accelerator::stripes)] = 1;
  EXPECT_THROW(config.validate(), Error);
  config = ProfileConfig{};
  config.shifter_bits = 32;
  EXPECT_THROW(config.validate(), Error);
  config.shifter_bits = kShifterUnbounded;
  EXPECT_NO_THROW(config.validate());
  config.geometry(Accelerator::pragmatic).columns = 0;
  EXPECT_THROW(config.validate(), Error);
}

TEST(OwnGeometries, StripesOverTheOneColumnBaselineIsWindowsOverSetsTimesPrecision) {
  // §8: with the dnnsim preset Stripes' speedup on a conv layer is
  // Ho·Wo / (⌈Ho·Wo/16⌉ · p_a): 7×5 = 35 windows, 3 window sets, p_a = 8.
  Case c{"stripes", conv_shape(20, 7, 5, 40, 1, 1, 1, 1, Padding{}, 1), Geometry{}, 1, Precision{8, false},
         Precision{8, true}, 0.5};
  const TestLayer layer = random_layer(c, 3);
  for (const auto& engine : engines_to_check()) {
    const Cycles cycles = run(*engine, layer, ProfileConfig{}).cycles();
    // Steps: 35 or 3 window sets × 1 filter set × 1 offset × 2 channel blocks.
    EXPECT_EQ(cycles.baseline, 35u * 2) << engine->name();
    EXPECT_EQ(cycles.stripes, 3u * 2 * 8) << engine->name();
  }
}

TEST(OwnGeometries, EachAcceleratorCountsItsOwnSteps) {
  // The register timeline's layer (4 channels, 2 windows), Laconic at L = 2
  // (two steps of two channels: max over lanes and columns, (4,1)|(1,1) → 4
  // then (1,4)|(1,1) → 4, Σ 8), Pragmatic at L = 1, Ct = 1 (8 steps of one
  // window: 4+1+1+1 + 1+1+4+1 = 14), Stripes at Ct = 1, L = 4 (2 steps,
  // 2·8), the baseline at Ct = 2, L = 1 (4 steps).
  const TestLayer layer = register_timeline();
  ProfileConfig config = config_with(Encoding::binary, Geometry{1, 1, 2, 1});
  config.geometry(Accelerator::laconic) = Geometry{1, 1, 2, 2};
  config.geometry(Accelerator::pragmatic) = Geometry{1, 1, 1, 1};
  config.geometry(Accelerator::stripes) = Geometry{1, 1, 1, 4};
  for (const auto& engine : engines_to_check()) {
    const Cycles c = run(*engine, layer, config).cycles();
    EXPECT_EQ(c.laconic, 8u) << engine->name();
    EXPECT_EQ(c.pragmatic, 14u) << engine->name();
    EXPECT_EQ(c.stripes, 16u) << engine->name();
    EXPECT_EQ(c.baseline, 4u) << engine->name();
  }
}

TEST(OwnGeometries, FullyConnectedPragmaticUsesItsOwnRecurrence) {
  // a = [3 0 1 7] (binary positions {0,1}, {}, {0}, {0,1,2}); Pragmatic at
  // T = Rt = 1 (2 filter sets for K = 2), L = 2, Ct = 2, B = 2: block costs
  // are those of the lanes alone, the same in each filter set:
  //   block 0: lanes {0,1}, {} → 2; block 1: lanes {0}, {0,1,2} → 3.
  // Recurrence: b0 busy0 = 2, now 1 | b1 busy1 = 1 + 3 = 4, now 2 |
  //             b0 now 2 busy0 = 4, now 3 | b1 now max(3, 4) busy1 = 7 → 7.
  TestLayer layer;
  layer.shape = fc_shape(4, 2);
  layer.activations = values({3, 0, 1, 7});
  layer.weights = values({1, 1, 0, 3, 0, 0, 0, 0});
  ProfileConfig config = config_with(Encoding::binary, Geometry{16, 16, 16, 16});
  config.geometry(Accelerator::pragmatic) = Geometry{1, 1, 2, 2};
  for (const auto& engine : engines_to_check()) EXPECT_EQ(run(*engine, layer, config).cycles().pragmatic, 7u) << engine->name();
}

// ---------------------------------------------------------------------------
// A DNNsim model directory under the dnnsim preset, with the numbers DNNsim's
// own cycle code gives (docs/dnnsim.md: BitPragmatic's process_pe and column
// registers, Laconic's lockstep step, DaDianNao one cycle and Stripes p_a a
// step, all at the example configurations).
//
// conv1: 32 channels of 2×1, one 1×1 filter of weights 1, stride 1, no
// padding: two windows (one window set of the 16-column tiles, two of the
// one-column baseline) and two channel blocks of 16 lanes. Block 0 holds 7
// in every lane of window 0 and 1 in window 1; block 1 the other way round.
// Float32 integers without precision.txt: 16-bit values (MODEL.md §7).
//   binary: 7 → {0,1,2}; sixteen equal lanes take one position each a cycle:
//     column costs d(0) = (3,1), d(1) = (1,3).
//   dnnsim-booth: 7 = 111 → {3, 0}; B = 2 reaches 0…3, so {0} then {3}: 2
//     cycles: d(0) = (2,1), d(1) = (1,2).
//   Pragmatic, R = 0: Σ max = 6 (binary), 4 (dnnsim-booth); R = 1 (the
//     preset): E(0) = d(0), E(1) = max(E(0), M(−1) = 0) + d(1) = (4,4) → 4,
//     and (3,3) → 3.
//   Laconic (lockstep): each block's step is max t(a)·t(1) = 3 (2), Σ 6 (4).
//   Baseline: 2 window sets × 2 blocks = 4. Stripes: 1 × 2 × 16 = 32.
TEST(DnnsimLayout, ThePresetGivesDnnsimsCycles) {
  test::TempDir dir;
  std::filesystem::create_directories(dir.path() / "models" / "net");
  std::filesystem::create_directories(dir.path() / "net_traces" / "net");
  test::write_bytes(dir.file("models/net/model.csv"), "conv1,conv,1,0\n");
  std::vector<double> a(32 * 2);
  for (int c = 0; c < 32; ++c) {
    a[static_cast<std::size_t>(c * 2 + 0)] = c < 16 ? 7 : 1;  // window 0
    a[static_cast<std::size_t>(c * 2 + 1)] = c < 16 ? 1 : 7;  // window 1
  }
  write_npy(dir.file("net_traces/net/act-conv1-0.npy"), DType::f4, {1, 32, 2, 1},
            test::encode(DType::f4, a).data());
  write_npy(dir.file("net_traces/net/wgt-conv1.npy"), DType::f4, {1, 32, 1, 1},
            test::encode(DType::f4, std::vector<double>(32, 1)).data());
  const Network net = load_dnnsim(dir.file("models/net"));
  ASSERT_EQ(net.layers.size(), 1u);
  const LayerInput in = net.layers[0].input();
  struct Expected {
    Encoding encoding;
    int pragmatic_registers;
    std::uint64_t pragmatic, laconic;
  };
  for (const Expected& e : std::vector<Expected>{{Encoding::binary, 1, 4, 6},
                                                 {Encoding::binary, 0, 6, 6},
                                                 {Encoding::dnnsim_booth, 1, 3, 4},
                                                 {Encoding::dnnsim_booth, 0, 4, 4}}) {
    ProfileConfig config = ProfileConfig::preset(Preset::dnnsim);
    config.encoding = e.encoding;
    set_registers(config, Accelerator::pragmatic, e.pragmatic_registers);
    for (const auto& engine : engines_to_check()) {
      const Cycles c = engine->profile(in, SampleRange{0, 1}, config).cycles();
      const std::string what = std::string(engine->name()) + ", " + std::string(to_string(e.encoding)) + ", R = " +
                               std::to_string(e.pragmatic_registers);
      EXPECT_EQ(c.baseline, 4u) << what;
      EXPECT_EQ(c.stripes, 32u) << what;
      EXPECT_EQ(c.pragmatic, e.pragmatic) << what;
      EXPECT_EQ(c.laconic, e.laconic) << what;
    }
  }
}

}  // namespace
}  // namespace laconic
