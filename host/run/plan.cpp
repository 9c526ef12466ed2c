#include "laconic/run/plan.hpp"

#include <algorithm>

#include "laconic/error.hpp"

namespace laconic::run {

namespace {
// Sums of costs (below 2^63 each) and their products with part counts exceed 64 bits.
__extension__ using Wide = unsigned __int128;
}  // namespace

std::uint64_t sample_cost(const PlanLayer& layer) {
  return kActivationValueCost * layer.values_per_sample + layer.window_reads_per_sample;
}

std::string UnitPlan::describe(const Unit& unit) const {
  return "unit " + std::to_string(unit.index) + " (layer '" + layers[unit.layer].name + "', samples " +
         range_text(unit.begin, unit.end) + ")";
}

UnitPlan make_plan(const Network& network, const PlanOptions& options) {
  std::vector<PlanLayer> layers;
  for (const NetworkLayer& layer : network.layers) {
    layer.shape.validate(layer.name);  // before multiplying its sizes
    PlanLayer p;
    p.name = layer.name;
    p.type = layer.shape.type;
    p.samples = layer.samples();
    if (options.sample_limit != 0 && options.sample_limit < p.samples) p.samples = options.sample_limit;
    p.macs_per_sample = static_cast<std::uint64_t>(layer.shape.macs_per_sample());
    p.values_per_sample = static_cast<std::uint64_t>(layer.shape.activations_per_sample());
    // Ho·Wo·C·R·S = MACs / (K / g), exactly: no overflow.
    p.window_reads_per_sample = p.macs_per_sample / static_cast<std::uint64_t>(layer.shape.filters_per_group());
    layers.push_back(std::move(p));
  }
  try {
    return make_plan(std::move(layers), options);
  } catch (const Error& e) {
    throw Error("network '" + network.name + "': " + e.what());
  }
}

UnitPlan make_plan(std::vector<PlanLayer> layers, const PlanOptions& options) {
  UnitPlan plan;
  plan.options = options;
  plan.layers = std::move(layers);
  // As profile_network: below 2^54 MACs no 64-bit count can wrap (every
  // count is at most 1025 times the MACs).
  for (PlanLayer& layer : plan.layers) {
    std::uint64_t macs = 0;
    if (__builtin_mul_overflow(layer.macs_per_sample, layer.samples, &macs) ||
        __builtin_add_overflow(plan.macs, macs, &plan.macs) || plan.macs >= (std::uint64_t{1} << 54))
      throw Error("the run has 2^54 MACs or more (at layer '" + layer.name + "'); its counts would not fit in 64 bits");
    // Window reads are at most the MACs (below 2^54 for the run); values
    // below 2^40 per sample keep a sample's cost in 64 bits.
    if (layer.values_per_sample >= (std::uint64_t{1} << 40))
      throw Error("layer '" + layer.name + "' has 2^40 activation values per sample or more");
    const std::uint64_t cost = sample_cost(layer);
    std::uint64_t layer_cost = 0;
    if (__builtin_mul_overflow(cost, layer.samples, &layer_cost) || layer_cost >= (std::uint64_t{1} << 62))
      throw Error("layer '" + layer.name + "' has too many activation values to plan (" +
                  std::to_string(layer.samples) + " samples of " + std::to_string(layer.values_per_sample) + ")");
    layer.unit_samples = options.unit_samples != 0 ? options.unit_samples
                         : cost == 0                ? 1
                                                    : std::max<std::uint64_t>(1, kDefaultUnitCost / cost);
    plan.images = std::max(plan.images, layer.samples);
  }
  for (std::size_t l = 0; l < plan.layers.size(); ++l) {
    const PlanLayer& layer = plan.layers[l];
    plan.layer_first_unit.push_back(plan.units.size());
    // A layer without samples is still one (empty) unit: its result holds the
    // weights' terms, as profile_network's does.
    std::uint64_t begin = 0;
    do {
      Unit u;
      u.index = plan.units.size();
      u.layer = l;
      u.begin = begin;
      u.end = std::min(layer.samples, begin + std::min(layer.unit_samples, layer.samples - begin));
      u.macs = layer.macs_per_sample * u.samples();
      u.cost = sample_cost(layer) * u.samples();
      plan.units.push_back(u);
      begin = u.end;
    } while (begin < layer.samples);
  }
  plan.layer_first_unit.push_back(plan.units.size());
  return plan;
}

Block split(const UnitPlan& plan, Block within, std::size_t part, std::size_t parts) {
  if (parts == 0 || part >= parts || within.last > plan.units.size() || within.first > within.last)
    throw Error("internal: part " + std::to_string(part) + " of " + std::to_string(parts) + " of units " +
                range_text(within.first, within.last));
  // Weights are costs + 1, so that units without samples still spread.
  std::vector<Wide> prefix(within.size() + 1, 0);
  for (std::size_t i = 0; i < within.size(); ++i) prefix[i + 1] = prefix[i] + plan.units[within.first + i].cost + 1;
  const Wide total = prefix.back();
  // The boundary before part p: the unit boundary whose prefix is nearest to
  // p/parts of the total (the earlier one on a tie). Nondecreasing in p.
  auto boundary = [&](std::size_t p) -> std::size_t {
    if (p == 0) return 0;
    if (p == parts) return within.size();
    const Wide target_scaled = total * p;  // target = total · p / parts
    // First i with prefix[i] · parts >= target_scaled.
    std::size_t lo = 0, hi = within.size();
    while (lo < hi) {
      const std::size_t mid = (lo + hi) / 2;
      if (static_cast<Wide>(prefix[mid]) * parts >= target_scaled) hi = mid;
      else lo = mid + 1;
    }
    if (lo > 0) {
      const Wide above = static_cast<Wide>(prefix[lo]) * parts - target_scaled;
      const Wide below = target_scaled - static_cast<Wide>(prefix[lo - 1]) * parts;
      if (below <= above) --lo;
    }
    return lo;
  };
  const std::size_t begin = boundary(part), end = std::max(begin, boundary(part + 1));
  return Block{within.first + begin, within.first + end};
}

}  // namespace laconic::run
