// One codec for a unit's result: a sequence of 64-bit integers holding every
// count of the unit's LayerResult. The same words are a checkpoint record's
// payload (little-endian bytes, checkpoint.hpp), a partial report's "counts"
// (JSON integers, partial.hpp) and what MPI ranks send to rank 0
// (MPI_UINT64_T, mpi.hpp): only integers ever leave a process.
//
// Layout (every entry one word):
//   kUnitCodecVersion, unit index, layer index, begin, end,
//   H = kMaxTerms + 1, activation histogram[H], weight histogram[H],
//   then per sample in order: sample, macs, work (baseline, zero_skip,
//   stripes, pragmatic, laconic), cycles (baseline, stripes, pragmatic,
//   laconic).
// The layer's name and type are not stored: the plan gives them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "laconic/results.hpp"
#include "laconic/run/plan.hpp"

namespace laconic::run {

inline constexpr std::uint64_t kUnitCodecVersion = 1;
inline constexpr std::size_t kUnitHeaderWords = 6 + 2 * (kMaxTerms + 1);
inline constexpr std::size_t kWordsPerSample = 11;

// The words of `result`, the result of `unit`. Throws std::logic_error when
// the result does not hold exactly the unit's samples, in order.
std::vector<std::uint64_t> encode_unit(const Unit& unit, const LayerResult& result);

// A decoded unit: its index in the plan and its result.
struct DecodedUnit {
  std::size_t unit = 0;
  LayerResult result;
};

// Decodes `count` words against `plan`. Throws laconic::Error, prefixed by
// `what` (the file and record, or the report and unit), when the words are
// not a unit of this plan: another codec version, a unit index outside the
// plan, a layer or sample range other than the plan's for that unit, a
// length that does not fit the samples, or per-sample entries out of order.
DecodedUnit decode_unit(const std::uint64_t* words, std::size_t count, const UnitPlan& plan, const std::string& what);

}  // namespace laconic::run
