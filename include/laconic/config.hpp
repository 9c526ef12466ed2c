// What to compute and on which accelerators (MODEL.md §4, §5, §8, §9).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "laconic/terms.hpp"

namespace laconic {

// T tiles, each of Rt rows (filters) × Ct columns (windows) × L lanes
// (channels); T·Rt filters are in flight (§5).
struct Geometry {
  std::int64_t tiles = 16;    // T
  std::int64_t rows = 16;     // Rt
  std::int64_t columns = 16;  // Ct
  std::int64_t lanes = 16;    // L
  std::int64_t filters_in_flight() const { return tiles * rows; }
  friend bool operator==(const Geometry& a, const Geometry& b) {
    return a.tiles == b.tiles && a.rows == b.rows && a.columns == b.columns && a.lanes == b.lanes;
  }
  friend bool operator!=(const Geometry& a, const Geometry& b) { return !(a == b); }
};

// The four accelerators whose cycles are counted (§8): the bit-parallel
// baseline (DaDianNao-like), Stripes (bit-serial activations), Pragmatic
// (term-serial activations, §9) and Laconic (terms of both operands, §5).
enum class Accelerator : std::uint8_t { baseline = 0, stripes = 1, pragmatic = 2, laconic = 3 };
inline constexpr int kAcceleratorCount = 4;
inline constexpr std::array<Accelerator, kAcceleratorCount> kAccelerators{
    Accelerator::baseline, Accelerator::stripes, Accelerator::pragmatic, Accelerator::laconic};

std::string_view to_string(Accelerator accelerator);
std::optional<Accelerator> parse_accelerator(std::string_view name);

// §8 depthwise mapping of a layer whose weights have one channel and whose
// input has more: each group on its own (§5), or DNNsim's diagonal mapping
// (min(L, Rt) filters per step, one per row, each in its own lane).
enum class DepthwiseMapping : std::uint8_t { per_group, diagonal };
std::string_view to_string(DepthwiseMapping mapping);
std::optional<DepthwiseMapping> parse_depthwise_mapping(std::string_view name);

// §8 presets: `dnnsim` (the default; DNNsim's example configurations) and
// `equal` (every accelerator at one geometry, §5 as first written).
enum class Preset : std::uint8_t { dnnsim, equal };
std::string_view to_string(Preset preset);
std::optional<Preset> parse_preset(std::string_view name);

// §9: a first-stage shifter of unbounded reach (B = ∞, the ideal case).
inline constexpr int kShifterUnbounded = -1;
// Largest finite B accepted: 2^B − 1 already covers every term position (≤ 33).
inline constexpr int kMaxShifterBits = 31;

struct ProfileConfig {
  Encoding encoding = Encoding::booth;
  // Each accelerator's geometry, indexed by Accelerator (§8). The default is
  // the dnnsim preset: the baseline at one column, the others at 16.
  std::array<Geometry, kAcceleratorCount> geometries{Geometry{16, 16, 1, 16}, Geometry{}, Geometry{}, Geometry{}};
  // §9 first-stage shifter bits B of Pragmatic; kShifterUnbounded for B = ∞.
  int shifter_bits = 2;
  // §8 column registers R per accelerator. Only Pragmatic and Laconic have
  // them; the baseline's and Stripes' steps cost the same in every column,
  // so registers could not change their cycles and must stay 0.
  std::array<int, kAcceleratorCount> column_registers{0, 0, 1, 0};
  DepthwiseMapping depthwise = DepthwiseMapping::diagonal;  // §8
  bool fold_first_layer = true;                             // §8
  int baseline_width = 16;  // P_base, the bit-parallel operand width (§2, §4)
  // Which figures to compute; the benchmark times them separately. Term
  // statistics are always computed.
  bool compute_work = true;
  bool compute_cycles = true;

  const Geometry& geometry(Accelerator a) const { return geometries[static_cast<std::size_t>(a)]; }
  Geometry& geometry(Accelerator a) { return geometries[static_cast<std::size_t>(a)]; }
  int registers(Accelerator a) const { return column_registers[static_cast<std::size_t>(a)]; }
  // Every accelerator at `geometry`.
  void set_all_geometries(const Geometry& geometry);

  // The settings of a preset (§8), encoding and baseline width at their
  // defaults (booth, 16): dnnsim as the defaults above; equal is every
  // accelerator at T = Rt = Ct = L = 16, per-group depthwise, no fold, no
  // column registers, B = 2.
  static ProfileConfig preset(Preset preset);
  // The preset whose accelerator settings (geometries, B, registers,
  // depthwise mapping, fold) all equal this configuration's, if any.
  std::optional<Preset> matching_preset() const;

  // Throws laconic::Error naming the setting: a non-positive or implausibly
  // large geometry, a baseline width outside 1..32, B outside 0..31 (or ∞),
  // registers outside 0..2^20 or set on the baseline or Stripes.
  void validate() const;

  // Every setting equal but compute_work and compute_cycles.
  friend bool operator==(const ProfileConfig& a, const ProfileConfig& b);
  friend bool operator!=(const ProfileConfig& a, const ProfileConfig& b) { return !(a == b); }
};

}  // namespace laconic
