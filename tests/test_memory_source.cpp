// Values read where they live (laconic/memory_source.hpp): the §2 conversion
// of each value equals that of .npy traces (NpyTensorSource) for the same
// floats and settings; bad values are errors naming the element; a source in
// device memory reaches the cuda engine's resident path, checked here through
// the emulation backend against the reference engine; and an engine's
// prepared weights (cpu, emulated cuda) give the same results as preparing
// in every call.
#include "laconic/memory_source.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "engine_cases.hpp"
#include "laconic/error.hpp"
#include "laconic/grid.hpp"
#include "laconic/npy.hpp"
#include "laconic/quantize.hpp"
#include "test_util.hpp"

namespace laconic {
namespace {

using test::TempDir;
using test::throws_error;
using namespace testing_engines;

// Floats with halves, negatives, zeros, tiny and large values, as float32.
std::vector<float> awkward_floats(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> unit(-3, 3);
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) {
    switch (i % 7) {
      case 0: v[i] = 0.0f; break;
      case 1: v[i] = static_cast<float>(std::ldexp(std::round(unit(rng) * 64) + 0.5, -8)); break;  // exact halves
      case 2: v[i] = static_cast<float>(unit(rng) * 1e-6); break;
      case 3: v[i] = static_cast<float>(unit(rng) * 1000); break;
      default: v[i] = static_cast<float>(unit(rng)); break;
    }
  }
  return v;
}

// The values an NpyTensorSource reads from `values` written as f4 with `q`.
std::vector<std::int64_t> npy_read(const std::vector<float>& values, const Quantization& q) {
  TempDir dir;
  const std::string path = dir.file("t.npy");
  write_npy(path, DType::f4, {values.size()}, values.data());
  std::vector<NpyArray> files;
  files.push_back(NpyArray::open(path));
  NpyTensorSource source(std::move(files), q, "t");
  std::vector<std::int64_t> out(values.size());
  source.read(0, values.size(), out.data());
  return out;
}

std::vector<std::int64_t> memory_read(const MemorySource& source) {
  std::vector<std::int64_t> out(source.size());
  source.read(0, source.size(), out.data());
  return out;
}

TEST(MemorySource, RoundingIsCsRound) {
  // math::round replaces the library call: the same double for halves,
  // near-halves, huge values, signed zeros and random doubles of every scale.
  std::vector<double> xs = {0.0, -0.0, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 0.49999999999999994, -0.49999999999999994,
                            4503599627370495.5, -4503599627370495.5, 4503599627370497.0, 1e300, -1e300,
                            std::numeric_limits<double>::denorm_min(), std::numeric_limits<double>::infinity(),
                            -std::numeric_limits<double>::infinity()};
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> unit(-1, 1);
  std::uniform_int_distribution<int> exponent(-60, 60);
  for (int i = 0; i < 200000; ++i) xs.push_back(std::ldexp(unit(rng), exponent(rng)));
  for (int i = -4000; i <= 4000; ++i) xs.push_back(i / 8.0);
  for (const double x : xs) {
    const double got = math::round(x);
    EXPECT_TRUE(got == std::round(x) && std::signbit(got) == std::signbit(std::round(x))) << x;
  }
}

TEST(MemorySource, FixedPointEqualsTheNpyTraces) {
  const std::vector<float> values = awkward_floats(5000, 1);
  for (const auto& [int_bits, frac_bits] : std::vector<std::pair<int, int>>{{8, 8}, {1, 15}, {4, 4}, {2, 0}}) {
    Quantization q;
    q.mode = QuantizeMode::fixed;
    q.int_bits = int_bits;
    q.frac_bits = frac_bits;
    q.precision = Precision{int_bits + frac_bits, true};
    ValueConversion c;
    c.mode = QuantizeMode::fixed;
    c.int_bits = int_bits;
    c.frac_bits = frac_bits;
    c.precision = q.precision;
    const MemorySource source(values.data(), ValueType::f32, values.size(), c, false, "live");
    EXPECT_EQ(memory_read(source), npy_read(values, q)) << "fixed " << int_bits << "." << frac_bits;
  }
}

TEST(MemorySource, LinearEqualsTheNpyTracesWithTheTensorsRange) {
  for (bool non_negative : {false, true}) {
    std::vector<float> values = awkward_floats(3000, 2);
    if (non_negative)
      for (float& v : values) v = std::fabs(v) + 0.25f;
    for (int bits : {8, 16, 3}) {
      Quantization q;
      q.mode = QuantizeMode::linear;
      q.precision = Precision{bits, true};
      const ValueRange range = value_range(values.data(), ValueType::f32, values.size(), "live");
      ValueConversion c;
      c.mode = QuantizeMode::linear;
      c.precision = q.precision;
      c.linear = linear_map(range.min, range.max, bits);
      const MemorySource source(values.data(), ValueType::f32, values.size(), c, false, "live");
      EXPECT_EQ(memory_read(source), npy_read(values, q)) << bits << " bits, non-negative " << non_negative;
      // Saturation changes nothing for data within the range.
      c.saturate = true;
      const MemorySource saturated(values.data(), ValueType::f32, values.size(), c, false, "live");
      EXPECT_EQ(memory_read(saturated), npy_read(values, q));
    }
  }
}

TEST(MemorySource, ACalibratedRangeClipsNewData) {
  // Calibrated on -1..2 (signed: 2 → 127), then fed -4, 3 and 1.
  const std::vector<float> values = {-4.0f, 3.0f, 1.0f};
  ValueConversion c;
  c.mode = QuantizeMode::linear;
  c.precision = Precision{8, true};
  c.linear = linear_map(-1.0, 2.0, 8);
  c.saturate = true;
  const MemorySource source(values.data(), ValueType::f32, values.size(), c, false, "live");
  // round(1 · 127 / 2) = round(63.5) = 64.
  EXPECT_EQ(memory_read(source), (std::vector<std::int64_t>{-127, 127, 64}));
  // Unsigned 0..1 to 4 bits: -1 → 0, 2 → 15.
  c.linear = linear_map(0.0, 1.0, 4);
  const std::vector<float> more = {-1.0f, 2.0f, 0.5f};
  const MemorySource unsigned_source(more.data(), ValueType::f32, more.size(), c, false, "live");
  EXPECT_EQ(memory_read(unsigned_source), (std::vector<std::int64_t>{0, 15, 8}));
}

TEST(MemorySource, IntegersLessAZeroPoint) {
  const std::vector<std::uint8_t> q = {0, 3, 255, 128};
  ValueConversion c;
  c.precision = Precision{9, true};
  c.zero_point = 3;
  const MemorySource source(q.data(), ValueType::u8, q.size(), c, false, "live");
  EXPECT_EQ(memory_read(source), (std::vector<std::int64_t>{-3, 0, 252, 125}));
  c.precision = Precision{8, true};
  const MemorySource narrow(q.data(), ValueType::u8, q.size(), c, false, "layer 'x' activations", {2, 2});
  EXPECT_TRUE(throws_error([&] { memory_read(narrow); },
                           {"layer 'x' activations: element (1, 0) = 255 less the zero point 3 is outside the declared "
                            "8-bit signed range -128..127"}));
}

TEST(MemorySource, BadValuesAndSettingsAreErrors) {
  const std::vector<float> values = {1.0f, std::numeric_limits<float>::quiet_NaN(), 2.5f};
  ValueConversion fixed;
  fixed.mode = QuantizeMode::fixed;
  fixed.int_bits = 4;
  fixed.frac_bits = 4;
  fixed.precision = Precision{8, true};
  const MemorySource nan(values.data(), ValueType::f32, 3, fixed, false, "layer 'c' activations", {1, 3});
  EXPECT_TRUE(throws_error([&] { memory_read(nan); }, {"layer 'c' activations: element (0, 1) = nan is not a finite number"}));
  ValueConversion integral;
  integral.mode = QuantizeMode::integral;
  integral.precision = Precision{16, true};
  const std::vector<float> finite = {1.0f, 2.5f};
  const MemorySource fraction(finite.data(), ValueType::f32, 2, integral, false, "w");
  EXPECT_TRUE(throws_error([&] { memory_read(fraction); }, {"w: element 1 = 2.5 is not an integer"}));
  fixed.precision.is_signed = false;
  const std::vector<float> negative = {-1.0f};
  const MemorySource unsigned_fixed(negative.data(), ValueType::f32, 1, fixed, false, "a");
  EXPECT_TRUE(throws_error([&] { memory_read(unsigned_fixed); }, {"is negative but the tensor is declared unsigned"}));

  ValueConversion none;
  EXPECT_TRUE(throws_error([&] { MemorySource(values.data(), ValueType::f32, 3, none, false, "a"); },
                           {"a holds float32 floats: say how to quantize them"}));
  EXPECT_TRUE(throws_error([&] { MemorySource(values.data(), ValueType::i16, 3, fixed, false, "a"); },
                           {"fixed quantization applies to floats; these are int16 integers"}));
  ValueConversion dnnsim = fixed;
  dnnsim.mode = QuantizeMode::dnnsim;
  EXPECT_TRUE(throws_error([&] { MemorySource(values.data(), ValueType::f32, 3, dnnsim, false, "a"); },
                           {"a: dnnsim quantization applies to trace files with a DNNsim precision profile"}));
  none.precision.bits = 33;
  EXPECT_TRUE(throws_error([&] { MemorySource(values.data(), ValueType::i16, 3, none, false, "a"); },
                           {"a precision of 33 bits is outside 1..32"}));
  EXPECT_TRUE(throws_error([&] { value_range(values.data(), ValueType::f32, 3, "w", {3}); },
                           {"w: element (1,) is nan; it must be finite to be quantized"}));
}

TEST(MemorySource, DeviceMemoryIsReadOnlyByTheCudaEngine) {
  const std::vector<std::int16_t> a(16, 1), w(4, 1);
  ValueConversion c;
  c.precision = Precision{16, true};
  const MemorySource activations(a.data(), ValueType::i16, a.size(), c, /*on_device=*/true, "layer 'l' activations");
  const MemorySource weights(w.data(), ValueType::i16, w.size(), c, false, "layer 'l' weights");
  LayerInput in;
  in.name = "l";
  in.shape = conv_shape(1, 4, 4, 4, 1, 1, 1, 1, Padding{}, 1);
  in.activation_precision = c.precision;
  in.weight_precision = c.precision;
  in.activations = &activations;
  in.weights = &weights;
  const ProfileConfig config;
  EXPECT_TRUE(throws_error([&] { make_cpu_engine()->profile(in, SampleRange{0, 1}, config); },
                           {"layer 'l' activations: the values are in a CUDA device's memory, which only the cuda "
                            "engine reads"}));
}

// The activations of `layer` as values of type T (exact), and the integers
// they convert to under `c`.
template <class T>
std::vector<T> as_values(const TestLayer& layer) {
  const auto& v = layer.activations->values();
  return std::vector<T>(v.begin(), v.end());
}

TEST(ResidentActivations, TheEmulatedCudaEngineMatchesTheReference) {
  // Every edge case, its activations handed over as device-resident values
  // of several types (the emulation's device memory is host memory), on the
  // emulated engine's three batch plans, under two option sets.
  const auto reference = make_reference_engine();
  const std::vector<std::string> emulated = {"emulated", "emulated_one_sample_batches", "emulated_tight_budget"};
  std::uint64_t seed = 100;
  for (const Case& c : edge_cases()) {
    const TestLayer layer = random_layer(c, ++seed);
    const LayerInput in = layer.input();
    for (std::size_t set : {std::size_t{0}, std::size_t{2}}) {
      const ProfileConfig config = option_sets()[set].make(Encoding::booth, c.geometry);
      const LayerResult expected = reference->profile(in, SampleRange{0, in.samples()}, config);
      ValueConversion conversion;
      conversion.precision = c.act_precision;
      const std::vector<std::int64_t> i64 = as_values<std::int64_t>(layer);
      const std::vector<double> f64 = as_values<double>(layer);
      ValueConversion integral = conversion;
      integral.mode = QuantizeMode::integral;
      const MemorySource as_i64(i64.data(), ValueType::i64, i64.size(), conversion, true, "a");
      const MemorySource as_f64(f64.data(), ValueType::f64, f64.size(), integral, true, "a");
      for (const MemorySource* source : {&as_i64, &as_f64}) {
        LayerInput resident = in;
        resident.activations = source;
        for (const std::string& name : emulated) {
          const LayerResult got =
              make_named_engine(name)->profile(resident, SampleRange{0, in.samples()}, config);
          EXPECT_EQ(got, expected) << describe(c, seed) << ", " << name << ", " << to_string(source->type())
                                   << ", option set " << option_sets()[set].label;
        }
      }
    }
  }
}

TEST(ResidentActivations, FloatsAreQuantizedOnTheDeviceAsOnTheHost) {
  // Fixed point 4.4 of floats on the device = the same floats quantized on the
  // host (MemorySource::read) and profiled by the reference engine.
  const LayerShape shape = conv_shape(5, 6, 7, 9, 3, 3, 2, 1, Padding{1, 1, 0, 2}, 1);
  const std::uint64_t samples = 3;
  std::vector<float> values = awkward_floats(samples * static_cast<std::uint64_t>(shape.activations_per_sample()), 7);
  for (float& v : values) v = std::fabs(v);  // post-ReLU: declared unsigned
  ValueConversion c;
  c.mode = QuantizeMode::fixed;
  c.int_bits = 4;
  c.frac_bits = 4;
  c.precision = Precision{8, false};
  const MemorySource host(values.data(), ValueType::f32, values.size(), c, false, "a");
  const MemorySource device(values.data(), ValueType::f32, values.size(), c, true, "a");
  Case weights_case{"w", shape, Geometry{2, 3, 5, 4}, 1, Precision{8, false}, Precision{8, true}, 0.3};
  const TestLayer layer = random_layer(weights_case, 9);
  LayerInput in = layer.input();
  in.activation_precision = c.precision;
  in.activations = &host;
  const ProfileConfig config = option_sets()[1].make(Encoding::naf, Geometry{2, 3, 5, 4});
  const auto reference = make_reference_engine();
  for (const SampleRange range : {SampleRange{0, samples}, SampleRange{1, samples}}) {
    in.activations = &host;
    const LayerResult expected = reference->profile(in, range, config);
    in.activations = &device;
    for (const char* name : {"emulated", "emulated_one_sample_batches"})
      EXPECT_EQ(make_named_engine(name)->profile(in, range, config), expected) << name << ", from " << range.begin;
  }
}

TEST(ResidentActivations, ABadValueIsTheHostsError) {
  // The lowest bad value of a later batch, named as MemorySource::read names it.
  const LayerShape shape = conv_shape(2, 3, 3, 2, 1, 1, 1, 1, Padding{}, 1);
  std::vector<float> values(4 * 18, 1.0f);
  values[2 * 18 + 5] = std::numeric_limits<float>::infinity();
  values[3 * 18 + 1] = std::numeric_limits<float>::quiet_NaN();
  ValueConversion c;
  c.mode = QuantizeMode::integral;
  c.precision = Precision{8, true};
  const MemorySource device(values.data(), ValueType::f32, values.size(), c, true, "layer 'l' activations",
                            {4, 2, 3, 3});
  const MemorySource host(values.data(), ValueType::f32, values.size(), c, false, "layer 'l' activations",
                          {4, 2, 3, 3});
  std::vector<std::int64_t> w(4, 1);
  const VectorSource weights(w);
  LayerInput in{"l", shape, c.precision, Precision{8, true}, &device, &weights};
  std::string host_message;
  try {
    std::vector<std::int64_t> out(values.size());
    host.read(0, values.size(), out.data());
  } catch (const Error& e) {
    host_message = e.what();
  }
  EXPECT_EQ(host_message, "layer 'l' activations: element (2, 0, 1, 2) = inf is not a finite number");
  for (const char* name : {"emulated", "emulated_one_sample_batches"})
    EXPECT_TRUE(throws_error([&] { make_named_engine(name)->profile(in, SampleRange{0, 4}, ProfileConfig{}); },
                             {host_message}))
        << name;
  // The same engine profiles the layer once the values are repaired.
  const auto engine = make_named_engine("emulated_one_sample_batches");
  EXPECT_THROW(engine->profile(in, SampleRange{0, 4}, ProfileConfig{}), Error);
  values[2 * 18 + 5] = 1.0f;
  values[3 * 18 + 1] = 1.0f;
  EXPECT_EQ(engine->profile(in, SampleRange{0, 4}, ProfileConfig{}).samples(), 4u);
}

TEST(PreparedWeights, PreparedOnceEqualsPreparedInEveryCall) {
  // The cpu engine's prepared weights, reused over sample ranges that merge
  // into the whole trace, give the results of one call on every sample.
  std::uint64_t seed = 300;
  for (const Case& c : edge_cases()) {
    Case more = c;
    more.samples = 5;
    const TestLayer layer = random_layer(more, ++seed);
    const LayerInput in = layer.input();
    const ProfileConfig config = option_sets()[1].make(Encoding::booth, c.geometry);
    const LayerResult whole = make_cpu_engine()->profile(in, SampleRange{0, 5}, config);
    for (const char* name : {"cpu", "emulated", "emulated_one_sample_batches"}) {
      const auto engine = make_named_engine(name);
      const auto prepared = engine->prepare(in, config);
      ASSERT_NE(prepared, nullptr) << name;
      LayerResult merged = engine->profile_prepared(in, SampleRange{0, 2}, config, prepared.get());
      merged.merge(engine->profile_prepared(in, SampleRange{2, 5}, config, prepared.get()));
      EXPECT_EQ(merged, whole) << describe(more, seed) << ", " << name;
    }
    // Engines that keep nothing prepare nothing and still profile.
    const auto reference = make_reference_engine();
    EXPECT_EQ(reference->prepare(in, config), nullptr);
    if (c.shape.macs_per_sample() < 200000) {
      EXPECT_EQ(reference->profile_prepared(in, SampleRange{0, 5}, config, nullptr), whole) << describe(more, seed);
    }
  }
}

}  // namespace
}  // namespace laconic
