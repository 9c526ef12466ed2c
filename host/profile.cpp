#include "laconic/profile.hpp"

#include <chrono>
#include <cstdio>

#include "laconic/error.hpp"

namespace laconic {

Totals NetworkResult::totals_all() const {
  Totals t;
  for (const auto& l : layers) t.add(l.result);
  return t;
}

Totals NetworkResult::totals_conv() const {
  Totals t;
  for (const auto& l : layers)
    if (l.result.type == LayerType::conv) t.add(l.result);
  return t;
}

std::string with_layer_context(const Network& network, const std::string& layer, const std::string& what) {
  const std::string where = "layer '" + layer + "'";
  std::string prefix;
  if (!network.path.empty() && what.find(network.path) == std::string::npos) prefix += network.path + ": ";
  if (what.find(where) == std::string::npos) prefix += where + ": ";
  return prefix + what;
}

NetworkResult profile_network(const Network& network, const Engine& engine, const ProfileConfig& config,
                              const ProfileOptions& options) {
  config.validate();
  NetworkResult out;
  out.network = network.name;
  out.source = network.source;
  out.precision_profile = network.precision_profile;
  out.engine = std::string(engine.name());
  out.config = config;
  out.sample_limit = options.sample_limit;
  // No count of a run exceeds 1025 times its MACs: work per MAC is at most
  // 32 · 32 (§4), a step costs at most 32 · 32 and holds a MAC (§5), and the
  // FC recurrence adds one cycle per block. Below 2^54 MACs, no 64-bit count
  // (per sample, layer or total) can wrap; above, the run is refused.
  std::uint64_t run_macs = 0;
  for (const NetworkLayer& layer : network.layers) {
    layer.shape.validate(layer.name);  // before multiplying its sizes
    std::uint64_t samples = layer.samples(), macs = 0;
    if (options.sample_limit != 0 && options.sample_limit < samples) samples = options.sample_limit;
    if (__builtin_mul_overflow(static_cast<std::uint64_t>(layer.shape.macs_per_sample()), samples, &macs) ||
        __builtin_add_overflow(run_macs, macs, &run_macs) || run_macs >= (std::uint64_t{1} << 54))
      throw Error("network '" + network.name + "': the run has 2^54 MACs or more (at layer '" + layer.name +
                  "'); its counts would not fit in 64 bits");
  }
  std::size_t index = 0;
  for (const NetworkLayer& layer : network.layers) {
    ++index;
    const auto start = std::chrono::steady_clock::now();
    const LayerInput input = layer.input();
    std::uint64_t samples = layer.samples();
    if (options.sample_limit != 0 && options.sample_limit < samples) samples = options.sample_limit;
    ProfiledLayer p;
    try {
      p.result = engine.profile(input, SampleRange{0, samples}, config);
    } catch (const Error& e) {
      throw Error(with_layer_context(network, layer.name, e.what()));
    }
    p.shape = layer.shape;
    p.activation_precision = layer.activation_precision;
    p.weight_precision = layer.weight_precision;
    p.activation_quantization = layer.activation_quantization;
    p.weight_quantization = layer.weight_quantization;
    out.layers.push_back(std::move(p));
    if (options.progress) {
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      char line[512];
      std::snprintf(line, sizeof line, "[%zu/%zu] %s: %s, %llu sample(s), %.3f s", index, network.layers.size(),
                    layer.name.c_str(), layer.shape.describe().c_str(),
                    static_cast<unsigned long long>(samples), seconds);
      options.progress(line);
    }
  }
  return out;
}

namespace {

void compare_field(std::vector<std::string>& diffs, const std::string& where, const char* field,
                   std::uint64_t expected, std::uint64_t actual) {
  if (expected != actual)
    diffs.push_back(where + " " + field + ": expected " + std::to_string(expected) + ", got " + std::to_string(actual));
}

void compare_counts(std::vector<std::string>& diffs, const std::string& where, const SampleResult& e,
                    const SampleResult& a) {
  compare_field(diffs, where, "sample index", e.sample, a.sample);
  compare_field(diffs, where, "macs", e.macs, a.macs);
  compare_field(diffs, where, "work.baseline", e.work.baseline, a.work.baseline);
  compare_field(diffs, where, "work.zero_skip", e.work.zero_skip, a.work.zero_skip);
  compare_field(diffs, where, "work.stripes", e.work.stripes, a.work.stripes);
  compare_field(diffs, where, "work.pragmatic", e.work.pragmatic, a.work.pragmatic);
  compare_field(diffs, where, "work.laconic", e.work.laconic, a.work.laconic);
  compare_field(diffs, where, "cycles.baseline", e.cycles.baseline, a.cycles.baseline);
  compare_field(diffs, where, "cycles.stripes", e.cycles.stripes, a.cycles.stripes);
  compare_field(diffs, where, "cycles.pragmatic", e.cycles.pragmatic, a.cycles.pragmatic);
  compare_field(diffs, where, "cycles.laconic", e.cycles.laconic, a.cycles.laconic);
}

void compare_histograms(std::vector<std::string>& diffs, const std::string& where, const TermStats& e,
                        const TermStats& a) {
  for (std::size_t t = 0; t < e.histogram.size(); ++t)
    compare_field(diffs, where, ("histogram[" + std::to_string(t) + "]").c_str(), e.histogram[t], a.histogram[t]);
}

}  // namespace

std::vector<std::string> compare_results(const NetworkResult& expected, const NetworkResult& actual,
                                         bool expected_covers_first_samples) {
  std::vector<std::string> diffs;
  if (expected.layers.size() != actual.layers.size()) {
    diffs.push_back("layer count: expected " + std::to_string(expected.layers.size()) + ", got " +
                    std::to_string(actual.layers.size()));
    return diffs;
  }
  for (std::size_t i = 0; i < expected.layers.size(); ++i) {
    const LayerResult& e = expected.layers[i].result;
    const LayerResult& a = actual.layers[i].result;
    const std::string where = "layer '" + e.name + "'";
    if (e.name != a.name) {
      diffs.push_back(where + ": compared with layer '" + a.name + "'");
      continue;
    }
    const bool subset = expected_covers_first_samples && e.per_sample.size() < a.per_sample.size();
    if (e.per_sample.size() != a.per_sample.size() && !subset) {
      diffs.push_back(where + " samples: expected " + std::to_string(e.per_sample.size()) + ", got " +
                      std::to_string(a.per_sample.size()));
      continue;
    }
    for (std::size_t s = 0; s < e.per_sample.size(); ++s)
      compare_counts(diffs, where + " sample " + std::to_string(e.per_sample[s].sample), e.per_sample[s],
                     a.per_sample[s]);
    if (!subset) compare_histograms(diffs, where + " activation terms", e.activation_terms, a.activation_terms);
    compare_histograms(diffs, where + " weight terms", e.weight_terms, a.weight_terms);
  }
  return diffs;
}

}  // namespace laconic
