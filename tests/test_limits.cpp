// Counts are 64-bit (MODEL.md §6): a layer whose work exceeds 2^32 and a run
// whose totals exceed 2^40, on procedural traces that need no memory, against
// closed forms. The closed form is checked against the reference engine on a
// layer of 9.4 million MACs and on one sample of the large run; the fast
// engines (cpu, and cuda where a device answers) against both. Then sizes
// that do not fit in 64 bits: refused with a message, never wrapped.

#include <gtest/gtest.h>
#include <omp.h>

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "laconic/device.hpp"
#include "laconic/engine.hpp"
#include "laconic/error.hpp"
#include "laconic/network.hpp"
#include "laconic/profile.hpp"
#include "laconic/report.hpp"
#include "laconic/terms.hpp"
#include "test_util.hpp"

namespace laconic {
namespace {

using u64 = std::uint64_t;
using test::throws_error;

// Activations A[n][c][h][w] = `odd` on odd channels, 0 on even ones; weights
// (one channel, plane 1) all `even`. Computed on read: any size, no memory.
class ChannelPattern final : public TensorSource {
 public:
  ChannelPattern(u64 size, u64 plane, u64 channels, std::int64_t odd, std::int64_t even)
      : size_(size), plane_(plane), channels_(channels), odd_(odd), even_(even) {}
  u64 size() const override { return size_; }
  void read(u64 first, u64 count, std::int64_t* out) const override {
    if (first > size_ || count > size_ - first) throw Error("ChannelPattern: read past the end");
    for (u64 i = 0; i < count; ++i) out[i] = ((first + i) / plane_ % channels_) % 2 == 1 ? odd_ : even_;
  }
  std::string name() const override { return "channel pattern"; }

 private:
  u64 size_, plane_, channels_;
  std::int64_t odd_, even_;
};

// 32-bit values with the most binary terms: t(a) = 32, t(w) = 31.
constexpr std::int64_t kActivation = 4294967295;  // 2^32 - 1, unsigned 32-bit
constexpr std::int64_t kWeight = 2147483647;      // 2^31 - 1, signed 32-bit
const Precision kActPrecision{32, false};
const Precision kWeightPrecision{32, true};

ProfileConfig big_config() {
  // The equal preset: every accelerator at 16 tiles x 16 rows x 16 columns x
  // 16 lanes, lockstep columns.
  ProfileConfig config = ProfileConfig::preset(Preset::equal);
  config.encoding = Encoding::binary;
  config.baseline_width = 32;  // 1024 single-bit products per MAC
  return config;
}

LayerShape conv(std::int64_t channels, std::int64_t size, std::int64_t filters, std::int64_t kernel) {
  LayerShape sh;
  sh.type = LayerType::conv;
  sh.channels = channels;
  sh.height = sh.width = size;
  sh.filters = filters;
  sh.kernel_height = sh.kernel_width = kernel;
  return sh;
}

struct PatternLayer {
  LayerShape shape;
  std::shared_ptr<ChannelPattern> activations, weights;
  NetworkLayer network_layer(const std::string& name) const {
    NetworkLayer l;
    l.name = name;
    l.shape = shape;
    l.activation_precision = kActPrecision;
    l.weight_precision = kWeightPrecision;
    l.activations = activations;
    l.weights = weights;
    l.activation_quantization = l.weight_quantization = "procedural";
    return l;
  }
};

PatternLayer pattern_layer(const LayerShape& sh, u64 samples) {
  const u64 plane = static_cast<u64>(sh.height * sh.width);
  return PatternLayer{sh,
                      std::make_shared<ChannelPattern>(samples * static_cast<u64>(sh.activations_per_sample()), plane,
                                                       static_cast<u64>(sh.channels), kActivation, 0),
                      std::make_shared<ChannelPattern>(static_cast<u64>(sh.weight_count()), 1, 1, 0, kWeight)};
}

// The counts of one sample in closed form, for a layer without padding, one
// group, an even number of channels that the lanes divide, and L even (so
// every channel block holds an odd channel): half the MACs have a ≠ 0.
SampleResult closed_form(const LayerShape& sh, const ProfileConfig& config) {
  const u64 ta = static_cast<u64>(terms(config.encoding, kActivation));
  const u64 tw = static_cast<u64>(terms(config.encoding, kWeight));
  const u64 p_base = static_cast<u64>(config.baseline_width), p_a = static_cast<u64>(kActPrecision.bits);
  const Geometry& g = config.geometry(Accelerator::laconic);
  const u64 ho = static_cast<u64>(sh.height - sh.kernel_height + 1);
  const u64 wo = static_cast<u64>(sh.width - sh.kernel_width + 1);
  const u64 k = static_cast<u64>(sh.filters), c = static_cast<u64>(sh.channels);
  const u64 rs = static_cast<u64>(sh.kernel_height * sh.kernel_width);
  auto ceil_div = [](u64 a, u64 b) { return (a + b - 1) / b; };
  SampleResult r;
  r.macs = k * ho * wo * c * rs;
  const u64 nonzero = r.macs / 2;
  r.work.baseline = p_base * p_base * r.macs;
  r.work.zero_skip = p_base * p_base * nonzero;
  r.work.stripes = p_a * p_base * r.macs;
  r.work.pragmatic = ta * p_base * nonzero;
  r.work.laconic = ta * tw * nonzero;
  const u64 steps = ceil_div(ho * wo, static_cast<u64>(g.columns)) *
                    ceil_div(k, static_cast<u64>(g.tiles * g.rows)) * rs * ceil_div(c, static_cast<u64>(g.lanes));
  r.cycles.baseline = steps;
  r.cycles.stripes = steps * p_a;
  r.cycles.laconic = steps * std::max<u64>(1, ta * tw);
  // Every non-zero lane holds the same positions, so each shifter cycle
  // consumes one term of each (§9): t(a) cycles a step.
  r.cycles.pragmatic = steps * std::max<u64>(1, ta);
  return r;
}

void expect_sample(const SampleResult& actual, const SampleResult& expected, const std::string& what) {
  EXPECT_EQ(actual.macs, expected.macs) << what;
  EXPECT_EQ(actual.work, expected.work) << what << ": laconic work " << actual.work.laconic << " vs "
                                        << expected.work.laconic << ", baseline " << actual.work.baseline << " vs "
                                        << expected.work.baseline;
  EXPECT_EQ(actual.cycles, expected.cycles) << what << ": laconic cycles " << actual.cycles.laconic << " vs "
                                            << expected.cycles.laconic;
}

// cpu, and cuda where a usable device and a CUDA engine exist.
std::vector<std::unique_ptr<Engine>> fast_engines() {
  std::vector<std::unique_ptr<Engine>> engines;
  engines.push_back(make_cpu_engine());
  if (probe_devices().usable()) {
    try {
      engines.push_back(make_engine(EngineKind::cuda));
    } catch (const Error& e) {
      ADD_FAILURE() << "a usable CUDA device, but no cuda engine: " << e.what();
    }
  }
  return engines;
}

// 16 channels of 34x34, 64 filters of 3x3: 9,437,184 MACs per sample.
LayerShape small_layer() { return conv(16, 34, 64, 3); }
// 16 channels of 34x34, 4096 filters of 5x5: 1,474,560,000 MACs per sample.
LayerShape large_layer() { return conv(16, 34, 4096, 5); }

// ---------------------------------------------------------------------------

TEST(Limits, ClosedFormIsTheReferenceEnginesAnswer) {
  // A layer small enough for the literal engine, on two geometries.
  const PatternLayer layer = pattern_layer(conv(4, 9, 6, 3), 1);
  for (Geometry g : {Geometry{}, Geometry{1, 2, 3, 2}}) {
    ProfileConfig config = big_config();
    config.set_all_geometries(g);
    LayerInput in = layer.network_layer("l").input();
    const LayerResult r = make_reference_engine()->profile(in, SampleRange{0, 1}, config);
    expect_sample(r.per_sample[0], closed_form(layer.shape, config), "reference, geometry columns " +
                                                                        std::to_string(g.columns));
  }
}

TEST(Limits, OneLayerWhoseWorkExceeds32Bits) {
  const ProfileConfig config = big_config();
  const PatternLayer layer = pattern_layer(small_layer(), 2);
  const SampleResult expected = closed_form(layer.shape, config);
  ASSERT_EQ(expected.macs, 9437184u);
  // Every work figure of one sample is past 2^32.
  for (u64 w : {expected.work.baseline, expected.work.zero_skip, expected.work.stripes, expected.work.pragmatic,
                expected.work.laconic})
    ASSERT_GT(w, u64{1} << 32);
  const LayerInput in = layer.network_layer("wide").input();
  // The literal engine on one sample of it...
  const LayerResult reference = make_reference_engine()->profile(in, SampleRange{1, 2}, config);
  expect_sample(reference.per_sample.at(0), expected, "reference, sample 1");
  // ...and the fast engines on both samples, with any thread count.
  for (const auto& engine : fast_engines()) {
    const LayerResult r = engine->profile(in, SampleRange{0, 2}, config);
    ASSERT_EQ(r.per_sample.size(), 2u);
    for (const SampleResult& s : r.per_sample) expect_sample(s, expected, std::string(engine->name()));
    EXPECT_EQ(r.per_sample[1], reference.per_sample[0]) << engine->name();
    EXPECT_EQ(r.work().laconic, 2 * expected.work.laconic) << engine->name();
  }
}

TEST(Limits, ARunWhoseTotalsExceed40Bits) {
  const ProfileConfig config = big_config();
  constexpr u64 kLargeSamples = 750, kSmallSamples = 40;
  const PatternLayer large = pattern_layer(large_layer(), kLargeSamples);
  const PatternLayer small = pattern_layer(small_layer(), kSmallSamples);
  Network network;
  network.name = "limits";
  network.source = "procedural";
  network.layers.push_back(large.network_layer("large"));
  network.layers.push_back(small.network_layer("small"));

  const SampleResult large_sample = closed_form(large.shape, config), small_sample = closed_form(small.shape, config);
  ASSERT_EQ(large_sample.macs, 1474560000u);
  const u64 macs = kLargeSamples * large_sample.macs + kSmallSamples * small_sample.macs;
  const u64 laconic_work = kLargeSamples * large_sample.work.laconic + kSmallSamples * small_sample.work.laconic;
  const u64 laconic_cycles =
      kLargeSamples * large_sample.cycles.laconic + kSmallSamples * small_sample.cycles.laconic;
  ASSERT_GT(macs, u64{1} << 40);
  ASSERT_GT(laconic_work, u64{1} << 40);
  ASSERT_GT(kLargeSamples * large_sample.cycles.laconic, u64{1} << 32);

  // The reference engine on one sample of the run's small layer.
  const LayerResult reference =
      make_reference_engine()->profile(network.layers[1].input(), SampleRange{17, 18}, config);
  expect_sample(reference.per_sample.at(0), small_sample, "reference, sample 17 of 'small'");

  for (const auto& engine : fast_engines()) {
    const NetworkResult result = profile_network(network, *engine, config, ProfileOptions{});
    ASSERT_EQ(result.layers.size(), 2u);
    const LayerResult& l = result.layers[0].result;
    ASSERT_EQ(l.per_sample.size(), kLargeSamples);
    expect_sample(l.per_sample.front(), large_sample, std::string(engine->name()) + ", large sample 0");
    expect_sample(l.per_sample.back(), large_sample, std::string(engine->name()) + ", large sample 749");
    EXPECT_EQ(result.layers[1].result.per_sample.at(17), reference.per_sample.at(0)) << engine->name();
    const Totals all = result.totals_all();
    EXPECT_EQ(all.macs, macs) << engine->name();
    EXPECT_EQ(all.work.laconic, laconic_work) << engine->name();
    EXPECT_EQ(all.work.baseline, 1024 * macs) << engine->name();
    EXPECT_EQ(all.cycles.laconic, laconic_cycles) << engine->name();
    // The reports print the exact integers.
    const nlohmann::json doc = nlohmann::json::parse(json_report(result, false));
    EXPECT_EQ(doc["totals"]["all"]["macs"].get<u64>(), macs);
    EXPECT_EQ(doc["totals"]["all"]["work"]["laconic"].get<u64>(), laconic_work);
    EXPECT_EQ(doc["totals"]["all"]["cycles"]["laconic"].get<u64>(), laconic_cycles);
    const std::string csv = csv_report(result, false);
    EXPECT_NE(csv.find("," + std::to_string(kLargeSamples * large_sample.work.laconic) + ","), std::string::npos)
        << csv;
  }
}

// ---------------------------------------------------------------------------
// Sizes that do not fit: refused, with a message, before any arithmetic wraps.

TEST(Limits, ShapesWhoseProductsDoNotFitAreRefused) {
  LayerShape sh = conv(4, 5, 4, 3);
  sh.validate("ok");
  sh.padding = Padding{std::int64_t{1} << 62, std::int64_t{1} << 62, 0, 0};  // H + top + bottom overflows
  EXPECT_TRUE(throws_error([&] { sh.validate("p"); }, {"layer 'p'", "the padding must be at most 2^31 - 1"}));
  sh.padding = Padding{};
  sh.stride_w = std::int64_t{1} << 40;
  EXPECT_TRUE(throws_error([&] { sh.validate("s"); }, {"the stride must be at most 2^31 - 1"}));
  // 2^40 channels of 2^20 x 2^20.
  LayerShape huge = conv(std::int64_t{1} << 40, 1 << 20, 1, 1);
  EXPECT_TRUE(throws_error([&] { huge.validate("h"); }, {"the input is too large"}));
  // Every size fits, the MACs do not: 2^31 filters x 2^30 x 4 outputs.
  huge = conv(1, 1 << 30, std::int64_t{1} << 31, 1);
  huge.width = 4;
  EXPECT_TRUE(throws_error([&] { huge.validate("m"); }, {"its MACs per sample do not fit in 64 bits"}));
  huge = conv(std::int64_t{1} << 40, 1, std::int64_t{1} << 40, 1);
  EXPECT_TRUE(throws_error([&] { huge.validate("w"); }, {"the weights are too many"}));
}

TEST(Limits, ARunOf2To54MacsOrMoreIsRefusedBeforeItStarts) {
  // Its counts (up to 1025 per MAC) could wrap 64 bits: refused at once, not
  // computed for days and then wrong.
  const u64 samples = (u64{1} << 54) / 1474560000 + 1;
  const PatternLayer large = pattern_layer(large_layer(), samples);
  Network network;
  network.name = "too-large";
  network.layers.push_back(large.network_layer("large"));
  EXPECT_TRUE(throws_error([&] { profile_network(network, *make_cpu_engine(), big_config(), ProfileOptions{}); },
                           {"network 'too-large'", "2^54 MACs", "layer 'large'", "would not fit in 64 bits"}));
  // The first samples of it are fine.
  ProfileOptions first;
  first.sample_limit = 1;
  const NetworkResult r = profile_network(network, *make_cpu_engine(), big_config(), first);
  expect_sample(r.layers[0].result.per_sample.at(0), closed_form(large.shape, big_config()), "first sample");
}

}  // namespace
}  // namespace laconic
