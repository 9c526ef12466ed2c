// What profiling produces: exact 64-bit integer counts (MODEL.md §4–§6).
// Results of independent units (a layer × a range of samples) merge exactly.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "laconic/config.hpp"
#include "laconic/layer.hpp"
#include "laconic/terms.hpp"

namespace laconic {

// Work per MAC summed over a layer (§4).
struct Work {
  std::uint64_t baseline = 0;   // P_base · P_base
  std::uint64_t zero_skip = 0;  // P_base · P_base where a ≠ 0 and w ≠ 0
  std::uint64_t stripes = 0;    // p_a · P_base
  std::uint64_t pragmatic = 0;  // t(a) · P_base
  std::uint64_t laconic = 0;    // t(a) · t(w)
  Work& operator+=(const Work& o);
  friend bool operator==(const Work& a, const Work& b) {
    return a.baseline == b.baseline && a.zero_skip == b.zero_skip && a.stripes == b.stripes &&
           a.pragmatic == b.pragmatic && a.laconic == b.laconic;
  }
  friend bool operator!=(const Work& a, const Work& b) { return !(a == b); }
};

// Cycles of the four accelerators over a layer, each at its own geometry
// (§5, §8, §9).
struct Cycles {
  std::uint64_t baseline = 0;
  std::uint64_t stripes = 0;
  std::uint64_t pragmatic = 0;
  std::uint64_t laconic = 0;
  std::uint64_t& operator[](Accelerator a);
  std::uint64_t operator[](Accelerator a) const;
  Cycles& operator+=(const Cycles& o);
  friend bool operator==(const Cycles& a, const Cycles& b) {
    return a.baseline == b.baseline && a.stripes == b.stripes && a.pragmatic == b.pragmatic &&
           a.laconic == b.laconic;
  }
  friend bool operator!=(const Cycles& a, const Cycles& b) { return !(a == b); }
};

// Histogram of t(v) over a tensor's values (§4: mean terms, zero fraction).
struct TermStats {
  std::array<std::uint64_t, kMaxTerms + 1> histogram{};  // histogram[t] = values with t terms
  std::uint64_t values() const;
  std::uint64_t total_terms() const;
  double mean() const;           // total_terms / values; 0 for an empty tensor
  double zero_fraction() const;  // histogram[0] / values; 0 for an empty tensor
  int max_terms_seen() const;    // largest t with a non-zero count, 0 if none
  TermStats& operator+=(const TermStats& o);
  friend bool operator==(const TermStats& a, const TermStats& b) { return a.histogram == b.histogram; }
  friend bool operator!=(const TermStats& a, const TermStats& b) { return !(a == b); }
};

struct SampleResult {
  std::uint64_t sample = 0;  // index of the sample within the layer's trace
  std::uint64_t macs = 0;
  Work work;
  Cycles cycles;
  friend bool operator==(const SampleResult& a, const SampleResult& b) {
    return a.sample == b.sample && a.macs == b.macs && a.work == b.work && a.cycles == b.cycles;
  }
  friend bool operator!=(const SampleResult& a, const SampleResult& b) { return !(a == b); }
};

// One layer over some of its samples. Activation term statistics cover the
// samples profiled; weight term statistics cover the layer's weights once.
struct LayerResult {
  std::string name;
  LayerType type = LayerType::conv;
  std::vector<SampleResult> per_sample;  // ordered by sample index
  TermStats activation_terms;
  TermStats weight_terms;

  std::uint64_t samples() const { return per_sample.size(); }
  std::uint64_t macs() const;
  Work work() const;
  Cycles cycles() const;

  // Adds the samples of `other`, a result of the same layer on other samples.
  // Throws std::logic_error if the layers differ (name, type or weights) or
  // the sample ranges overlap. Order of merging does not matter.
  void merge(const LayerResult& other);

  // Every count equal, samples included.
  friend bool operator==(const LayerResult& a, const LayerResult& b);
  friend bool operator!=(const LayerResult& a, const LayerResult& b) { return !(a == b); }
};

// Sums over several layers: the network totals (§4: ratios of sums).
struct Totals {
  std::uint64_t layers = 0;
  std::uint64_t macs = 0;
  Work work;
  Cycles cycles;
  void add(const LayerResult& layer);
};

// baseline / x as a double; +inf when x is 0 (§4). Printed as `inf`, JSON null.
double speedup(std::uint64_t baseline, std::uint64_t x);

}  // namespace laconic
