// The engines: hand-worked examples of MODEL.md §4 and §5, then the cpu
// engine against the reference engine on seeded random layers across edge
// shapes. A failure prints the layer, the geometry and the seed.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstdint>
#include <iostream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "engine_cases.hpp"
#include "laconic/engine.hpp"
#include "laconic/error.hpp"

namespace laconic {
namespace {

using namespace testing_engines;

// ---------------------------------------------------------------------------
// Hand-worked examples. Binary terms: t(1)=1, t(2)=1, t(3)=2, t(5)=2, t(7)=3.

// A 3x3 single-channel input, one 2x2 filter, stride 1, no padding:
//   A = [1 0 3; 2 7 0; 0 5 1],  W = [3 1; 0 2],  p_a = 8, P_base = 16.
// Output 2x2, MACs = 1·2·2·1·2·2 = 16.
TestLayer small_conv() {
  TestLayer l;
  l.shape.type = LayerType::conv;
  l.shape.channels = 1;
  l.shape.height = l.shape.width = 3;
  l.shape.filters = 1;
  l.shape.kernel_height = l.shape.kernel_width = 2;
  l.activations = std::make_unique<VectorSource>(std::vector<std::int64_t>{1, 0, 3, 2, 7, 0, 0, 5, 1});
  l.weights = std::make_unique<VectorSource>(std::vector<std::int64_t>{3, 1, 0, 2});
  return l;
}

TEST(HandWorked, ConvWork) {
  // Windows (oh,ow) and their patches [a(r,s)] against W with t(w) = [2 1; 0 1]:
  //   (0,0) [1 0; 2 7]: laconic 1·2 + 0 + 1·0 + 3·1 = 5; a,w both non-zero: (1,3),(7,2) = 2; Σt(a) = 5
  //   (0,1) [0 3; 7 0]: 0 + 2·1 + 0 + 0 = 2;                                 (3,1)       = 1; Σt(a) = 5
  //   (1,0) [2 7; 0 5]: 1·2 + 3·1 + 0 + 2·1 = 7;                     (2,3),(7,1),(5,2) = 3; Σt(a) = 6
  //   (1,1) [7 0; 5 1]: 3·2 + 0 + 2·0 + 1·1 = 7;                           (7,3),(1,2) = 2; Σt(a) = 6
  // laconic = 21, zero_skip = 16·16·8 = 2048, pragmatic = 16·22 = 352,
  // baseline = 16·16·16 = 4096, stripes = 8·16·16 = 2048.
  const TestLayer layer = small_conv();
  const ProfileConfig config = config_with(Encoding::binary, Geometry{1, 1, 2, 1});
  for (const auto& engine : engines_to_check()) {
    const LayerResult r = run(*engine, layer, config);
    ASSERT_EQ(r.per_sample.size(), 1u);
    EXPECT_EQ(r.macs(), 16u) << engine->name();
    EXPECT_EQ(r.work().laconic, 21u) << engine->name();
    EXPECT_EQ(r.work().zero_skip, 2048u) << engine->name();
    EXPECT_EQ(r.work().pragmatic, 352u) << engine->name();
    EXPECT_EQ(r.work().baseline, 4096u) << engine->name();
    EXPECT_EQ(r.work().stripes, 2048u) << engine->name();
  }
}

TEST(HandWorked, ConvCycles) {
  // Geometry T=1, Rt=1, Ct=2, L=1. Windows in oh-fastest order: (0,0), (1,0),
  // (0,1), (1,1); window sets {(0,0),(1,0)} and {(0,1),(1,1)}; one filter set,
  // one channel block; one step per (window set, r, s): 8 steps, so baseline
  // 8 and Stripes 8·p_a = 64. Laconic step = max(1, max over the set's
  // windows of t(a)·t(w(r,s))):
  //   set 0: (0,0): a 1,2 → 1·2 = 2; (0,1): a 0,7 → 3·1 = 3; (1,0): w 0 → 1; (1,1): a 7,5 → 3·1 = 3; sum 9
  //   set 1: (0,0): a 0,7 → 3·2 = 6; (0,1): a 3,0 → 2·1 = 2; (1,0): 1;       (1,1): a 0,1 → 1·1 = 1; sum 10
  // Laconic cycles = 19.
  const TestLayer layer = small_conv();
  const ProfileConfig config = config_with(Encoding::binary, Geometry{1, 1, 2, 1});
  for (const auto& engine : engines_to_check()) {
    const Cycles c = run(*engine, layer, config).cycles();
    EXPECT_EQ(c.baseline, 8u) << engine->name();
    EXPECT_EQ(c.stripes, 64u) << engine->name();
    EXPECT_EQ(c.laconic, 19u) << engine->name();
  }
}

TEST(HandWorked, ConvCyclesWithPaddingAndTwoLanes) {
  // Same input with padding 1 on every side and a 1x1 filter W = [2] (t 1),
  // two channels (the second all zero, weight 0) so one block holds both
  // lanes: Ho = Wo = 5, 25 windows; Ct = 16 gives window sets of 16 and 9.
  // Set 0 holds the windows of columns ow = 0, 1, 2 and ow = 3 for oh 0..0
  // (16 = 5+5+5+1): padded positions (row oh, column ow) of the padded input,
  // which touch every real value in columns x = 0, 1 (padded 1, 2): max t(a)
  // there = t(7) = 3. Set 1 holds columns ow = 3 (oh 1..4) and 4: real
  // values of column x = 2 (3, 0, 1): max t = 2. Cycles: 3·1 + 2·1 = 5.
  TestLayer layer;
  layer.shape.type = LayerType::conv;
  layer.shape.channels = 2;
  layer.shape.height = layer.shape.width = 3;
  layer.shape.filters = 1;
  layer.shape.padding = Padding{1, 1, 1, 1};
  layer.activations = std::make_unique<VectorSource>(
      std::vector<std::int64_t>{1, 0, 3, 2, 7, 0, 0, 5, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0});
  layer.weights = std::make_unique<VectorSource>(std::vector<std::int64_t>{2, 0});
  const ProfileConfig config = config_with(Encoding::binary, Geometry{16, 16, 16, 16});
  for (const auto& engine : engines_to_check()) {
    const LayerResult r = run(*engine, layer, config);
    EXPECT_EQ(r.macs(), 50u) << engine->name();  // 1·5·5·2·1·1
    EXPECT_EQ(r.cycles().baseline, 2u) << engine->name();
    EXPECT_EQ(r.cycles().laconic, 5u) << engine->name();
    // Work: the 1x1 filter touches every real value once: Σt(a) = 1+2+1+3+2+1 = 10.
    EXPECT_EQ(r.work().laconic, 10u) << engine->name();
  }
}

TEST(HandWorked, FullyConnectedRecurrence) {
  // a = [3 0 1 7] (t 2 0 1 3); W[0] = [1 1 0 3] (t 1 1 0 2), W[1] = 0.
  // T=1, Rt=1 (one filter per set), L=2 (blocks of two channels), Ct=2.
  // Block costs: set 0: b0 max(2·1, 0) = 2, b1 max(1·0, 3·2) = 6; set 1: 1, 1.
  //   laconic: b0 now 0 busy0 = 2, now 1 | b1 now 1 busy1 = 7, now 2 |
  //            b0 now max(2,2) = 2 busy0 = 3, now 3 | b1 now max(3,7) = 7 busy1 = 8 → 8
  //   baseline (cost 1): busy0 1, busy1 2, busy0 3, busy1 4 → 4
  //   stripes (cost 8): busy0 8; busy1 9; now max(2,8) busy0 16, now 9; now max(9,9) busy1 17 → 17
  // Work: MACs 8; laconic Σ t(a)t(w) = 2 + 0 + 0 + 6 = 8; zero_skip pairs
  // (3,1),(7,3) → 2·256 = 512; pragmatic 16·2·(2+0+1+3) = 192.
  TestLayer layer;
  layer.shape.type = LayerType::fc;
  layer.shape.channels = 4;
  layer.shape.filters = 2;
  layer.activations = std::make_unique<VectorSource>(std::vector<std::int64_t>{3, 0, 1, 7});
  layer.weights = std::make_unique<VectorSource>(std::vector<std::int64_t>{1, 1, 0, 3, 0, 0, 0, 0});
  const ProfileConfig config = config_with(Encoding::binary, Geometry{1, 1, 2, 2});
  for (const auto& engine : engines_to_check()) {
    const LayerResult r = run(*engine, layer, config);
    EXPECT_EQ(r.cycles().laconic, 8u) << engine->name();
    EXPECT_EQ(r.cycles().baseline, 4u) << engine->name();
    EXPECT_EQ(r.cycles().stripes, 17u) << engine->name();
    EXPECT_EQ(r.macs(), 8u) << engine->name();
    EXPECT_EQ(r.work().laconic, 8u) << engine->name();
    EXPECT_EQ(r.work().zero_skip, 512u) << engine->name();
    EXPECT_EQ(r.work().pragmatic, 192u) << engine->name();
  }
}

TEST(HandWorked, BoothSingleMac) {
  // One MAC, a = 54 (Booth: 4 terms), w = -15 (2 terms): laconic work 8, one
  // step of 8 cycles; pragmatic 4·16; histograms hold one value each.
  TestLayer layer;
  layer.shape.type = LayerType::fc;
  layer.shape.channels = 1;
  layer.shape.filters = 1;
  layer.activations = std::make_unique<VectorSource>(std::vector<std::int64_t>{54});
  layer.weights = std::make_unique<VectorSource>(std::vector<std::int64_t>{-15});
  const ProfileConfig config = config_with(Encoding::booth, Geometry{});
  for (const auto& engine : engines_to_check()) {
    const LayerResult r = run(*engine, layer, config);
    EXPECT_EQ(r.work().laconic, 8u);
    EXPECT_EQ(r.work().pragmatic, 64u);
    EXPECT_EQ(r.cycles().laconic, 8u);
    EXPECT_EQ(r.activation_terms.histogram[4], 1u);
    EXPECT_EQ(r.weight_terms.histogram[2], 1u);
  }
}

TEST(HandWorked, AllZeroLayerCostsOneCyclePerStep) {
  // Zero activations: no Laconic work, zero-skip work 0 (potential speedup
  // inf), and every step still costs one cycle.
  TestLayer layer = small_conv();
  layer.activations = std::make_unique<VectorSource>(std::vector<std::int64_t>(9, 0));
  const ProfileConfig config = config_with(Encoding::booth, Geometry{1, 1, 2, 1});
  for (const auto& engine : engines_to_check()) {
    const LayerResult r = run(*engine, layer, config);
    EXPECT_EQ(r.work().laconic, 0u);
    EXPECT_EQ(r.work().zero_skip, 0u);
    EXPECT_EQ(r.cycles().laconic, r.cycles().baseline);
    EXPECT_TRUE(std::isinf(speedup(r.work().baseline, r.work().laconic)));
  }
}

// ---------------------------------------------------------------------------
// cpu against reference on seeded random layers.

// One test per edge shape: the reference engine's counts, computed once per
// seed, option set and encoding, against every fast engine's.
class FastEngineMatchesReference : public ::testing::TestWithParam<std::size_t> {};

TEST_P(FastEngineMatchesReference, OnSeededRandomLayers) {
  const std::size_t index = GetParam();
  const Case c = edge_cases()[index];
  std::vector<std::pair<std::string, std::unique_ptr<Engine>>> engines;
  for (const std::string& name : fast_engine_names())
    if (auto engine = make_named_engine(name)) engines.emplace_back(name, std::move(engine));
  const auto reference = make_reference_engine();
  const std::vector<OptionSet> options = option_sets();
  for (std::uint64_t seed : {1u, 2u}) {
    const TestLayer layer = random_layer(c, seed * 1000 + index);
    for (std::size_t o = 0; o < options.size(); ++o)
      for (Encoding encoding : encodings_for(o)) {
        const ProfileConfig config = options[o].make(encoding, c.geometry);
        const LayerResult expected = run(*reference, layer, config);
        ASSERT_EQ(expected.macs(), c.samples * static_cast<std::uint64_t>(c.shape.macs_per_sample()));
        for (const auto& [name, engine] : engines) {
          const LayerResult actual = run(*engine, layer, config);
          ASSERT_EQ(expected, actual) << name << " engine, " << describe(c, seed * 1000 + index) << ", options "
                                      << options[o].label << ", encoding " << to_string(encoding)
                                      << "\n  reference work " << expected.work().laconic << " cycles baseline "
                                      << expected.cycles().baseline << " stripes " << expected.cycles().stripes
                                      << " pragmatic " << expected.cycles().pragmatic << " laconic "
                                      << expected.cycles().laconic << "\n  " << name << " work "
                                      << actual.work().laconic << " cycles baseline " << actual.cycles().baseline
                                      << " stripes " << actual.cycles().stripes << " pragmatic "
                                      << actual.cycles().pragmatic << " laconic " << actual.cycles().laconic;
        }
      }
  }
  if (!cuda_usable()) std::cout << "[ NOTE     ] cuda engine not checked: no usable CUDA device\n";
}

INSTANTIATE_TEST_SUITE_P(EdgeShapes, FastEngineMatchesReference, ::testing::Range<std::size_t>(0, edge_cases().size()),
                         [](const ::testing::TestParamInfo<FastEngineMatchesReference::ParamType>& param_info) {
                           std::string name = edge_cases()[param_info.param].label;
                           for (char& ch : name)
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return name;
                         });

TEST(CpuEngine, SameCountsForAnyThreadCount) {
  Case c{"threads", conv_shape(9, 10, 10, 20, 3, 3, 1, 1, Padding{1, 1, 1, 1}, 1), Geometry{2, 3, 5, 4}, 5,
         Precision{8, false}, Precision{8, true}, 0.5};
  const TestLayer layer = random_layer(c, 7);
  const auto cpu = make_cpu_engine();
  const ProfileConfig config = config_with(Encoding::booth, c.geometry);
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  const LayerResult one = run(*cpu, layer, config);
  for (int threads : {2, 3, 7}) {
    omp_set_num_threads(threads);
    EXPECT_EQ(run(*cpu, layer, config), one) << threads << " threads";
  }
  omp_set_num_threads(saved);
}

TEST(CpuEngine, DisjointSampleRangesMergeIntoTheWhole) {
  Case c{"merge", conv_shape(6, 7, 7, 5, 3, 3, 1, 1, Padding{1, 1, 1, 1}, 1), Geometry{}, 4, Precision{8, false},
         Precision{8, true}, 0.5};
  const TestLayer layer = random_layer(c, 11);
  const LayerInput in = layer.input();
  const ProfileConfig config = config_with(Encoding::naf, c.geometry);
  for (const auto& engine : engines_to_check()) {
    const LayerResult whole = engine->profile(in, SampleRange{0, 4}, config);
    LayerResult parts = engine->profile(in, SampleRange{3, 4}, config);
    parts.merge(engine->profile(in, SampleRange{0, 1}, config));
    parts.merge(engine->profile(in, SampleRange{1, 3}, config));
    EXPECT_EQ(parts, whole) << engine->name();
    EXPECT_THROW(parts.merge(engine->profile(in, SampleRange{2, 3}, config)), std::logic_error);
  }
}

TEST(Engines, RejectRangesOutsideTheTrace) {
  const TestLayer layer = small_conv();
  const LayerInput in = layer.input();
  for (const auto& engine : engines_to_check()) {
    EXPECT_THROW(engine->profile(in, SampleRange{0, 2}, ProfileConfig{}), Error);
    EXPECT_THROW(engine->profile(in, SampleRange{1, 0}, ProfileConfig{}), Error);
  }
}

TEST(Engines, AnInvalidValueIsAnErrorOnEveryPath) {
  // One sample (threads within the sample) and many samples (threads across
  // samples), the bad value in the first and in a later sample: each run
  // ends with the source's own error, never a crash or a partial result.
  Case c{"bad value", conv_shape(64, 40, 40, 8, 3, 3, 1, 1, Padding{1, 1, 1, 1}, 1), Geometry{}, 12,
         Precision{8, false}, Precision{8, true}, 0.5};
  const TestLayer layer = random_layer(c, 5);
  const std::uint64_t per_sample = static_cast<std::uint64_t>(c.shape.activations_per_sample());
  for (std::uint64_t bad : {per_sample / 2, 9 * per_sample + 77}) {
    const SourceWithBadValue source(layer.activations->values(), bad);
    LayerInput in = layer.input();
    in.activations = &source;
    for (const auto& engine : engines_to_check())
      for (SampleRange range : {SampleRange{bad / per_sample, bad / per_sample + 1}, SampleRange{0, 12}}) {
        try {
          engine->profile(in, range, ProfileConfig{});
          ADD_FAILURE() << engine->name() << ": no error for a bad value at " << bad;
        } catch (const Error& e) {
          EXPECT_EQ(std::string(e.what()), "trace.npy: element " + std::to_string(bad) + " is NaN") << engine->name();
        }
      }
  }
}

TEST(Engines, OnlyTheRequestedFiguresAreComputed) {
  const TestLayer layer = small_conv();
  ProfileConfig config = config_with(Encoding::binary, Geometry{1, 1, 2, 1});
  config.compute_cycles = false;
  for (const auto& engine : engines_to_check()) {
    const LayerResult r = run(*engine, layer, config);
    EXPECT_EQ(r.work().laconic, 21u);
    EXPECT_EQ(r.cycles(), Cycles{});
  }
}

}  // namespace
}  // namespace laconic
