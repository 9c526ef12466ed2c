// The cuda engine's host-side logic, on the CPU: batch planning under a
// memory budget, narrowing traces to magnitudes, the driver's batching and
// merging (through the emulation backend, which runs the kernels' bodies in
// loops), and the engine choice. The cuda engine itself runs the same seeded
// cases in test_engines.cpp where a device answers; here, the tests that need
// one skip themselves.
#include <gtest/gtest.h>
#include <omp.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "engine_cases.hpp"
#include "laconic/device.hpp"
#include "laconic/grid.hpp"
#include "laconic/model.hpp"

namespace laconic {
namespace {

using namespace testing_engines;
using grid::BatchPlan;
using grid::GridOptions;
using grid::LayerParams;

LayerParams params_of(const LayerShape& shape, Geometry geometry = {}) {
  return grid::make_params(shape, config_with(Encoding::booth, geometry));
}

TEST(GridPlan, ASmallLayerIsOneBatch) {
  const LayerShape shape = conv_shape(16, 8, 8, 32, 3, 3, 1, 1, Padding{1, 1, 1, 1}, 1);
  const BatchPlan plan = grid::plan_batches("l", params_of(shape), Precision{8, false}, Precision{8, true}, 10, {});
  EXPECT_EQ(plan.samples_per_batch, 10u);
  EXPECT_EQ(plan.batches, 1u);
  EXPECT_EQ(plan.staging_bytes_per_sample, 16u * 8 * 8);
  // magnitudes + terms + window maxima (1 group × ⌈64/16⌉ window sets × 9 offsets × 16 channels) + sums.
  EXPECT_EQ(plan.bytes_per_sample, 1024u + 1024u + 4u * 9 * 16 + 4 * 8);
}

TEST(GridPlan, StagingSizeCutsALayerIntoBatches) {
  const LayerShape shape = conv_shape(16, 8, 8, 32, 3, 3, 1, 1, Padding{1, 1, 1, 1}, 1);
  GridOptions options;
  options.max_batch_bytes = 3 * 2048 + 100;  // three 16-bit samples
  const BatchPlan plan = grid::plan_batches("l", params_of(shape), Precision{16, true}, Precision{8, true}, 10, options);
  EXPECT_EQ(plan.samples_per_batch, 3u);
  EXPECT_EQ(plan.batches, 4u);  // 3 + 3 + 3 + 1
  options.max_batch_bytes = 1;  // never less than one sample
  EXPECT_EQ(grid::plan_batches("l", params_of(shape), Precision{16, true}, Precision{8, true}, 10, options).batches,
            10u);
}

TEST(GridPlan, TheBudgetBoundsTheFootprint) {
  std::mt19937_64 rng(3);
  for (int trial = 0; trial < 200; ++trial) {
    auto pick = [&](std::int64_t lo, std::int64_t hi) {
      return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng);
    };
    const std::int64_t k = pick(1, 3);
    const LayerShape shape = conv_shape(8 * k, pick(3, 60), pick(3, 60), 16 * pick(1, 20), 3, 3, pick(1, 2), 1,
                                        Padding{1, 1, 1, 1}, 1);
    const LayerParams p = params_of(shape);
    GridOptions options;
    options.slots = static_cast<int>(pick(1, 4));
    options.max_batch_bytes = static_cast<std::uint64_t>(pick(1, 1 << 22));
    options.memory_budget = grid::kScratchAllowance + static_cast<std::uint64_t>(pick(1 << 18, 1 << 24));
    const std::uint64_t samples = static_cast<std::uint64_t>(pick(1, 5000));
    BatchPlan plan;
    try {
      plan = grid::plan_batches("l", p, Precision{8, false}, Precision{8, true}, samples, options);
    } catch (const Error& e) {
      // Only when one sample per slot does not fit.
      BatchPlan unlimited = grid::plan_batches("l", p, Precision{8, false}, Precision{8, true}, samples, {});
      EXPECT_GT(unlimited.weight_bytes + grid::kScratchAllowance +
                    static_cast<std::uint64_t>(options.slots) * (unlimited.bytes_per_sample + grid::kBins * 8),
                options.memory_budget)
          << e.what();
      continue;
    }
    EXPECT_GE(plan.samples_per_batch, 1u);
    EXPECT_LE(plan.device_bytes, options.memory_budget);
    EXPECT_GE(plan.samples_per_batch * plan.batches, samples);
    EXPECT_LT((plan.batches - 1) * plan.samples_per_batch, samples);
    EXPECT_TRUE(plan.samples_per_batch == 1 ||
                plan.samples_per_batch * plan.staging_bytes_per_sample <= options.max_batch_bytes);
  }
}

TEST(GridPlan, ALayerOverTheBudgetNamesItselfAndTheOption) {
  const LayerShape shape = conv_shape(512, 56, 56, 512, 3, 3, 1, 1, Padding{1, 1, 1, 1}, 1);
  GridOptions options;
  options.memory_budget = 1 << 20;
  try {
    grid::plan_batches("conv4_2", params_of(shape), Precision{16, true}, Precision{16, true}, 4, options);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("conv4_2"), std::string::npos) << what;
    EXPECT_NE(what.find("--device-memory"), std::string::npos) << what;
  }
}

TEST(GridPlan, ABatchNeverHoldsMoreValuesThanThirtyTwoBitCountersAllow) {
  const LayerShape shape = fc_shape(1 << 20, 4);
  GridOptions options;
  options.max_batch_bytes = std::uint64_t{1} << 40;
  const BatchPlan plan = grid::plan_batches("fc", params_of(shape), Precision{8, false}, Precision{8, true},
                                            5000, options);
  EXPECT_LE(plan.samples_per_batch << 20, grid::kMaxBatchValues);
  EXPECT_EQ(plan.samples_per_batch, grid::kMaxBatchValues >> 20);
}

TEST(GridMagnitudes, NarrowestTypeForTheWidth) {
  EXPECT_EQ(grid::magnitude_bytes(Precision{1, false}), 1);
  EXPECT_EQ(grid::magnitude_bytes(Precision{8, false}), 1);
  EXPECT_EQ(grid::magnitude_bytes(Precision{8, true}), 1);
  EXPECT_EQ(grid::magnitude_bytes(Precision{9, true}), 2);
  EXPECT_EQ(grid::magnitude_bytes(Precision{16, false}), 2);
  EXPECT_EQ(grid::magnitude_bytes(Precision{17, true}), 4);
  EXPECT_EQ(grid::magnitude_bytes(Precision{32, false}), 4);
}

TEST(GridMagnitudes, ExtremesOfEveryWidthSurviveNarrowing) {
  for (int bits : {1, 4, 8, 9, 16, 17, 31, 32}) {
    for (bool is_signed : {false, true}) {
      const Precision p{bits, is_signed};
      const std::vector<std::int64_t> values{p.min_value(), p.max_value(), 0, p.min_value() / 2};
      const VectorSource source(values);
      std::vector<std::uint8_t> out(values.size() * 4);
      grid::read_magnitudes(source, 0, values.size(), p, out.data(), false);
      for (std::size_t i = 0; i < values.size(); ++i) {
        std::uint64_t m = 0;
        switch (grid::magnitude_bytes(p)) {
          case 1: m = out[i]; break;
          case 2: m = reinterpret_cast<const std::uint16_t*>(out.data())[i]; break;
          default: m = reinterpret_cast<const std::uint32_t*>(out.data())[i]; break;
        }
        EXPECT_EQ(m, magnitude(values[i])) << bits << (is_signed ? " signed " : " unsigned ") << values[i];
      }
    }
  }
}

TEST(GridMagnitudes, AValueWiderThanDeclaredIsAnErrorNamingTheElement) {
  std::vector<std::int64_t> values(100000, 3);
  values[70001] = -256;  // |v| = 2^8 does not fit 8 bits
  const VectorSource source(values, "act.npy");
  std::vector<std::uint8_t> out(values.size());
  try {
    grid::read_magnitudes(source, 0, values.size(), Precision{8, true}, out.data(), true);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "act.npy: element 70001: value -256 does not fit the declared width of 8 bits");
  }
}

TEST(GridBodies, EveryStepIsCountedOnce) {
  // With all maxima 1 every step costs 1: the step body's index decoding must
  // visit each (sample, group, window set, filter set, offset, block) once.
  const LayerShape shape = conv_shape(12, 7, 9, 20, 3, 2, 2, 1, Padding{1, 0, 2, 1}, 2);
  const Geometry geometry{2, 3, 5, 4};
  const LayerParams p = params_of(shape, geometry);
  const std::uint64_t samples = 3;
  std::vector<std::uint8_t> act_max(samples * grid::act_max_bytes_per_sample(p), 1);
  std::vector<std::uint8_t> weight_max(static_cast<std::size_t>(p.groups * p.filter_sets * p.rs * p.cg), 1);
  std::vector<std::uint64_t> acc(samples * grid::kAccumulators, 0);
  for (std::uint64_t i = 0; i < grid::conv_step_body_count(p, samples); ++i)
    grid::conv_step_body(i, p, act_max.data(), weight_max.data(), acc.data());
  for (std::uint64_t n = 0; n < samples; ++n)
    EXPECT_EQ(acc[n * grid::kAccumulators + grid::kLaconicCycles],
              step_plan(shape, geometry, false).steps());
}

TEST(GridEngine, SameCountsForAnyThreadCountAndBatching) {
  Case c{"threads", conv_shape(9, 10, 10, 20, 3, 3, 1, 1, Padding{1, 1, 1, 1}, 1), Geometry{2, 3, 5, 4}, 7,
         Precision{8, false}, Precision{8, true}, 0.5};
  const TestLayer layer = random_layer(c, 17);
  const ProfileConfig config = config_with(Encoding::booth, c.geometry);
  const LayerResult expected = run(*make_reference_engine(), layer, config);
  const int saved = omp_get_max_threads();
  for (int threads : {1, 2, 5}) {
    omp_set_num_threads(threads);
    for (std::uint64_t batch_bytes : {std::uint64_t{1}, std::uint64_t{2 * 900}, std::uint64_t{1} << 30})
      for (int slots : {1, 2, 4}) {
        GridOptions options;
        options.max_batch_bytes = batch_bytes;
        options.slots = slots;
        EXPECT_EQ(run(*grid::make_emulated_grid_engine(options), layer, config), expected)
            << threads << " threads, batches of " << batch_bytes << " bytes, " << slots << " slots";
      }
  }
  omp_set_num_threads(saved);
}

TEST(GridEngine, ARangeInsideTheTraceGivesThoseSamples) {
  Case c{"range", conv_shape(5, 6, 6, 7, 3, 3, 2, 2, Padding{1, 1, 1, 1}, 1), Geometry{2, 2, 3, 2}, 9,
         Precision{8, false}, Precision{8, true}, 0.4};
  const TestLayer layer = random_layer(c, 23);
  const LayerInput in = layer.input();
  GridOptions options;
  options.max_batch_bytes = 2 * 180;  // two samples per batch
  const auto engine = grid::make_emulated_grid_engine(options);
  const auto reference = make_reference_engine();
  for (SampleRange range : {SampleRange{3, 8}, SampleRange{8, 9}, SampleRange{4, 4}}) {
    const LayerResult expected = reference->profile(in, range, config_with(Encoding::naf, c.geometry));
    const LayerResult actual = engine->profile(in, range, config_with(Encoding::naf, c.geometry));
    EXPECT_EQ(actual, expected) << range.begin << ".." << range.end;
  }
}

TEST(GridEngine, AfterAFailedLayerTheNextOneIsRight) {
  // An error in the third batch leaves batches in flight; the engine must
  // wait for them and start the next layer clean.
  Case c{"after error", conv_shape(4, 6, 6, 5, 3, 3, 1, 1, Padding{1, 1, 1, 1}, 1), Geometry{}, 6,
         Precision{8, false}, Precision{8, true}, 0.3};
  const TestLayer layer = random_layer(c, 29);
  const SourceWithBadValue bad(layer.activations->values(), 2 * 144 + 5);
  LayerInput broken = layer.input();
  broken.activations = &bad;
  GridOptions options;
  options.max_batch_bytes = 144;
  options.slots = 2;
  const auto engine = grid::make_emulated_grid_engine(options);
  EXPECT_THROW(engine->profile(broken, SampleRange{0, 6}, ProfileConfig{}), Error);
  EXPECT_EQ(run(*engine, layer, ProfileConfig{}), run(*make_reference_engine(), layer, ProfileConfig{}));
}

// ---------------------------------------------------------------------------
// Choosing the engine.

TEST(EngineChoice, AutoFallsBackToTheCpuWithANoteWhereNoDeviceAnswers) {
  std::string note;
  const auto engine = make_engine(EngineKind::automatic, &note);
  if (probe_devices().usable()) {
    EXPECT_EQ(engine->name(), "cuda");
    EXPECT_TRUE(note.empty()) << note;
  } else {
    EXPECT_EQ(engine->name(), "cpu");
    EXPECT_NE(note.find("using the cpu engine"), std::string::npos) << note;
  }
}

TEST(EngineChoice, CudaWithoutADeviceIsAnErrorThatSaysWhy) {
  if (probe_devices().usable()) GTEST_SKIP() << "a CUDA device is usable here";
  try {
    make_engine(EngineKind::cuda);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no usable CUDA device"), std::string::npos) << e.what();
  }
}

// ---------------------------------------------------------------------------
// On a device: sizes past 32-bit counters.

// Values generated from their index: a trace of any size without memory.
class GeneratedSource final : public TensorSource {
 public:
  GeneratedSource(std::uint64_t size, int bits) : size_(size), mask_((std::int64_t{1} << bits) - 1) {}
  std::uint64_t size() const override { return size_; }
  void read(std::uint64_t first, std::uint64_t count, std::int64_t* out) const override {
    for (std::uint64_t i = 0; i < count; ++i) {
      const std::uint64_t x = (first + i) * 0x9E3779B97F4A7C15ULL;
      out[i] = (x >> 61) < 3 ? 0 : static_cast<std::int64_t>(x >> 40) & mask_;  // 3/8 zeros
    }
  }
  std::string name() const override { return "generated"; }

 private:
  std::uint64_t size_;
  std::int64_t mask_;
};

TEST(CudaLarge, MoreThanTwoToTheThirtyTwoValuesInOneLayer) {
  if (!cuda_usable()) GTEST_SKIP() << "no usable CUDA device: " << probe_devices().describe();
  // 1×1 conv, 256 channels of 128×128 per sample, 1040 samples: 4.36e9
  // activations (> 2^32 histogram entries, > 2^31 values over the batches).
  LayerShape shape = conv_shape(256, 128, 128, 16, 1, 1, 1, 1, Padding{}, 1);
  const std::uint64_t samples = 1040;
  const GeneratedSource activations(samples * static_cast<std::uint64_t>(shape.activations_per_sample()), 8);
  const GeneratedSource weights(static_cast<std::uint64_t>(shape.weight_count()), 7);
  LayerInput in;
  in.name = "large";
  in.shape = shape;
  in.activation_precision = Precision{8, false};
  in.weight_precision = Precision{8, true};
  in.activations = &activations;
  in.weights = &weights;
  ASSERT_GT(activations.size(), std::uint64_t{1} << 32);
  const ProfileConfig config;
  const LayerResult cuda = make_cuda_engine()->profile(in, SampleRange{0, samples}, config);
  const LayerResult cpu = make_cpu_engine()->profile(in, SampleRange{0, samples}, config);
  EXPECT_EQ(cuda, cpu);
  EXPECT_EQ(cuda.activation_terms.values(), activations.size());
  // The reference engine on two samples of it, one from each end.
  for (std::uint64_t n : {std::uint64_t{0}, samples - 1}) {
    const LayerResult one = make_reference_engine()->profile(in, SampleRange{n, n + 1}, config);
    EXPECT_EQ(one.per_sample.front(), cuda.per_sample[n]) << "sample " << n;
  }
}

}  // namespace
}  // namespace laconic
