// Reading the accelerators' settings: the JSON configuration file and the
// command-line values (include/laconic/run_config.hpp). Range checks that
// ProfileConfig::validate already words (registers, B, baseline width) are
// left to it, so the file, the options and the library say the same thing.
#include "laconic/run_config.hpp"

#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "laconic/error.hpp"
#include "suggest.hpp"

namespace laconic {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr std::int64_t kMaxGeometry = std::int64_t{1} << 20;  // as ProfileConfig::validate

const std::vector<std::string>& accelerator_names_and_all() {
  static const std::vector<std::string> names = {"all", "baseline", "stripes", "pragmatic", "laconic"};
  return names;
}

const std::vector<std::string>& dimension_keys() {
  static const std::vector<std::string> keys = {"tiles", "rows", "columns", "lanes"};
  return keys;
}

const char* const kDimensionNames[4] = {"tiles T", "rows Rt", "columns Ct", "lanes L"};

std::int64_t& dimension(Geometry& g, std::size_t i) {
  switch (i) {
    case 0: return g.tiles;
    case 1: return g.rows;
    case 2: return g.columns;
    default: return g.lanes;
  }
}

// The accelerators a name stands for: one, or the four for "all".
std::vector<Accelerator> accelerators_named(const std::string& name) {
  if (name == "all") return {kAccelerators.begin(), kAccelerators.end()};
  if (const auto a = parse_accelerator(name)) return {*a};
  throw Error("'" + name + "' is not an accelerator" + unknown_name_hint(name, accelerator_names_and_all(), "one of"));
}

void check_dimension(std::int64_t v, std::size_t i) {
  if (v <= 0) throw Error(std::string(kDimensionNames[i]) + " must be a positive number, not " + std::to_string(v));
  if (v > kMaxGeometry)
    throw Error(std::string(kDimensionNames[i]) + " is implausibly large: " + std::to_string(v) + " (at most " +
                std::to_string(kMaxGeometry) + ")");
}

// Ranges as ProfileConfig::validate words them, checked on the 64-bit value
// read before it is narrowed to an int.
void check_shifter_bits(std::int64_t b) {
  if (b < 0 || b > kMaxShifterBits)
    throw Error("the first-stage shifter bits B must be between 0 and " + std::to_string(kMaxShifterBits) +
                " or inf, not " + std::to_string(b));
}

void check_baseline_width(std::int64_t w) {
  if (w < 1 || w > 32) throw Error("the baseline width must be between 1 and 32 bits, not " + std::to_string(w));
}

// Column registers R of `a`: 0 .. 2^20, and none for the baseline and Stripes
// (ProfileConfig::validate gives the reason).
void check_registers(Accelerator a, std::int64_t r) {
  if (r < 0 || r > (1 << 20))
    throw Error("column registers of " + std::string(to_string(a)) + " must be between 0 and 1048576, not " +
                std::to_string(r));
  ProfileConfig probe = ProfileConfig::preset(Preset::equal);
  probe.column_registers[static_cast<std::size_t>(a)] = static_cast<int>(r);
  probe.validate();
}

std::int64_t parse_integer(std::string_view text, const std::string& what) {
  std::int64_t v = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, v);
  if (text.empty() || ec != std::errc() || ptr != end)
    throw Error(what + " must be an integer, not '" + std::string(text) + "'");
  return v;
}

std::pair<std::string, std::string> split_assignment(std::string_view text, const char* form) {
  const auto eq = text.find('=');
  if (eq == std::string_view::npos || eq == 0)
    throw Error("expected " + std::string(form) + ", not '" + std::string(text) + "'");
  return {std::string(text.substr(0, eq)), std::string(text.substr(eq + 1))};
}

// ---------------------------------------------------------------------------
// The configuration file

// Where a problem in the file is: "<path>: <key>: <what>".
struct FileContext {
  std::string path;
  [[noreturn]] void fail(const std::string& key, const std::string& what) const {
    throw Error(path + ": " + (key.empty() ? "" : key + ": ") + what);
  }
};

void check_keys(const json& object, const std::vector<std::string>& allowed, const std::string& where,
                const FileContext& ctx) {
  for (const auto& item : object.items())
    if (std::find(allowed.begin(), allowed.end(), item.key()) == allowed.end())
      ctx.fail("", "unknown key '" + item.key() + "'" + (where.empty() ? "" : " in " + where) +
                       unknown_name_hint(item.key(), allowed));
}

std::int64_t file_integer(const json& v, const std::string& key, const FileContext& ctx) {
  if (v.is_number_unsigned() && v.get<std::uint64_t>() > std::uint64_t{INT64_MAX})
    ctx.fail(key, "is too large: " + v.dump());
  if (v.is_number_integer()) return v.get<std::int64_t>();
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.0e15) return static_cast<std::int64_t>(d);
  }
  ctx.fail(key, "must be an integer, not " + v.dump());
}

std::string file_string(const json& v, const std::string& key, const FileContext& ctx) {
  if (!v.is_string()) ctx.fail(key, "must be a string, not " + v.dump());
  return v.get<std::string>();
}

// Runs `parse` on a string value; its laconic::Error becomes one naming the key.
template <typename T, typename Parse>
T file_choice(const json& v, const std::string& key, const FileContext& ctx, Parse parse) {
  const std::string text = file_string(v, key, ctx);
  try {
    return parse(text);
  } catch (const Error& e) {
    ctx.fail(key, e.what());
  }
}

// Runs a check of the value at `key`; its laconic::Error becomes one naming the key.
template <typename Check>
void file_check(const std::string& key, const FileContext& ctx, Check check) {
  try {
    check();
  } catch (const Error& e) {
    ctx.fail(key, e.what());
  }
}

// [T, Rt, Ct, L], or an object with any of tiles, rows, columns, lanes, over `g`.
void apply_file_geometry(Geometry& g, const json& v, const std::string& key, const FileContext& ctx) {
  auto set = [&](std::size_t i, const json& value, const std::string& at) {
    const std::int64_t n = file_integer(value, at, ctx);
    try {
      check_dimension(n, i);
    } catch (const Error& e) {
      ctx.fail(at, e.what());
    }
    dimension(g, i) = n;
  };
  if (v.is_array()) {
    if (v.size() != 4) ctx.fail(key, "must be [T, Rt, Ct, L] (four numbers), not " + v.dump());
    for (std::size_t i = 0; i < 4; ++i) set(i, v[i], key + "[" + std::to_string(i) + "]");
    return;
  }
  if (!v.is_object())
    ctx.fail(key, "must be [T, Rt, Ct, L] or an object with any of tiles, rows, columns, lanes, not " + v.dump());
  check_keys(v, dimension_keys(), key, ctx);
  for (std::size_t i = 0; i < 4; ++i)
    if (v.contains(dimension_keys()[i])) set(i, v[dimension_keys()[i]], key + "." + dimension_keys()[i]);
}

// The preset's accelerator settings over `config`; encoding and width stay.
void apply_preset(ProfileConfig& config, Preset preset) {
  ProfileConfig p = ProfileConfig::preset(preset);
  p.encoding = config.encoding;
  p.baseline_width = config.baseline_width;
  p.compute_work = config.compute_work;
  p.compute_cycles = config.compute_cycles;
  config = p;
}

}  // namespace

const std::vector<std::string>& profile_config_keys() {
  static const std::vector<std::string> keys = {"preset",           "encoding",         "baseline_width",
                                                "geometry",         "shifter_bits",     "column_registers",
                                                "depthwise",        "fold_first_layer"};
  return keys;
}

ProfileConfig parse_profile_config(const std::string& json_text, const std::string& path, const ProfileConfig& base,
                                   std::optional<Preset>* named_preset) {
  const FileContext ctx{path};
  json doc;
  try {
    doc = json::parse(json_text, nullptr, true, /*ignore_comments=*/true);
  } catch (const json::exception& e) {  // parse_error, and out_of_range for a number like 1e400
    ctx.fail("", std::string("not valid JSON: ") + e.what());
  }
  if (!doc.is_object())
    ctx.fail("", "a configuration file is a JSON object of settings (\"preset\", \"geometry\", ...), not " +
                     doc.dump().substr(0, 40));
  check_keys(doc, profile_config_keys(), "", ctx);

  ProfileConfig config = base;
  if (named_preset) named_preset->reset();
  if (doc.contains("preset")) {
    const Preset p = file_choice<Preset>(doc["preset"], "preset", ctx, parse_preset_setting);
    apply_preset(config, p);
    if (named_preset) *named_preset = p;
  }
  if (doc.contains("encoding"))
    config.encoding = file_choice<Encoding>(doc["encoding"], "encoding", ctx, parse_encoding_setting);
  if (doc.contains("baseline_width")) {
    const std::int64_t w = file_integer(doc["baseline_width"], "baseline_width", ctx);
    file_check("baseline_width", ctx, [&] { check_baseline_width(w); });
    config.baseline_width = static_cast<int>(w);
  }
  if (doc.contains("geometry")) {
    const json& g = doc["geometry"];
    if (!g.is_object())
      ctx.fail("geometry", "must be an object of accelerator names (or \"all\") to geometries, not " + g.dump());
    check_keys(g, accelerator_names_and_all(), "geometry", ctx);
    if (g.contains("all"))
      for (Accelerator a : kAccelerators) apply_file_geometry(config.geometry(a), g["all"], "geometry.all", ctx);
    for (Accelerator a : kAccelerators) {
      const std::string name(to_string(a));
      if (g.contains(name)) apply_file_geometry(config.geometry(a), g[name], "geometry." + name, ctx);
    }
  }
  if (doc.contains("shifter_bits")) {
    const json& v = doc["shifter_bits"];
    int bits = 0;
    if (v.is_string()) {
      bits = file_choice<int>(v, "shifter_bits", ctx, parse_shifter_bits);
    } else {
      const std::int64_t n = file_integer(v, "shifter_bits", ctx);
      file_check("shifter_bits", ctx, [&] { check_shifter_bits(n); });
      bits = static_cast<int>(n);
    }
    config.shifter_bits = bits;
  }
  if (doc.contains("column_registers")) {
    const json& v = doc["column_registers"];
    if (!v.is_object())
      ctx.fail("column_registers", "must be an object such as {\"pragmatic\": 1, \"laconic\": 0}, not " + v.dump());
    check_keys(v, accelerator_names_and_all(), "column_registers", ctx);
    auto set = [&](const std::string& name, const std::vector<Accelerator>& which) {
      if (!v.contains(name)) return;
      const std::string key = "column_registers." + name;
      const std::int64_t r = file_integer(v[name], key, ctx);
      for (Accelerator a : which) file_check(key, ctx, [&] { check_registers(a, r); });
      for (Accelerator a : which) config.column_registers[static_cast<std::size_t>(a)] = static_cast<int>(r);
    };
    set("all", {Accelerator::pragmatic, Accelerator::laconic});
    for (Accelerator a : kAccelerators) set(std::string(to_string(a)), {a});
  }
  if (doc.contains("depthwise"))
    config.depthwise = file_choice<DepthwiseMapping>(doc["depthwise"], "depthwise", ctx, parse_depthwise_setting);
  if (doc.contains("fold_first_layer")) {
    const json& v = doc["fold_first_layer"];
    if (!v.is_boolean()) ctx.fail("fold_first_layer", "must be true or false, not " + v.dump());
    config.fold_first_layer = v.get<bool>();
  }
  try {
    config.validate();
  } catch (const Error& e) {
    ctx.fail("", e.what());
  }
  return config;
}

ProfileConfig read_profile_config(const std::string& path, const ProfileConfig& base,
                                  std::optional<Preset>* named_preset) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error(path + ": no such configuration file");
  if (fs::is_directory(path, ec)) throw Error(path + ": is a directory, not a configuration file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot be read");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw Error(path + ": cannot be read");
  return parse_profile_config(text.str(), path, base, named_preset);
}

// ---------------------------------------------------------------------------
// Command-line values

void apply_geometry_setting(ProfileConfig& config, std::string_view text) {
  const char* form = "ACCELERATOR=T,Rt,Ct,L (e.g. laconic=16,16,16,16)";
  const auto [name, numbers] = split_assignment(text, form);
  const std::vector<Accelerator> which = accelerators_named(name);
  std::vector<std::string_view> parts;
  std::string_view rest = numbers;
  for (;;) {
    const auto comma = rest.find(',');
    parts.push_back(rest.substr(0, comma));
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  if (parts.size() != 4) throw Error("expected " + std::string(form) + ", not '" + std::string(text) + "'");
  Geometry g;
  for (std::size_t i = 0; i < 4; ++i) {
    dimension(g, i) = parse_integer(parts[i], kDimensionNames[i]);
    check_dimension(dimension(g, i), i);
  }
  for (Accelerator a : which) config.geometry(a) = g;
}

void apply_column_registers_setting(ProfileConfig& config, std::string_view text) {
  const auto [name, number] = split_assignment(text, "ACCELERATOR=R (pragmatic, laconic or all)");
  std::vector<Accelerator> which = accelerators_named(name);
  if (name == "all") which = {Accelerator::pragmatic, Accelerator::laconic};
  const std::int64_t r = parse_integer(number, "the number of column registers");
  for (Accelerator a : which) check_registers(a, r);
  for (Accelerator a : which) config.column_registers[static_cast<std::size_t>(a)] = static_cast<int>(r);
}

int parse_shifter_bits(std::string_view text) {
  if (text == "inf") return kShifterUnbounded;
  std::int64_t b = 0;
  try {
    b = parse_integer(text, "the first-stage shifter bits B");
  } catch (const Error&) {
    throw Error("the first-stage shifter bits B must be between 0 and " + std::to_string(kMaxShifterBits) +
                " or inf, not '" + std::string(text) + "'");
  }
  check_shifter_bits(b);
  return static_cast<int>(b);
}

bool parse_on_off(std::string_view text) {
  if (text == "on") return true;
  if (text == "off") return false;
  throw Error("must be on or off, not '" + std::string(text) + "'");
}

DepthwiseMapping parse_depthwise_setting(std::string_view text) {
  if (const auto m = parse_depthwise_mapping(text)) return *m;
  throw Error("must be per-group or diagonal, not '" + std::string(text) + "'");
}

Preset parse_preset_setting(std::string_view text) {
  if (const auto p = parse_preset(text)) return *p;
  throw Error("must be dnnsim or equal, not '" + std::string(text) + "'");
}

Encoding parse_encoding_setting(std::string_view text) {
  if (const auto e = parse_encoding(text)) return *e;
  throw Error("must be binary, booth, naf or dnnsim-booth, not '" + std::string(text) + "'");
}

std::string shifter_bits_text(int shifter_bits) {
  return shifter_bits == kShifterUnbounded ? "inf" : std::to_string(shifter_bits);
}

}  // namespace laconic
