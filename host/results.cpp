#include "laconic/results.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>

namespace laconic {

Work& Work::operator+=(const Work& o) {
  baseline += o.baseline;
  zero_skip += o.zero_skip;
  stripes += o.stripes;
  pragmatic += o.pragmatic;
  laconic += o.laconic;
  return *this;
}

std::uint64_t& Cycles::operator[](Accelerator a) {
  switch (a) {
    case Accelerator::baseline: return baseline;
    case Accelerator::stripes: return stripes;
    case Accelerator::pragmatic: return pragmatic;
    case Accelerator::laconic: break;
  }
  return laconic;
}

std::uint64_t Cycles::operator[](Accelerator a) const { return const_cast<Cycles&>(*this)[a]; }

Cycles& Cycles::operator+=(const Cycles& o) {
  baseline += o.baseline;
  stripes += o.stripes;
  pragmatic += o.pragmatic;
  laconic += o.laconic;
  return *this;
}

std::uint64_t TermStats::values() const {
  std::uint64_t n = 0;
  for (auto count : histogram) n += count;
  return n;
}

std::uint64_t TermStats::total_terms() const {
  std::uint64_t sum = 0;
  for (std::size_t t = 0; t < histogram.size(); ++t) sum += t * histogram[t];
  return sum;
}

double TermStats::mean() const {
  const auto n = values();
  return n == 0 ? 0.0 : static_cast<double>(total_terms()) / static_cast<double>(n);
}

double TermStats::zero_fraction() const {
  const auto n = values();
  return n == 0 ? 0.0 : static_cast<double>(histogram[0]) / static_cast<double>(n);
}

int TermStats::max_terms_seen() const {
  for (int t = kMaxTerms; t > 0; --t)
    if (histogram[static_cast<std::size_t>(t)] != 0) return t;
  return 0;
}

TermStats& TermStats::operator+=(const TermStats& o) {
  for (std::size_t t = 0; t < histogram.size(); ++t) histogram[t] += o.histogram[t];
  return *this;
}

std::uint64_t LayerResult::macs() const {
  std::uint64_t sum = 0;
  for (const auto& s : per_sample) sum += s.macs;
  return sum;
}

Work LayerResult::work() const {
  Work sum;
  for (const auto& s : per_sample) sum += s.work;
  return sum;
}

Cycles LayerResult::cycles() const {
  Cycles sum;
  for (const auto& s : per_sample) sum += s.cycles;
  return sum;
}

void LayerResult::merge(const LayerResult& other) {
  if (other.name != name || other.type != type)
    throw std::logic_error("cannot merge results of layers '" + name + "' and '" + other.name + "'");
  if (other.weight_terms != weight_terms)
    throw std::logic_error("cannot merge results of layer '" + name +
                           "' computed on different weights");
  // Ranges that come in order (batch after batch) are appended in place, so
  // that merging b batches costs their size, not b times the result's.
  const auto in_order = [](const std::vector<SampleResult>& v) {
    for (std::size_t i = 1; i < v.size(); ++i)
      if (v[i].sample <= v[i - 1].sample) return false;
    return true;
  };
  if (per_sample.empty() || other.per_sample.empty() || other.per_sample.front().sample > per_sample.back().sample) {
    if (!in_order(other.per_sample))
      throw std::logic_error("cannot merge results of layer '" + name + "': its samples are not in order");
    per_sample.insert(per_sample.end(), other.per_sample.begin(), other.per_sample.end());
    activation_terms += other.activation_terms;
    return;
  }
  std::vector<SampleResult> merged;
  merged.reserve(per_sample.size() + other.per_sample.size());
  std::merge(per_sample.begin(), per_sample.end(), other.per_sample.begin(), other.per_sample.end(),
             std::back_inserter(merged),
             [](const SampleResult& a, const SampleResult& b) { return a.sample < b.sample; });
  for (std::size_t i = 1; i < merged.size(); ++i)
    if (merged[i].sample == merged[i - 1].sample)
      throw std::logic_error("cannot merge results of layer '" + name + "': sample " +
                             std::to_string(merged[i].sample) + " appears twice");
  per_sample = std::move(merged);
  activation_terms += other.activation_terms;
}

bool operator==(const LayerResult& a, const LayerResult& b) {
  return a.name == b.name && a.type == b.type && a.per_sample == b.per_sample &&
         a.activation_terms == b.activation_terms && a.weight_terms == b.weight_terms;
}

void Totals::add(const LayerResult& layer) {
  ++layers;
  macs += layer.macs();
  work += layer.work();
  cycles += layer.cycles();
}

double speedup(std::uint64_t baseline, std::uint64_t x) {
  if (x == 0) return std::numeric_limits<double>::infinity();
  return static_cast<double>(baseline) / static_cast<double>(x);
}

}  // namespace laconic
