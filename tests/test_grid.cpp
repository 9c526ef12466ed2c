// The cuda engine's host-side logic, on the CPU: batch planning under a
// memory budget, narrowing traces to magnitudes, the driver's batching and
// merging (through the emulation backend, which runs the kernels' bodies in
// loops), and the engine choice. The cuda engine itself runs the same seeded
// cases in test_engines.cpp where a device answers; here, the tests that need
// one skip themselves.
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <utility>
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
  // The equal preset (R = 0, no fold): magnitudes + terms + Laconic's window
  // maxima (1 group × ⌈64/16⌉ window sets × 9 offsets × 16 channels) +
  // Pragmatic's position costs (1 group × 1 channel block × 8 × 8) + sums.
  EXPECT_EQ(plan.bytes_per_sample, 1024u + 1024u + 4u * 9 * 16 + 64 + 5 * 8);
  EXPECT_EQ(plan.bytes_per_sample, plan.sample.total());
  // Weights: 32·16·9 magnitudes and terms, two sums per (c', r, s), Laconic's
  // maxima per (filter set, r, s, c'), the histogram.
  EXPECT_EQ(plan.weight_bytes, 2u * 32 * 16 * 9 + 2 * 8 * 16 * 9 + 9 * 16 + 33 * 8);
}

TEST(GridPlan, EveryBufferOfTheCyclesIsCounted) {
  // The dnnsim preset (§8) on a first layer that folds: 3 channels of 9×9,
  // padding 1, stride 2, 8 filters of 3×3. Folded: 12 channels of 6×6, a 2×2
  // kernel, 5×5 = 25 windows (2 window sets of 16).
  const LayerShape first = conv_shape(3, 9, 9, 8, 3, 3, 2, 2, Padding{1, 1, 1, 1}, 1);
  const ProfileConfig dnnsim;
  LayerParams p = grid::make_params(first, dnnsim);
  ASSERT_TRUE(p.fold);
  grid::SampleBytes b = grid::sample_buffers(p, 1);
  EXPECT_EQ(b.magnitudes, 243u);
  EXPECT_EQ(b.terms, 243u);
  EXPECT_EQ(b.folded_terms, 12u * 6 * 6);         // terms of the folded input
  EXPECT_EQ(b.folded_magnitudes, 12u * 6 * 6);    // and its 1-byte magnitudes
  EXPECT_EQ(b.window_max, 1u * 2 * 4 * 12);      // Laconic, R = 0: group × window sets × offsets × lanes
  EXPECT_EQ(b.laconic_columns, 0u);
  EXPECT_EQ(b.laconic_clock, 0u);
  EXPECT_EQ(b.position_costs, 1u * 1 * 6 * 6);   // Pragmatic: group × block × folded positions
  EXPECT_EQ(b.shifter_scratch, 0u);
  // Pragmatic, R = 1: a column cost per (window set, offset, block) step of
  // one filter set: 2 × 4 × 1 steps of 16 columns.
  EXPECT_EQ(b.pragmatic_columns, 2u * 4 * 16);
  // R = 1: Ct columns and R + 1 values of M, 18 words: local to the clock's thread.
  EXPECT_EQ(b.pragmatic_clock, 0u);
  EXPECT_EQ(b.accumulators, 5u * 8);
  EXPECT_EQ(b.total(), 243u + 243 + 864 + 96 + 36 + 128 + 40);
  const grid::WeightBytes w = grid::weight_buffers(p, 1);
  EXPECT_EQ(w.total(), 216u + 216 + 27 * 16 + 8 * 12 * 4 + 1 * 4 * 12 + 33 * 8);
  EXPECT_EQ(w.folded_terms, 8u * 12 * 4);

  // Depthwise, diagonal: Laconic with R = 2 keeps column costs and its clock;
  // Pragmatic with L' = min(L, Rt) = 70 lanes keeps their term positions.
  const LayerShape depthwise = conv_shape(40, 6, 5, 40, 3, 3, 1, 1, Padding{1, 1, 1, 1}, 40);
  ProfileConfig config;
  config.column_registers[static_cast<std::size_t>(Accelerator::laconic)] = 2;
  config.geometry(Accelerator::pragmatic) = Geometry{1, 80, 16, 70};
  p = grid::make_params(depthwise, config);
  b = grid::sample_buffers(p, 1);
  // Laconic: ⌈40/16⌉ lane groups × 2 window sets × 9 offsets = 54 steps of 16 columns.
  EXPECT_EQ(p.laconic.steps, 54u);
  EXPECT_EQ(b.window_max, 0u);
  EXPECT_EQ(b.laconic_columns, 54u * 16 * 2);
  EXPECT_EQ(b.laconic_clock, 0u);  // 19 words, local
  EXPECT_EQ(b.position_costs, 6u * 5);
  EXPECT_EQ(b.shifter_scratch, 6u * 5 * 70 * 8);
  // Pragmatic: one lane group of 70, 2 window sets × 9 offsets × 1 block.
  EXPECT_EQ(b.pragmatic_columns, 18u * 16);
  EXPECT_EQ(b.pragmatic_clock, 0u);
  EXPECT_EQ(b.total(), 1200u + 1200 + 1728 + 30 + 16800 + 288 + 40);

  // More registers than steps change nothing and keep no more history.
  config.column_registers[static_cast<std::size_t>(Accelerator::laconic)] = 1000;
  EXPECT_EQ(grid::make_params(depthwise, config).laconic.registers, 54);

  // A clock of more than kClockLocalWords words lives in the clock buffer:
  // 70 columns and R + 1 = 3 values of M.
  config.column_registers[static_cast<std::size_t>(Accelerator::laconic)] = 2;
  config.geometry(Accelerator::laconic) = Geometry{1, 2, 70, 4};
  p = grid::make_params(depthwise, config);
  EXPECT_EQ(grid::sample_buffers(p, 1).laconic_clock, (70u + 2 + 1) * 8);

  // FC: each recurrence keeps Ct busy columns (16: local); Laconic one cost
  // per block (⌈600/256⌉ filter sets × ⌈70/16⌉ channel blocks), Pragmatic
  // one per channel block.
  p = grid::make_params(fc_shape(70, 600), ProfileConfig{});
  b = grid::sample_buffers(p, 2);
  EXPECT_EQ(b.fc_block_costs, 3u * 5 * 2);
  EXPECT_EQ(b.pragmatic_columns, 0u);
  EXPECT_EQ(b.laconic_clock + b.pragmatic_clock, 0u);
  EXPECT_EQ(b.total(), 140u + 70 + 30 + 5 + 40);
  config.geometry(Accelerator::pragmatic) = Geometry{1, 2, 65, 4};
  EXPECT_EQ(grid::sample_buffers(grid::make_params(fc_shape(70, 600), config), 2).pragmatic_clock, 65u * 8);

  // Without cycles only the terms pass and the work sums remain.
  ProfileConfig work_only;
  work_only.compute_cycles = false;
  p = grid::make_params(first, work_only);
  EXPECT_EQ(grid::sample_buffers(p, 1).total(), 243u + 243 + 40);
  EXPECT_EQ(grid::weight_buffers(p, 1).total(), 216u + 216 + 27 * 16 + 33 * 8);
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
    // The equal preset, or the dnnsim one with column registers on both
    // data-dependent accelerators (column costs and clocks per sample).
    ProfileConfig registers;
    registers.column_registers[static_cast<std::size_t>(Accelerator::laconic)] = static_cast<int>(pick(1, 3));
    const LayerParams p = trial % 2 == 0 ? params_of(shape) : grid::make_params(shape, registers);
    GridOptions options;
    options.slots = static_cast<int>(pick(1, 4));
    options.max_batch_bytes = static_cast<std::uint64_t>(pick(1, 1 << 22));
    options.memory_budget = static_cast<std::uint64_t>(pick(1 << 16, 1 << 24));
    const std::uint64_t samples = static_cast<std::uint64_t>(pick(1, 5000));
    BatchPlan plan;
    try {
      plan = grid::plan_batches("l", p, Precision{8, false}, Precision{8, true}, samples, options);
    } catch (const Error& e) {
      // Only when one sample per slot does not fit.
      BatchPlan one = grid::plan_batches("l", p, Precision{8, false}, Precision{8, true}, samples, {});
      one.samples_per_batch = 1;
      one.slots = options.slots;
      EXPECT_GT(grid::device_layout(one, nullptr).bytes, options.memory_budget) << e.what();
      continue;
    }
    EXPECT_EQ(plan.device_bytes, grid::device_layout(plan, nullptr).bytes);
    EXPECT_GE(plan.samples_per_batch, 1u);
    EXPECT_LE(plan.device_bytes, options.memory_budget);
    EXPECT_GE(plan.samples_per_batch * plan.batches, samples);
    EXPECT_LT((plan.batches - 1) * plan.samples_per_batch, samples);
    EXPECT_TRUE(plan.samples_per_batch == 1 ||
                plan.samples_per_batch * plan.staging_bytes_per_sample <= options.max_batch_bytes);
  }
}

TEST(GridPlan, TheLayoutKeepsEveryBufferApartAndAligned) {
  // Every buffer of the arena starts at a multiple of kBufferAlignment, ends
  // before the next one starts, and the arena is the plan's footprint.
  std::mt19937_64 rng(11);
  const std::vector<LayerShape> shapes = {
      conv_shape(3, 11, 10, 7, 5, 4, 3, 3, Padding{2, 1, 0, 2}, 1),         // folds
      conv_shape(40, 6, 5, 40, 3, 3, 1, 1, Padding{1, 1, 1, 1}, 40),        // diagonal
      conv_shape(150, 4, 3, 5, 3, 3, 1, 1, Padding{1, 1, 1, 1}, 1), fc_shape(70, 600)};
  for (const LayerShape& shape : shapes)
    for (int registers : {0, 2}) {
      ProfileConfig config;
      config.column_registers[static_cast<std::size_t>(Accelerator::laconic)] = registers;
      config.column_registers[static_cast<std::size_t>(Accelerator::pragmatic)] = registers;
      config.geometry(Accelerator::pragmatic) = Geometry{1, 2, 5, 70};
      const LayerParams p = grid::make_params(shape, config);
      GridOptions options;
      options.slots = static_cast<int>(1 + rng() % 3);
      options.max_batch_bytes = 1 + rng() % 4000;
      const BatchPlan plan = grid::plan_batches("l", p, Precision{16, false}, Precision{8, true}, 7, options);
      const grid::DeviceLayout layout = grid::device_layout(plan, nullptr);
      EXPECT_EQ(layout.bytes, plan.device_bytes);
      // (offset, bytes) of every buffer.
      std::vector<std::pair<std::uint64_t, std::uint64_t>> buffers;
      auto add = [&](const void* at, std::uint64_t bytes) {
        buffers.emplace_back(reinterpret_cast<std::uintptr_t>(at), bytes);
      };
      const grid::WeightBuffers& w = layout.weights;
      add(w.magnitudes, plan.weights.magnitudes);
      add(w.terms, plan.weights.terms);
      add(w.term_sums, plan.weights.sums / 2);
      add(w.nonzero_sums, plan.weights.sums / 2);
      add(w.folded_terms, plan.weights.folded_terms);
      add(w.maxima, plan.weights.maxima);
      add(w.histogram, plan.weights.histogram);
      const std::uint64_t n = plan.samples_per_batch;
      const grid::SampleBytes& b = plan.sample;
      ASSERT_EQ(layout.slots.size(), static_cast<std::size_t>(options.slots));
      for (const grid::SlotBuffers& s : layout.slots) {
        add(s.magnitudes, n * b.magnitudes);
        add(s.terms, n * b.terms);
        add(s.folded_terms, n * b.folded_terms);
        add(s.folded_magnitudes, n * b.folded_magnitudes);
        add(s.window_max, n * b.window_max);
        add(s.laconic_columns, n * b.laconic_columns);
        add(s.fc_block_costs, n * b.fc_block_costs);
        add(s.position_costs, n * b.position_costs);
        add(s.shifter_scratch, n * b.shifter_scratch);
        add(s.pragmatic_columns, n * b.pragmatic_columns);
        add(s.pragmatic_clock, n * b.pragmatic_clock);
        add(s.laconic_clock, n * b.laconic_clock);
        add(s.results, grid::kResultHeader * 8 + n * b.accumulators);
      }
      std::sort(buffers.begin(), buffers.end());
      std::uint64_t end = 0, total = 0;
      for (const auto& [offset, bytes] : buffers) {
        EXPECT_EQ(offset % grid::kBufferAlignment, 0u);
        EXPECT_GE(offset, end) << shape.describe();
        if (bytes != 0) end = offset + bytes;
        total += bytes;
      }
      EXPECT_LE(end, layout.bytes);
      EXPECT_EQ(total, plan.weight_bytes + static_cast<std::uint64_t>(options.slots) *
                                               (n * plan.bytes_per_sample + grid::kResultHeader * 8));
    }
}

TEST(GridPlan, AVggConvAndItsFcEachFitFourHundredMegabytes) {
  // VGG-16's conv1_2 (64 channels of 224×224, 3×3, 64 filters) and fc6
  // (25088 → 4096), 16-bit, 64 images, under --device-memory 400M: each
  // layer's arena fits; both at once would not (buffers kept from the conv
  // layer and grown for the fc layer held 511 MiB and more).
  const std::uint64_t budget = std::uint64_t{400} << 20;
  GridOptions options;
  options.memory_budget = budget;
  const ProfileConfig config;
  const LayerShape conv = conv_shape(64, 224, 224, 64, 3, 3, 1, 1, Padding{1, 1, 1, 1}, 1);
  const LayerShape fc = fc_shape(25088, 4096);
  const BatchPlan conv_plan = grid::plan_batches("conv1_2", grid::make_params(conv, config), Precision{16, false},
                                                 Precision{16, true}, 64, options);
  const BatchPlan fc_plan = grid::plan_batches("fc6", grid::make_params(fc, config), Precision{16, false},
                                               Precision{16, true}, 64, options);
  EXPECT_LE(conv_plan.device_bytes, budget);
  EXPECT_LE(fc_plan.device_bytes, budget);
  EXPECT_GT(conv_plan.device_bytes + fc_plan.device_bytes, budget);
  EXPECT_GT(fc_plan.weight_bytes, std::uint64_t{3} * 25088 * 4096);  // magnitudes (2 bytes) and terms, and more
}

TEST(GridEngine, DeviceMemoryStaysWithinTheBudgetAcrossLayers) {
  // A conv layer whose batches fill the budget, then an fc layer whose
  // weights alone take most of it: each plan fits, both together do not, so
  // the backend must let go of the first layer's buffers before it takes the
  // second's. The emulation holds its arena as the cuda engine holds device
  // memory and counts the bytes.
  Case conv{"conv", conv_shape(32, 24, 24, 32, 3, 3, 1, 1, Padding{1, 1, 1, 1}, 1), Geometry{}, 64,
            Precision{8, false}, Precision{8, true}, 0.5};
  Case fc{"fc", fc_shape(4096, 1024), Geometry{}, 4, Precision{8, false}, Precision{8, true}, 0.5};
  const TestLayer conv_layer = random_layer(conv, 51), fc_layer = random_layer(fc, 53);
  const ProfileConfig config;
  GridOptions options;
  options.memory_budget = std::uint64_t{10} << 20;
  const LayerParams conv_params = grid::make_params(conv.shape, config), fc_params = grid::make_params(fc.shape, config);
  const std::uint64_t conv_bytes = grid::plan_batches("conv", conv_params, conv.act_precision, conv.weight_precision,
                                                      conv.samples, options).device_bytes;
  const std::uint64_t fc_bytes =
      grid::plan_batches("fc", fc_params, fc.act_precision, fc.weight_precision, fc.samples, options).device_bytes;
  ASSERT_LE(conv_bytes, options.memory_budget);
  ASSERT_LE(fc_bytes, options.memory_budget);
  ASSERT_GT(conv_bytes + fc_bytes, options.memory_budget) << "the case must not fit both layers at once";

  auto backend = grid::make_emulated_backend(options.slots);
  const grid::Backend& view = *backend;
  const grid::GridEngine engine(std::move(backend), options, "emulated");
  const auto cpu = make_cpu_engine();
  for (const TestLayer* layer : {&conv_layer, &fc_layer, &conv_layer}) {
    EXPECT_EQ(run(engine, *layer, config), run(*cpu, *layer, config)) << layer->shape.describe();
    EXPECT_LE(view.bytes_held(), options.memory_budget);
    EXPECT_LE(view.peak_bytes_held(), options.memory_budget);
  }
  EXPECT_EQ(view.peak_bytes_held(), std::max(conv_bytes, fc_bytes));
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
  std::vector<std::uint8_t> window_max(samples * grid::sample_buffers(p, 1).window_max, 1);
  std::vector<std::uint8_t> weight_max(grid::weight_max_count(p), 1);
  std::vector<std::uint64_t> steps(samples, 0);
  for (std::uint64_t i = 0; i < grid::laconic_step_body_count(p, samples); ++i) {
    std::uint64_t cost[1] = {0};
    const std::uint64_t n = grid::laconic_step_cost(i, p, window_max.data(), weight_max.data(), cost);
    ASSERT_LT(n, samples);
    EXPECT_EQ(cost[0], 1u);
    ++steps[n];
  }
  for (std::uint64_t n = 0; n < samples; ++n) EXPECT_EQ(steps[n], step_plan(shape, geometry, false).steps());
}

TEST(GridBodies, StepsFollowTheOrderOfColumnRegisters) {
  // §8: lane group → window set → filter set → s → r → channel block; the
  // kernels' decoding (fast division) gives the same steps as plain division.
  const LayerShape shape = conv_shape(12, 7, 9, 20, 3, 2, 2, 1, Padding{1, 0, 2, 1}, 2);
  const LayerParams p = params_of(shape, Geometry{2, 3, 5, 4});
  const StepPlan& plan = p.laconic.plan;
  std::uint64_t k = 0;
  for (std::int64_t group = 0; group < plan.groups; ++group)
    for (std::int64_t ws = 0; ws < plan.window_sets; ++ws)
      for (std::int64_t fs = 0; fs < plan.filter_sets; ++fs)
        for (std::int64_t s = 0; s < shape.kernel_width; ++s)
          for (std::int64_t r = 0; r < shape.kernel_height; ++r)
            for (std::int64_t block = 0; block < plan.channel_blocks; ++block, ++k) {
              for (const grid::StepAt& at :
                   {grid::step_at(plan, p.counted, k), grid::step_at(p.laconic, p.by_counted, k)}) {
                ASSERT_EQ(at.group, group) << k;
                ASSERT_EQ(at.window_set, ws) << k;
                ASSERT_EQ(at.filter_set, fs) << k;
                ASSERT_EQ(at.s, s) << k;
                ASSERT_EQ(at.r, r) << k;
                ASSERT_EQ(at.block, block) << k;
              }
            }
  EXPECT_EQ(k, p.laconic.steps);
}

TEST(GridBodies, WindowCursorVisitsTheWindowsInOrder) {
  // Window w = ow·Ho + oh (oh fastest) reads input (oh·σh + r − pt, ow·σw + s − pl).
  const LayerShape shape = conv_shape(2, 9, 11, 3, 3, 2, 2, 3, Padding{1, 0, 2, 1}, 1);
  const LayerParams p = params_of(shape, Geometry{1, 1, 5, 1});
  const grid::LayerDims& d = p.counted;
  for (std::int64_t first : {std::int64_t{0}, std::int64_t{3}, d.out_h - 1, d.out_h, 2 * d.out_h + 1})
    for (std::int64_t r = 0; r < d.kernel_h; ++r)
      for (std::int64_t s = 0; s < d.kernel_w; ++s) {
        grid::WindowCursor at(d, p.by_counted, first, r, s);
        for (std::int64_t w = first; w < d.out_h * d.out_w; ++w, at.next(d)) {
          std::int64_t y = 0, x = 0;
          const bool inside = grid::window_input(d, w, r, s, &y, &x);
          ASSERT_EQ(at.y, y) << w;
          ASSERT_EQ(at.x, x) << w;
          ASSERT_EQ(at.inside(d), inside) << w;
        }
      }
}

TEST(GridFastDiv, QuotientsAreExactBelowTwoToTheSixtyThree) {
  std::mt19937_64 rng(5);
  std::vector<std::uint64_t> divisors = {1, 2, 3, 5, 7, 9, 10, 16, 17, 25, 49, 255, 256, 257, 3136, 12544, 65535,
                                         65536, 65537, (std::uint64_t{1} << 31) - 1, std::uint64_t{1} << 31,
                                         (std::uint64_t{1} << 32) + 1, (std::uint64_t{1} << 62) + 3,
                                         (std::uint64_t{1} << 63) - 1, std::uint64_t{1} << 63,
                                         (std::uint64_t{1} << 63) + 1, ~std::uint64_t{0}};
  for (int i = 0; i < 200; ++i) divisors.push_back((rng() >> (rng() % 64)) | 1);
  for (int i = 0; i < 50; ++i) divisors.push_back((rng() >> (rng() % 64)) << 1 | 2);
  const std::uint64_t top = (std::uint64_t{1} << 63) - 1;
  for (std::uint64_t d : divisors) {
    const grid::FastDiv by(d);
    std::vector<std::uint64_t> dividends = {0, 1, d - 1, d, d + 1, top, top - 1, top / d * d, top / d * d - 1};
    for (int i = 0; i < 300; ++i) dividends.push_back(rng() >> (1 + rng() % 63));
    for (int i = 0; i < 50; ++i) {
      const std::uint64_t q = rng() >> (1 + rng() % 63);
      if (q <= top / d) {
        dividends.push_back(q * d);
        if (q * d > 0) dividends.push_back(q * d - 1);
      }
    }
    for (std::uint64_t n : dividends) {
      if (n > top) continue;
      ASSERT_EQ(by.quotient(n), n / d) << n << " / " << d;
      std::uint64_t m = n;
      ASSERT_EQ(static_cast<std::uint64_t>(by.take(m)), n % d) << n << " % " << d;
      ASSERT_EQ(m, n / d);
    }
  }
  // 0 (an empty dimension) divides like 1.
  EXPECT_EQ(grid::FastDiv(0).quotient(12345), 12345u);
}

TEST(GridWarp, KeyedSumsOverAnyActiveLanes) {
  // Random keys (a few samples, as neighbouring indices have), random 64-bit
  // values and random partial masks: each key's active lanes are summed
  // modulo 2^64 and added once; inactive lanes add nothing.
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 2000; ++trial) {
    grid::EmulatedWarp<3> warp;
    const int mode = trial % 4;
    warp.active = mode == 0 ? 0xFFFFFFFFu : static_cast<std::uint32_t>(rng());
    if (mode == 3) warp.active &= (1u << (rng() % 32)) - 1;  // a tail: the lanes below some index
    const std::uint64_t keys = 1 + rng() % 4;
    std::vector<std::uint64_t> expected(keys * grid::kAccumulators, 0);
    for (int l = 0; l < grid::kWarpLanes; ++l) {
      warp.keys[l] = rng() % keys;
      for (int j = 0; j < 3; ++j) {
        const int width = static_cast<int>(rng() % 65);
        warp.values[l][j] = width == 64 ? rng() : rng() & ((std::uint64_t{1} << width) - 1);
        if ((warp.active >> l & 1u) != 0)
          expected[warp.keys[l] * grid::kAccumulators + grid::kLaconicWork + static_cast<std::uint64_t>(j)] +=
              warp.values[l][j];
      }
    }
    std::vector<std::uint64_t> acc(expected.size(), 0);
    warp.add_all(grid::kLaconicWork, acc.data());
    ASSERT_EQ(acc, expected) << "trial " << trial << ", mask " << std::hex << warp.active;
  }
  // One add per key: a sum that counts the adders.
  grid::EmulatedWarp<1> ones;
  ones.active = 0xF0F0F0F0u;
  for (int l = 0; l < grid::kWarpLanes; ++l) {
    ones.keys[l] = static_cast<std::uint64_t>(l % 3);
    ones.values[l][0] = 1;
  }
  std::vector<std::uint64_t> acc(3 * grid::kAccumulators, 0);
  ones.add_all(grid::kLaconicCycles, acc.data());
  for (int key = 0; key < 3; ++key) {
    int lanes = 0;
    for (int l = 0; l < grid::kWarpLanes; ++l) lanes += (ones.active >> l & 1u) != 0 && l % 3 == key;
    EXPECT_EQ(acc[static_cast<std::size_t>(key * grid::kAccumulators + grid::kLaconicCycles)],
              static_cast<std::uint64_t>(lanes));
  }
  // Step costs (below 2^21) in one part, scaled once per key (Pragmatic's
  // filter sets).
  grid::EmulatedWarp<1> costs;
  costs.active = 0x7FFFFFFEu;
  std::vector<std::uint64_t> expected(2 * grid::kAccumulators, 0);
  for (int l = 0; l < grid::kWarpLanes; ++l) {
    costs.keys[l] = l < 20 ? 0 : 1;
    costs.values[l][0] = rng() % 1025;
    if ((costs.active >> l & 1u) != 0)
      expected[costs.keys[l] * grid::kAccumulators + grid::kPragmaticCycles] += 7 * costs.values[l][0];
  }
  std::vector<std::uint64_t> step_acc(expected.size(), 0);
  costs.add_all<1>(grid::kPragmaticCycles, step_acc.data(), 7);
  EXPECT_EQ(step_acc, expected);
}

TEST(GridBodies, PragmaticPositionCostsAreTheShifterOverTheBlocksLanes) {
  // One sample of 2 channels × 1 × 2, one block of both lanes (L = 2):
  // binary positions (65, 4) at x = 0 → {0, 6}, {2}; (48, 0) at x = 1 →
  // {4, 5}, {}. B = 2: x = 0 takes 0, 2 then 6: 2 cycles; x = 1: 4 and 5
  // (one lane, one term a cycle): 2 cycles.
  const LayerShape shape = conv_shape(2, 1, 2, 1, 1, 1, 1, 1, Padding{}, 1);
  ProfileConfig config = config_with(Encoding::binary, Geometry{1, 1, 2, 2});
  const LayerParams p = grid::make_params(shape, config);
  const std::vector<std::uint8_t> magnitudes{65, 48, 4, 0};  // [c][y][x]
  std::vector<std::uint8_t> costs(grid::position_cost_body_count(p, 1));
  ASSERT_EQ(costs.size(), 2u);
  for (std::uint64_t i = 0; i < costs.size(); ++i)
    grid::position_cost_body(i, p, magnitudes.data(), static_cast<std::uint64_t*>(nullptr), costs.data());
  EXPECT_EQ(costs, (std::vector<std::uint8_t>{2, 2}));
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

TEST(GridEngine, ColumnClocksFoldAndDiagonalMappingOverAnyBatching) {
  // Column registers on both data-dependent accelerators (one clock per
  // sample, whatever the batch), the first-layer fold and the diagonal
  // mapping, each checked against the reference over batches of one sample,
  // of two, and of all, on one to three slots.
  const std::vector<Case> cases = {
      {"fold", conv_shape(3, 11, 10, 7, 5, 4, 3, 3, Padding{2, 1, 0, 2}, 1), Geometry{2, 3, 5, 4}, 5,
       Precision{8, false}, Precision{8, true}, 0.3},
      {"diagonal", conv_shape(20, 6, 5, 40, 3, 3, 1, 1, Padding{1, 1, 1, 1}, 20), Geometry{1, 3, 4, 5}, 5,
       Precision{16, false}, Precision{16, true}, 0.3},
      {"fc", fc_shape(45, 20), Geometry{2, 3, 5, 4}, 5, Precision{8, false}, Precision{8, true}, 0.3},
      // More than kClockLocalWords clock words: the clocks in their buffers.
      {"wide columns", conv_shape(5, 9, 9, 6, 3, 3, 1, 1, Padding{1, 1, 1, 1}, 1), Geometry{1, 2, 70, 3}, 3,
       Precision{8, false}, Precision{8, true}, 0.3},
      {"fc wide columns", fc_shape(45, 300), Geometry{1, 2, 70, 3}, 3, Precision{8, false}, Precision{8, true}, 0.3},
  };
  for (const Case& c : cases) {
    const TestLayer layer = random_layer(c, 41);
    ProfileConfig config = ProfileConfig::preset(Preset::dnnsim);
    config.encoding = Encoding::dnnsim_booth;
    config.set_all_geometries(c.geometry);
    config.column_registers[static_cast<std::size_t>(Accelerator::pragmatic)] = 2;
    config.column_registers[static_cast<std::size_t>(Accelerator::laconic)] = 1;
    const LayerResult expected = run(*make_reference_engine(), layer, config);
    const std::uint64_t sample_bytes = static_cast<std::uint64_t>(c.shape.activations_per_sample()) *
                                       static_cast<std::uint64_t>(grid::magnitude_bytes(c.act_precision));
    for (std::uint64_t batch_bytes : {std::uint64_t{1}, 2 * sample_bytes, std::uint64_t{1} << 30})
      for (int slots : {1, 3}) {
        GridOptions options;
        options.max_batch_bytes = batch_bytes;
        options.slots = slots;
        EXPECT_EQ(run(*grid::make_emulated_grid_engine(options), layer, config), expected)
            << c.label << ", batches of " << batch_bytes << " bytes, " << slots << " slots";
      }
  }
}

TEST(GridEngine, PragmaticBlocksWiderThanTheLocalLanesUseTheScratch) {
  // A channel block of 70 lanes (> kShifterLocalLanes): the position costs
  // keep the lanes' term positions in the shifter scratch.
  static_assert(grid::kShifterLocalLanes < 70, "the case must exceed the local lanes");
  Case c{"wide block", conv_shape(150, 4, 3, 5, 3, 3, 1, 1, Padding{1, 1, 1, 1}, 1), Geometry{}, 2,
         Precision{8, false}, Precision{8, true}, 0.2};
  const TestLayer layer = random_layer(c, 43);
  Case fc{"wide fc block", fc_shape(150, 9), Geometry{}, 2, Precision{8, false}, Precision{8, true}, 0.2};
  const TestLayer fc_layer = random_layer(fc, 47);
  for (int registers : {0, 1})
    for (int bits : {0, 2}) {
      ProfileConfig config = config_with(Encoding::booth, Geometry{});
      config.geometry(Accelerator::pragmatic) = Geometry{1, 2, 5, 70};
      config.shifter_bits = bits;
      config.column_registers[static_cast<std::size_t>(Accelerator::pragmatic)] = registers;
      ASSERT_GT(grid::sample_buffers(grid::make_params(c.shape, config), 1).shifter_scratch, 0u);
      const auto engine = grid::make_emulated_grid_engine();
      const auto reference = make_reference_engine();
      EXPECT_EQ(run(*engine, layer, config), run(*reference, layer, config)) << "R " << registers << ", B " << bits;
      EXPECT_EQ(run(*engine, fc_layer, config), run(*reference, fc_layer, config))
          << "fc, R " << registers << ", B " << bits;
    }
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
