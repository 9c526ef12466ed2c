#include "laconic/config.hpp"

#include "laconic/error.hpp"

namespace laconic {

std::string_view to_string(Accelerator accelerator) {
  switch (accelerator) {
    case Accelerator::baseline: return "baseline";
    case Accelerator::stripes: return "stripes";
    case Accelerator::pragmatic: return "pragmatic";
    case Accelerator::laconic: return "laconic";
  }
  return "?";
}

std::optional<Accelerator> parse_accelerator(std::string_view name) {
  for (Accelerator a : kAccelerators)
    if (name == to_string(a)) return a;
  return std::nullopt;
}

std::string_view to_string(DepthwiseMapping mapping) {
  switch (mapping) {
    case DepthwiseMapping::per_group: return "per-group";
    case DepthwiseMapping::diagonal: return "diagonal";
  }
  return "?";
}

std::optional<DepthwiseMapping> parse_depthwise_mapping(std::string_view name) {
  if (name == "per-group") return DepthwiseMapping::per_group;
  if (name == "diagonal") return DepthwiseMapping::diagonal;
  return std::nullopt;
}

std::string_view to_string(Preset preset) {
  switch (preset) {
    case Preset::dnnsim: return "dnnsim";
    case Preset::equal: return "equal";
  }
  return "?";
}

std::optional<Preset> parse_preset(std::string_view name) {
  if (name == "dnnsim") return Preset::dnnsim;
  if (name == "equal") return Preset::equal;
  return std::nullopt;
}

void ProfileConfig::set_all_geometries(const Geometry& geometry) { geometries.fill(geometry); }

ProfileConfig ProfileConfig::preset(Preset preset) {
  ProfileConfig config;  // the defaults are the dnnsim preset
  if (preset == Preset::equal) {
    config.set_all_geometries(Geometry{});
    config.column_registers.fill(0);
    config.depthwise = DepthwiseMapping::per_group;
    config.fold_first_layer = false;
  }
  return config;
}

namespace {
bool same_accelerators(const ProfileConfig& a, const ProfileConfig& b) {
  return a.geometries == b.geometries && a.shifter_bits == b.shifter_bits &&
         a.column_registers == b.column_registers && a.depthwise == b.depthwise &&
         a.fold_first_layer == b.fold_first_layer;
}
}  // namespace

std::optional<Preset> ProfileConfig::matching_preset() const {
  for (Preset p : {Preset::dnnsim, Preset::equal})
    if (same_accelerators(*this, ProfileConfig::preset(p))) return p;
  return std::nullopt;
}

bool operator==(const ProfileConfig& a, const ProfileConfig& b) {
  return a.encoding == b.encoding && a.baseline_width == b.baseline_width && same_accelerators(a, b);
}

void ProfileConfig::validate() const {
  for (Accelerator a : kAccelerators) {
    const Geometry& g = geometry(a);
    const std::string name(to_string(a));
    auto positive = [&](std::int64_t v, const char* what) {
      if (v <= 0)
        throw Error("geometry of " + name + ": " + what + " must be a positive number, not " + std::to_string(v));
      if (v > (1 << 20)) throw Error("geometry of " + name + ": " + what + " is implausibly large: " + std::to_string(v));
    };
    positive(g.tiles, "tiles");
    positive(g.rows, "rows");
    positive(g.columns, "columns");
    positive(g.lanes, "lanes");
    const int r = registers(a);
    if (r < 0 || r > (1 << 20))
      throw Error("column registers of " + name + " must be between 0 and 1048576, not " + std::to_string(r));
    if (r != 0 && (a == Accelerator::baseline || a == Accelerator::stripes))
      throw Error("column registers of " + name +
                  ": only pragmatic and laconic have them (the " + name +
                  " accelerator's steps cost the same in every column, MODEL.md §8)");
  }
  if (baseline_width < 1 || baseline_width > 32)
    throw Error("the baseline width must be between 1 and 32 bits, not " + std::to_string(baseline_width));
  if (shifter_bits != kShifterUnbounded && (shifter_bits < 0 || shifter_bits > kMaxShifterBits))
    throw Error("the first-stage shifter bits B must be between 0 and " + std::to_string(kMaxShifterBits) +
                " or inf, not " + std::to_string(shifter_bits));
}

}  // namespace laconic
