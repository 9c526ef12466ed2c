// Shards and their partial reports (README "Shards and merge").
//
// `laconic profile --shard I/N --json part-I.json` profiles block I of N of
// the unit plan (plan.hpp: contiguous, balanced by cost) and writes a partial
// report: the JSON report of its own units (so it is still a laconic JSON
// report, schema 2) with a "partial" object that holds what merging needs:
//
//   "partial": {
//     "shard": {"index": I, "count": N},            // 1-based, as given
//     "units": {"first": a, "end": b, "total": M},  // the block [a, b) of the plan's M units
//     "identity": {...},                             // the run's identity (identity.hpp)
//     "results": [{"unit": u, "layer": "conv1", "samples": [begin, end], "counts": [...]}, ...]
//   }
//
// where "counts" are the unit's words (codec.hpp). `laconic merge` sums the
// partial reports of a run into the report one process would have written.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "laconic/profile.hpp"
#include "laconic/run/plan.hpp"

namespace laconic::run {

// Shard `index` (0-based) of `count`.
struct Shard {
  std::size_t index = 0;
  std::size_t count = 1;
};

// Parses "I/N" (1 ≤ I ≤ N); throws laconic::Error saying what is wrong.
Shard parse_shard(const std::string& text);

// What a report needs to know of a layer besides its counts.
struct LayerInfo {
  LayerShape shape;
  Precision activation_precision, weight_precision;
  std::string activation_quantization, weight_quantization;
};
std::vector<LayerInfo> layer_infos(const Network& network);

// The profiled layers of `plan` that have units in `units` (unit index ->
// result), in plan order, each the exact merge of its units
// (LayerResult::merge). With `complete`, every unit of the plan must be
// there (std::logic_error otherwise).
std::vector<ProfiledLayer> assemble_layers(const UnitPlan& plan, const std::vector<LayerInfo>& info,
                                           const std::map<std::size_t, LayerResult>& units, bool complete);

// The partial report of `shard`: `result` holds the layers of its units
// (assemble_layers), `units` every unit of `block`.
std::string partial_report(const NetworkResult& result, const UnitPlan& plan, Shard shard, Block block,
                           const std::string& identity, const std::map<std::size_t, LayerResult>& units);

// Merges the partial reports at `paths` into the result of the whole run.
// Throws laconic::Error naming the file (and the other file, the unit or the
// field) when a file is not a partial report, when two reports are of
// different runs (configuration, network, plan, tool version or traces:
// every difference listed), when a unit is in two reports or in none (the
// shard that should hold it named), or when a unit's counts are damaged.
// The result's engine is the reports' engine, or their engines joined by
// "+" when they differ.
NetworkResult merge_partial_reports(const std::vector<std::string>& paths);

}  // namespace laconic::run
