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
  std::uint64_t cost = 0;  // its estimated cost (unit_cost), what blocks balance
  std::uint64_t samples() const { return end - begin; }
};

// A layer as the plan sees it: enough to cut it into units and to name them.
struct PlanLayer {
  std::string name;
  LayerType type = LayerType::conv;
  std::uint64_t samples = 0;           // samples profiled (after --samples)
  std::uint64_t macs_per_sample = 0;
  std::uint64_t values_per_sample = 0;  // activation values per sample (C·H·W)
  std::uint64_t window_reads_per_sample = 0;  // Ho·Wo·C·R·S: MACs / filters per group
  std::uint64_t unit_samples = 0;      // samples per unit (the last unit of a layer may hold fewer)
};

struct PlanOptions {
  std::uint64_t sample_limit = 0;  // --samples: the first N samples of each layer; 0 = all
  std::uint64_t unit_samples = 0;  // --unit-samples: samples per unit; 0 = by kDefaultUnitCost
};

// What a sample of a layer costs the engines, in window reads: 9 per
// activation value (C·H·W) plus 1 per window read (Ho·Wo·C·R·S, every
// activation that every output window reads: the §5 window-set maxima run
// over them). Their time follows the activations, not the MACs, whose work
// the factorizations of §4 and §5 share out: fitted to the cpu engine's time
// per layer on ResNet-50 (one thread, 64 images, docs/performance.md), a
// value costs 6.9 ns (reading, narrowing, terms, the padded planes) and a
// window read 0.8 ns, and the two terms predict each layer's time within
// 17 % (rms) where MACs alone are off by 150 %. Balanced by this cost, two
// ranks share ResNet-50's time within 1 % (simulated on the measured layer
// times, 1,407 images); balanced by MACs, the first would get 2.8 times the
// second's time (the early layers' activations are large for their MACs).
inline constexpr std::uint64_t kActivationValueCost = 9;
std::uint64_t sample_cost(const PlanLayer& layer);

// The default unit: as many samples as cost 2^29 window reads (at least
// one): 0.3 to 0.6 s of the cpu engine on one core for ResNet-50's conv
// layers (0.1 s or less on 16 cores): long enough that a unit's fixed costs
// (the weights' terms, a checkpoint record) stay near 1 %, short enough that
// an interruption loses little. ResNet-50's conv layers get units of 148 to
// 2,139 samples.
inline constexpr std::uint64_t kDefaultUnitCost = std::uint64_t{1} << 29;

struct UnitPlan {
  PlanOptions options;
  std::vector<PlanLayer> layers;
  std::vector<Unit> units;                   // layer by layer, samples in order
  std::vector<std::size_t> layer_first_unit;  // layers.size() + 1 entries: units of layer l are [first[l], first[l+1])
  std::uint64_t macs = 0;                    // of every unit
  std::uint64_t images = 0;                  // the most samples of any layer

  std::string describe(const Unit& unit) const;  // "unit 7 (layer 'conv1', samples [8, 12))"
};

// The plan of `network` (its layers, in order). Throws laconic::Error when a
// layer's shape is not a layer, or when the run has 2^54 MACs or more (its
// counts could pass 2^64; profile_network refuses the same).
UnitPlan make_plan(const Network& network, const PlanOptions& options);

// The same plan from its layers alone (name, type, samples and MACs per
// sample of each; unit_samples is recomputed), for `laconic merge`, which has
// the reports and not the traces.
UnitPlan make_plan(std::vector<PlanLayer> layers, const PlanOptions& options);

// Units [first, last) of a plan: `last` is one past the block's last unit.
struct Block {
  std::size_t first = 0, last = 0;
  std::size_t size() const { return last - first; }
  bool contains(std::size_t unit) const { return unit >= first && unit < last; }
};

// Part `part` (0-based) of `parts` contiguous parts of the units of `within`,
// balanced by cost: part p starts at the unit boundary whose cost before it
// is nearest to p/parts of the block's cost. Every unit is in exactly one part; with
// more parts than units some parts are empty. Shards split the whole plan,
// MPI ranks split a shard's block (or the whole plan).
Block split(const UnitPlan& plan, Block within, std::size_t part, std::size_t parts);
inline Block whole(const UnitPlan& plan) { return Block{0, plan.units.size()}; }
// A half-open range as messages write it: "[8, 12)".
inline std::string range_text(std::uint64_t begin, std::uint64_t end) {
  return "[" + std::to_string(begin) + ", " + std::to_string(end) + ")";
}

}  // namespace laconic::run
