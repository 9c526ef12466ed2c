#include "laconic/run/codec.hpp"

#include <stdexcept>

#include "laconic/error.hpp"

namespace laconic::run {

std::vector<std::uint64_t> encode_unit(const Unit& unit, const LayerResult& result) {
  if (result.per_sample.size() != unit.samples())
    throw std::logic_error("unit " + std::to_string(unit.index) + " holds " + std::to_string(unit.samples()) +
                           " samples, its result " + std::to_string(result.per_sample.size()));
  std::vector<std::uint64_t> w;
  w.reserve(kUnitHeaderWords + kWordsPerSample * result.per_sample.size());
  w.insert(w.end(), {kUnitCodecVersion, unit.index, unit.layer, unit.begin, unit.end, kMaxTerms + 1});
  w.insert(w.end(), result.activation_terms.histogram.begin(), result.activation_terms.histogram.end());
  w.insert(w.end(), result.weight_terms.histogram.begin(), result.weight_terms.histogram.end());
  std::uint64_t expected = unit.begin;
  for (const SampleResult& s : result.per_sample) {
    if (s.sample != expected++)
      throw std::logic_error("unit " + std::to_string(unit.index) + ": sample " + std::to_string(s.sample) +
                             " out of order");
    w.insert(w.end(), {s.sample, s.macs, s.work.baseline, s.work.zero_skip, s.work.stripes, s.work.pragmatic,
                       s.work.laconic, s.cycles.baseline, s.cycles.stripes, s.cycles.pragmatic, s.cycles.laconic});
  }
  return w;
}

DecodedUnit decode_unit(const std::uint64_t* words, std::size_t count, const UnitPlan& plan, const std::string& what) {
  auto fail = [&](const std::string& why) -> void { throw Error(what + ": " + why); };
  if (count < kUnitHeaderWords)
    fail("holds " + std::to_string(count) + " integers, fewer than the " + std::to_string(kUnitHeaderWords) +
         " of a unit's header");
  if (words[0] != kUnitCodecVersion)
    fail("unit codec version " + std::to_string(words[0]) + ", this laconic reads version " +
         std::to_string(kUnitCodecVersion));
  if (words[1] >= plan.units.size())
    fail("unit " + std::to_string(words[1]) + " is not in the plan of " + std::to_string(plan.units.size()) +
         " units");
  const Unit& unit = plan.units[static_cast<std::size_t>(words[1])];
  if (words[2] != unit.layer || words[3] != unit.begin || words[4] != unit.end)
    fail("unit " + std::to_string(unit.index) + " is layer #" + std::to_string(words[2]) + " samples " +
         range_text(words[3], words[4]) + ", but the plan's " + plan.describe(unit) +
         " is layer #" + std::to_string(unit.layer));
  if (words[5] != kMaxTerms + 1)
    fail("histograms of " + std::to_string(words[5]) + " entries, not " + std::to_string(kMaxTerms + 1));
  const std::uint64_t samples = unit.samples();
  if ((count - kUnitHeaderWords) % kWordsPerSample != 0 || (count - kUnitHeaderWords) / kWordsPerSample != samples)
    fail(std::to_string(count) + " integers do not hold the " + std::to_string(samples) + " sample(s) of " +
         plan.describe(unit));
  DecodedUnit out;
  out.unit = unit.index;
  LayerResult& r = out.result;
  r.name = plan.layers[unit.layer].name;
  r.type = plan.layers[unit.layer].type;
  const std::uint64_t* p = words + 6;
  for (auto& h : r.activation_terms.histogram) h = *p++;
  for (auto& h : r.weight_terms.histogram) h = *p++;
  r.per_sample.resize(static_cast<std::size_t>(samples));
  for (std::uint64_t i = 0; i < samples; ++i) {
    SampleResult& s = r.per_sample[static_cast<std::size_t>(i)];
    s.sample = *p++;
    if (s.sample != unit.begin + i)
      fail("entry " + std::to_string(i) + " is sample " + std::to_string(s.sample) + ", not " +
           std::to_string(unit.begin + i));
    s.macs = *p++;
    if (s.macs != plan.layers[unit.layer].macs_per_sample)
      fail("sample " + std::to_string(s.sample) + " has " + std::to_string(s.macs) + " MACs, the layer " +
           std::to_string(plan.layers[unit.layer].macs_per_sample) + " per sample");
    s.work.baseline = *p++;
    s.work.zero_skip = *p++;
    s.work.stripes = *p++;
    s.work.pragmatic = *p++;
    s.work.laconic = *p++;
    s.cycles.baseline = *p++;
    s.cycles.stripes = *p++;
    s.cycles.pragmatic = *p++;
    s.cycles.laconic = *p++;
  }
  return out;
}

}  // namespace laconic::run
