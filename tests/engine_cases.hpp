// Layers and engines the engine tests share: seeded random layers across
// edge shapes, and every engine that must match the reference engine (the
// cuda engine only where a device answers).
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "laconic/device.hpp"
#include "laconic/engine.hpp"
#include "laconic/error.hpp"
#include "laconic/grid.hpp"

namespace laconic {
namespace testing_engines {

struct TestLayer {
  LayerShape shape;
  Precision act_precision{8, false};
  Precision weight_precision{8, true};
  std::unique_ptr<VectorSource> activations;
  std::unique_ptr<VectorSource> weights;

  LayerInput input() const {
    LayerInput in;
    in.name = "layer";
    in.shape = shape;
    in.activation_precision = act_precision;
    in.weight_precision = weight_precision;
    in.activations = activations.get();
    in.weights = weights.get();
    return in;
  }
};

// The equal preset (§8): every accelerator at `geometry`, per-group
// depthwise, no fold, no column registers, B = 2.
inline ProfileConfig config_with(Encoding encoding, Geometry geometry) {
  ProfileConfig c = ProfileConfig::preset(Preset::equal);
  c.encoding = encoding;
  c.set_all_geometries(geometry);
  return c;
}

inline LayerResult run(const Engine& engine, const TestLayer& layer, const ProfileConfig& config) {
  const LayerInput in = layer.input();
  return engine.profile(in, SampleRange{0, in.samples()}, config);
}

struct Case {
  std::string label;
  LayerShape shape;
  Geometry geometry;
  std::uint64_t samples;
  Precision act_precision;
  Precision weight_precision;
  double zero_fraction;
};

inline LayerShape conv_shape(std::int64_t c, std::int64_t h, std::int64_t w, std::int64_t k, std::int64_t r,
                      std::int64_t s, std::int64_t stride_h, std::int64_t stride_w, Padding pad, std::int64_t groups) {
  LayerShape sh;
  sh.type = LayerType::conv;
  sh.channels = c;
  sh.height = h;
  sh.width = w;
  sh.filters = k;
  sh.kernel_height = r;
  sh.kernel_width = s;
  sh.stride_h = stride_h;
  sh.stride_w = stride_w;
  sh.padding = pad;
  sh.groups = groups;
  return sh;
}

inline LayerShape fc_shape(std::int64_t c, std::int64_t k) {
  LayerShape sh;
  sh.type = LayerType::fc;
  sh.channels = c;
  sh.filters = k;
  return sh;
}

inline std::string describe(const Case& c, std::uint64_t seed) {
  std::ostringstream out;
  out << c.label << ": " << c.shape.describe() << ", geometry T" << c.geometry.tiles << " Rt" << c.geometry.rows
      << " Ct" << c.geometry.columns << " L" << c.geometry.lanes << ", " << c.samples << " sample(s), p_a "
      << c.act_precision.bits << ", p_w " << c.weight_precision.bits << ", seed " << seed;
  return out.str();
}

inline TestLayer random_layer(const Case& c, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> unit(0, 1);
  auto draw = [&](const Precision& p) -> std::int64_t {
    if (unit(rng) < c.zero_fraction) return 0;
    std::uniform_int_distribution<std::int64_t> value(p.min_value(), p.max_value());
    return value(rng);
  };
  TestLayer l;
  l.shape = c.shape;
  l.act_precision = c.act_precision;
  l.weight_precision = c.weight_precision;
  std::vector<std::int64_t> a(c.samples * static_cast<std::uint64_t>(c.shape.activations_per_sample()));
  std::vector<std::int64_t> w(static_cast<std::size_t>(c.shape.weight_count()));
  for (auto& v : a) v = draw(c.act_precision);
  for (auto& v : w) v = draw(c.weight_precision);
  l.activations = std::make_unique<VectorSource>(std::move(a));
  l.weights = std::make_unique<VectorSource>(std::move(w));
  return l;
}

inline std::vector<Case> edge_cases() {
  const Geometry standard{};
  const Geometry small{2, 3, 5, 4};  // partial sets and blocks at small sizes
  const Precision u8{8, false}, s8{8, true}, u16{16, false}, s16{16, true}, s4{4, true};
  const Padding none{}, one{1, 1, 1, 1};
  return {
      {"1x1 kernel", conv_shape(20, 7, 7, 24, 1, 1, 1, 1, none, 1), small, 1, u8, s8, 0.5},
      {"7x7 stride 2 pad 3", conv_shape(3, 23, 23, 16, 7, 7, 2, 2, Padding{3, 3, 3, 3}, 1), small, 1, u8, s8, 0.3},
      {"3x3 stride 2 pad 1", conv_shape(17, 12, 12, 21, 3, 3, 2, 2, one, 1), small, 3, u16, s16, 0.5},
      {"channels not a multiple of L", conv_shape(37, 6, 6, 8, 3, 3, 1, 1, one, 1), standard, 1, u8, s8, 0.4},
      {"filters not a multiple of T*Rt", conv_shape(5, 6, 6, 300, 3, 3, 1, 1, one, 1), standard, 1, u8, s8, 0.5},
      {"windows not a multiple of Ct", conv_shape(4, 9, 7, 6, 2, 3, 1, 1, none, 1), standard, 3, u8, s4, 0.2},
      {"groups", conv_shape(12, 8, 8, 18, 3, 3, 1, 1, one, 3), small, 1, u8, s8, 0.5},
      {"depthwise stride 2", conv_shape(10, 9, 9, 10, 3, 3, 2, 2, one, 10), small, 3, u8, s8, 0.5},
      {"depthwise multiplier 2", conv_shape(6, 7, 7, 12, 3, 3, 1, 1, one, 6), standard, 1, u16, s16, 0.5},
      {"uneven padding", conv_shape(5, 8, 8, 7, 3, 3, 2, 2, Padding{0, 1, 0, 1}, 1), small, 1, u8, s8, 0.5},
      {"non-square everything", conv_shape(6, 5, 11, 9, 2, 4, 1, 3, Padding{2, 0, 1, 3}, 1), small, 3, u8, s8, 0.5},
      {"stride larger than kernel", conv_shape(3, 10, 10, 4, 2, 2, 3, 3, none, 1), small, 1, u8, s8, 0.5},
      {"kernel equals padded input", conv_shape(4, 3, 3, 5, 5, 5, 1, 1, one, 1), small, 1, u8, s8, 0.5},
      {"one lane, one column", conv_shape(4, 5, 5, 3, 3, 3, 1, 1, one, 1), Geometry{1, 1, 1, 1}, 1, u8, s8, 0.5},
      {"no zeros, 16 bits", conv_shape(8, 6, 6, 10, 3, 3, 1, 1, one, 2), small, 1, s16, s16, 0.0},
      {"all zeros", conv_shape(8, 6, 6, 10, 3, 3, 1, 1, one, 1), small, 1, u8, s8, 1.0},
      {"32-bit values", conv_shape(4, 5, 5, 3, 3, 3, 1, 1, one, 1), small, 1, Precision{32, false},
       Precision{32, true}, 0.1},
      {"depthwise 40 channels", conv_shape(40, 6, 5, 40, 3, 3, 1, 1, one, 40), standard, 2, u8, s8, 0.4},
      {"3 channels stride 3 folds", conv_shape(3, 11, 10, 7, 5, 4, 3, 3, Padding{2, 1, 0, 2}, 1), small, 2, u8, s8,
       0.3},
      {"3 channels stride 2 1x1", conv_shape(3, 8, 8, 5, 1, 1, 2, 2, none, 1), small, 1, u16, s16, 0.3},
      {"3 channels unequal strides", conv_shape(3, 9, 9, 4, 3, 3, 2, 1, one, 1), small, 1, u8, s8, 0.3},
      {"one input channel", conv_shape(1, 6, 6, 4, 3, 3, 1, 1, one, 1), small, 2, u8, s8, 0.3},
      {"fc several filter sets", fc_shape(70, 600), standard, 3, u8, s8, 0.5},
      {"fc small geometry", fc_shape(33, 29), small, 3, u16, s16, 0.3},
      {"fc one channel", fc_shape(1, 7), small, 1, u8, s8, 0.0},
  };
}

// The accelerator settings the fast engines are checked under (§8, §9),
// each at a case's geometry `g`: the equal preset; the dnnsim preset (the
// baseline at one column); column registers with the narrowest shifter;
// an unbounded shifter with registers, per-group depthwise and the fold; and
// every accelerator at a geometry of its own.
struct OptionSet {
  std::string label;
  ProfileConfig (*make)(Encoding encoding, const Geometry& g);
};

inline std::vector<OptionSet> option_sets() {
  return {
      {"equal", [](Encoding e, const Geometry& g) { return config_with(e, g); }},
      {"dnnsim",
       [](Encoding e, const Geometry& g) {
         ProfileConfig c = ProfileConfig::preset(Preset::dnnsim);
         c.encoding = e;
         c.set_all_geometries(g);
         c.geometry(Accelerator::baseline).columns = 1;
         return c;
       }},
      {"registers, B=0",
       [](Encoding e, const Geometry& g) {
         ProfileConfig c = ProfileConfig::preset(Preset::dnnsim);
         c.encoding = e;
         c.set_all_geometries(g);
         c.shifter_bits = 0;
         c.column_registers[static_cast<std::size_t>(Accelerator::pragmatic)] = 2;
         c.column_registers[static_cast<std::size_t>(Accelerator::laconic)] = 1;
         return c;
       }},
      {"B=inf, registers, per-group, fold",
       [](Encoding e, const Geometry& g) {
         ProfileConfig c = config_with(e, g);
         c.shifter_bits = kShifterUnbounded;
         c.fold_first_layer = true;
         c.column_registers[static_cast<std::size_t>(Accelerator::pragmatic)] = 3;
         c.column_registers[static_cast<std::size_t>(Accelerator::laconic)] = 3;
         return c;
       }},
      {"own geometries, B=1",
       [](Encoding e, const Geometry& g) {
         ProfileConfig c = ProfileConfig::preset(Preset::dnnsim);
         c.encoding = e;
         c.geometry(Accelerator::baseline) = Geometry{g.tiles, g.rows, 1, g.lanes};
         c.geometry(Accelerator::stripes) = Geometry{2, 1, 3, 2};
         c.geometry(Accelerator::pragmatic) = Geometry{1, 3, 2, 3};
         c.geometry(Accelerator::laconic) = Geometry{3, 2, 4, 1};
         c.shifter_bits = 1;
         c.column_registers[static_cast<std::size_t>(Accelerator::pragmatic)] = 1;
         c.column_registers[static_cast<std::size_t>(Accelerator::laconic)] = 2;
         return c;
       }},
  };
}

// The encodings each option set is checked with: all four under the equal
// preset, two under each of the others.
inline std::vector<Encoding> encodings_for(std::size_t option_set) {
  if (option_set == 0) return {Encoding::binary, Encoding::booth, Encoding::naf, Encoding::dnnsim_booth};
  if (option_set % 2 == 1) return {Encoding::booth, Encoding::dnnsim_booth};
  return {Encoding::binary, Encoding::naf};
}

// A source whose element `bad` is invalid, as a NaN or an out-of-width value
// would be in a trace.
class SourceWithBadValue final : public TensorSource {
 public:
  SourceWithBadValue(std::vector<std::int64_t> values, std::uint64_t bad) : values_(std::move(values)), bad_(bad) {}
  std::uint64_t size() const override { return values_.size(); }
  void read(std::uint64_t first, std::uint64_t count, std::int64_t* out) const override {
    if (first <= bad_ && bad_ < first + count) throw Error("trace.npy: element " + std::to_string(bad_) + " is NaN");
    std::copy_n(values_.begin() + static_cast<std::ptrdiff_t>(first), count, out);
  }
  std::string name() const override { return "trace.npy"; }

 private:
  std::vector<std::int64_t> values_;
  std::uint64_t bad_;
};

// The fast engines, by name: cpu; the cuda engine's logic emulated on the CPU
// with its default plan, with one-sample batches on three slots, and with a
// device budget that forces small batches; cuda itself.
// LACONIC_TEST_ENGINES (comma-separated names) narrows the list, e.g. to
// "cuda" on a GPU machine or "cpu" while working on one engine.
inline std::vector<std::string> fast_engine_names() {
  const std::vector<std::string> all = {"cpu", "emulated", "emulated_one_sample_batches", "emulated_tight_budget",
                                        "cuda"};
  const char* only = std::getenv("LACONIC_TEST_ENGINES");
  if (only == nullptr || *only == '\0') return all;
  std::vector<std::string> chosen;
  const std::string list = std::string(",") + only + ",";
  for (const std::string& name : all)
    if (list.find("," + name + ",") != std::string::npos) chosen.push_back(name);
  return chosen;
}

inline bool cuda_usable() {
  static const bool usable = probe_devices().usable();
  return usable;
}

// nullptr for cuda where no device is usable (the caller skips).
inline std::unique_ptr<Engine> make_named_engine(const std::string& name) {
  if (name == "reference") return make_reference_engine();
  if (name == "cpu") return make_cpu_engine();
  if (name == "emulated") return grid::make_emulated_grid_engine();
  if (name == "emulated_one_sample_batches") {
    grid::GridOptions options;
    options.max_batch_bytes = 1;
    options.slots = 3;
    return grid::make_emulated_grid_engine(options);
  }
  if (name == "emulated_tight_budget") {
    grid::GridOptions options;
    options.memory_budget = std::uint64_t{1} << 20;
    return grid::make_emulated_grid_engine(options);
  }
  if (name == "cuda") return cuda_usable() ? make_cuda_engine() : nullptr;
  throw Error("unknown test engine " + name);
}

// Every engine that must give the reference engine's numbers, the reference
// engine first.
inline std::vector<std::unique_ptr<Engine>> engines_to_check() {
  std::vector<std::unique_ptr<Engine>> engines;
  engines.push_back(make_reference_engine());
  for (const std::string& name : fast_engine_names())
    if (auto engine = make_named_engine(name)) engines.push_back(std::move(engine));
  return engines;
}

}  // namespace testing_engines
}  // namespace laconic
