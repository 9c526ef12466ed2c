// The unit plan of a run: every layer's samples cut into ranges, listed in
// manifest order. A unit (a layer × a sample range) is what an engine
// profiles in one call; results of a layer's units merge exactly into the
// layer's result (LayerResult::merge). The plan is a function of the network
// and the plan options only, never of the rank count, the shard split or the
// engine, so that MPI ranks, shards, checkpoints and `laconic merge` all name
// the same units and a resumed run may be split differently.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "laconic/layer.hpp"
#include "laconic/network.hpp"

namespace laconic::run {

// Samples [begin, end) of layer `layer` (its index in the plan's layers).
struct Unit {
  std::size_t index = 0;  // position in the plan
  std::size_t layer = 0;
  std::uint64_t begin = 0, end = 0;
  std::uint64_t macs = 0;  // MACs of the unit: MACs per sample × samples
  std::uint64_t samples() const { return end - begin; }
};

// A layer as the plan sees it: enough to cut it into units and to name them.
struct PlanLayer {
  std::string name;
  LayerType type = LayerType::conv;
  std::uint64_t samples = 0;           // samples profiled (after --samples)
  std::uint64_t macs_per_sample = 0;
  std::uint64_t unit_samples = 0;      // samples per unit (the last unit of a layer may hold fewer)
};

struct PlanOptions {
  std::uint64_t sample_limit = 0;  // --samples: the first N samples of each layer; 0 = all
  std::uint64_t unit_samples = 0;  // --unit-samples: samples per unit; 0 = by kDefaultUnitMacs
};

// The default unit: as many samples as fit in 2^35 MACs (at least one).
// The cpu engine profiles about 65·10^9 MACs per second on two cores
// (docs/performance.md), so a default unit is about half a second of work
// there and 0.2 s on 16 cores: long enough that a unit's fixed costs (the
// weights' terms, about 3 ms per layer) stay near 1 %, short enough that a
// checkpoint loses little. One ResNet-50 image is 4.1·10^9 MACs in 54
// layers, so its layers get units of 75 to 2,000 samples.
inline constexpr std::uint64_t kDefaultUnitMacs = std::uint64_t{1} << 35;

struct UnitPlan {
  PlanOptions options;
  std::vector<PlanLayer> layers;
  std::vector<Unit> units;                   // layer by layer, samples in order
  std::vector<std::size_t> layer_first_unit;  // layers.size() + 1 entries: units of layer l are [first[l], first[l+1])
  std::uint64_t macs = 0;                    // of every unit
  std::uint64_t images = 0;                  // the most samples of any layer

  std::string describe(const Unit& unit) const;  // "unit 7 (layer 'conv1', samples 8..12)"
};

// The plan of `network` (its layers, in order). Throws laconic::Error when a
// layer's shape is not a layer, or when the run has 2^54 MACs or more (its
// counts could pass 2^64; profile_network refuses the same).
UnitPlan make_plan(const Network& network, const PlanOptions& options);

// The same plan from its layers alone (name, type, samples and MACs per
// sample of each; unit_samples is recomputed), for `laconic merge`, which has
// the reports and not the traces.
UnitPlan make_plan(std::vector<PlanLayer> layers, const PlanOptions& options);

// Units [first, last) of the plan.
struct Block {
  std::size_t first = 0, last = 0;
  std::size_t size() const { return last - first; }
  bool contains(std::size_t unit) const { return unit >= first && unit < last; }
};

// Part `part` (0-based) of `parts` contiguous parts of the units of `within`,
// balanced by MACs: part p starts at the first unit whose MACs before it
// reach p/parts of the block's MACs. Every unit is in exactly one part; with
// more parts than units some parts are empty. Shards split the whole plan,
// MPI ranks split a shard's block (or the whole plan).
Block split(const UnitPlan& plan, Block within, std::size_t part, std::size_t parts);
inline Block whole(const UnitPlan& plan) { return Block{0, plan.units.size()}; }

}  // namespace laconic::run
