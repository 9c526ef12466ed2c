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
  std::uint64_t unit_samples = 0;      // samples per unit (the last unit of a layer may hold fewer)
};

struct PlanOptions {
  std::uint64_t sample_limit = 0;  // --samples: the first N samples of each layer; 0 = all
  std::uint64_t unit_samples = 0;  // --unit-samples: samples per unit; 0 = by kDefaultUnitCost
};

// What a sample of a layer costs, in MAC-equivalents: its MACs plus
// kActivationValueCost per activation value. The engines' time goes mostly
// to the activations (reading and narrowing them, their terms, the padded
// planes of §4), not to the MACs, whose work the factorizations of §4 and §5
// share out: fitted to the cpu engine's time per layer on ResNet-50 (one
// thread, 16 images), a value costs about as much as 1,500 MACs, and the two
// terms predict each layer's time within about 20 % (docs/performance.md).
// MACs alone put four times the cost of the last half of ResNet-50's MACs
// in its first half.
inline constexpr std::uint64_t kActivationValueCost = 1500;
std::uint64_t sample_cost(const PlanLayer& layer);

// The default unit: as many samples as cost 2^36 MAC-equivalents (at least
// one): about half a second of the cpu engine on one core, 0.3 s on two,
// 0.1 s on 16 — long enough that a unit's fixed costs (the weights' terms,
// a few ms per layer, and a checkpoint record's fdatasync) stay near 1 %,
// short enough that an interruption loses little. A ResNet-50 image is
// 2·10^10 MAC-equivalents; its conv layers get units of 52 to 772 samples.
inline constexpr std::uint64_t kDefaultUnitCost = std::uint64_t{1} << 36;

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
// balanced by cost: part p starts at the unit boundary whose cost before it
// is nearest to p/parts of the block's cost. Every unit is in exactly one part; with
// more parts than units some parts are empty. Shards split the whole plan,
// MPI ranks split a shard's block (or the whole plan).
Block split(const UnitPlan& plan, Block within, std::size_t part, std::size_t parts);
inline Block whole(const UnitPlan& plan) { return Block{0, plan.units.size()}; }

}  // namespace laconic::run
