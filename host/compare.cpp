#include "laconic/compare.hpp"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "laconic/error.hpp"
#include "laconic/report.hpp"
#include "laconic/run_config.hpp"
#include "report_json.hpp"

namespace laconic {

using nlohmann::json;
using nlohmann::ordered_json;

namespace {

// ---------------------------------------------------------------------------
// Reading a report back

// Reads typed fields of one report; every failure names the file and the
// field's JSON path.
class ReportReader {
 public:
  explicit ReportReader(std::string path) : path_(std::move(path)) {}

  [[noreturn]] void fail(const std::string& what) const {
    throw Error(path_ + ": not a laconic profile report: " + what);
  }

  const json& member(const json& object, const std::string& key, const std::string& where) const {
    if (!object.is_object()) fail(where + " is not an object");
    const auto it = object.find(key);
    if (it == object.end()) fail(join(where, key) + " is missing");
    return *it;
  }

  std::string text(const json& object, const std::string& key, const std::string& where) const {
    const json& v = member(object, key, where);
    if (!v.is_string()) fail(join(where, key) + " is not a string");
    return v.get<std::string>();
  }

  std::uint64_t count(const json& object, const std::string& key, const std::string& where) const {
    const json& v = member(object, key, where);
    if (v.is_number_unsigned()) return v.get<std::uint64_t>();
    if (v.is_number_integer() && v.get<std::int64_t>() >= 0) return static_cast<std::uint64_t>(v.get<std::int64_t>());
    fail(join(where, key) + " is not a non-negative integer (it is " + truncate(v.dump()) + ")");
  }

  // A count of at most `max`, for settings narrowed to int.
  std::int64_t bounded(const json& object, const std::string& key, const std::string& where, std::int64_t max) const {
    const std::uint64_t v = count(object, key, where);
    if (v > static_cast<std::uint64_t>(max))
      fail(join(where, key) + " is " + std::to_string(v) + ", more than the " + std::to_string(max) + " laconic allows");
    return static_cast<std::int64_t>(v);
  }

  bool boolean(const json& object, const std::string& key, const std::string& where) const {
    const json& v = member(object, key, where);
    if (!v.is_boolean()) fail(join(where, key) + " is not true or false");
    return v.get<bool>();
  }

  Work work(const json& object, const std::string& where) const {
    const json& w = member(object, "work", where);
    const std::string at = join(where, "work");
    Work out;
    out.baseline = count(w, "baseline", at);
    out.zero_skip = count(w, "zero_skip", at);
    out.stripes = count(w, "stripes", at);
    out.pragmatic = count(w, "pragmatic", at);
    out.laconic = count(w, "laconic", at);
    return out;
  }

  Cycles cycles(const json& object, const std::string& where) const {
    const json& c = member(object, "cycles", where);
    const std::string at = join(where, "cycles");
    Cycles out;
    out.baseline = count(c, "baseline", at);
    out.stripes = count(c, "stripes", at);
    out.pragmatic = count(c, "pragmatic", at);
    out.laconic = count(c, "laconic", at);
    return out;
  }

  static std::string join(const std::string& where, const std::string& key) {
    return where.empty() ? key : where + "." + key;
  }

 private:
  static std::string truncate(const std::string& s) { return s.size() <= 40 ? s : s.substr(0, 40) + "..."; }
  std::string path_;
};

// a += b, failing on a 64-bit overflow (no report of the tool overflows).
void add_checked(std::uint64_t& a, std::uint64_t b, const ReportReader& reader, const std::string& where) {
  if (a > std::numeric_limits<std::uint64_t>::max() - b) reader.fail("the layers' " + where + " overflow 64 bits");
  a += b;
}

void add_checked(Totals& sum, const Totals& t, const ReportReader& reader) {
  add_checked(sum.layers, t.layers, reader, "layer count");
  add_checked(sum.macs, t.macs, reader, "macs");
  add_checked(sum.work.baseline, t.work.baseline, reader, "work.baseline");
  add_checked(sum.work.zero_skip, t.work.zero_skip, reader, "work.zero_skip");
  add_checked(sum.work.stripes, t.work.stripes, reader, "work.stripes");
  add_checked(sum.work.pragmatic, t.work.pragmatic, reader, "work.pragmatic");
  add_checked(sum.work.laconic, t.work.laconic, reader, "work.laconic");
  add_checked(sum.cycles.baseline, t.cycles.baseline, reader, "cycles.baseline");
  add_checked(sum.cycles.stripes, t.cycles.stripes, reader, "cycles.stripes");
  add_checked(sum.cycles.pragmatic, t.cycles.pragmatic, reader, "cycles.pragmatic");
  add_checked(sum.cycles.laconic, t.cycles.laconic, reader, "cycles.laconic");
}

// Totals never overflow in comparisons of parsed reports (their sums were
// checked); rows of `common` add subsets of them.
void add(Totals& sum, const Totals& t) {
  sum.layers += t.layers;
  sum.macs += t.macs;
  sum.work += t.work;
  sum.cycles += t.cycles;
}

// Where a count metric sits in a report: "macs", "work.laconic", "cycles.stripes".
std::string json_path(Metric m) {
  std::string name = metric_name(m);
  const auto underscore = name.find('_');
  if (name.rfind("work_", 0) == 0 || name.rfind("cycles_", 0) == 0) name[underscore] = '.';
  return name;
}

// The first count of `stored` that is not the sum of the layers, or "".
std::string totals_mismatch(const Totals& stored, const Totals& sum) {
  for (Metric m : all_metrics()) {
    if (!metric_is_count(m)) continue;
    if (metric_count(stored, m) != metric_count(sum, m))
      return json_path(m) + " is " + std::to_string(metric_count(stored, m)) +
             " but the layers sum to " + std::to_string(metric_count(sum, m));
  }
  if (stored.layers != sum.layers)
    return "layers is " + std::to_string(stored.layers) + " but there are " + std::to_string(sum.layers);
  return "";
}

// The report's "config" (README "JSON report"), checked as the profile
// checked it: valid settings, and "preset" the one they match.
ReportConfig read_config(const ReportReader& reader, const json& config) {
  ReportConfig out;
  ProfileConfig& c = out.settings;
  const std::string encoding = reader.text(config, "encoding", "config");
  const auto parsed_encoding = parse_encoding(encoding);
  if (!parsed_encoding) reader.fail("config.encoding is '" + encoding + "', not binary, booth, naf or dnnsim-booth");
  c.encoding = *parsed_encoding;
  c.baseline_width = static_cast<int>(reader.bounded(config, "baseline_width", "config", 32));
  const json& accelerators = reader.member(config, "accelerators", "config");
  constexpr std::int64_t kMaxSetting = std::int64_t{1} << 20;
  for (Accelerator a : kAccelerators) {
    const std::string where = "config.accelerators." + std::string(to_string(a));
    const json& entry = reader.member(accelerators, std::string(to_string(a)), "config.accelerators");
    Geometry& g = c.geometry(a);
    g.tiles = reader.bounded(entry, "tiles", where, kMaxSetting);
    g.rows = reader.bounded(entry, "rows", where, kMaxSetting);
    g.columns = reader.bounded(entry, "columns", where, kMaxSetting);
    g.lanes = reader.bounded(entry, "lanes", where, kMaxSetting);
    c.column_registers[static_cast<std::size_t>(a)] =
        a == Accelerator::pragmatic || a == Accelerator::laconic
            ? static_cast<int>(reader.bounded(entry, "column_registers", where, kMaxSetting))
            : 0;
    if (a == Accelerator::pragmatic)
      c.shifter_bits = reader.member(entry, "shifter_bits", where).is_null()
                           ? kShifterUnbounded
                           : static_cast<int>(reader.bounded(entry, "shifter_bits", where, kMaxShifterBits));
  }
  const std::string depthwise = reader.text(config, "depthwise", "config");
  const auto mapping = parse_depthwise_mapping(depthwise);
  if (!mapping) reader.fail("config.depthwise is '" + depthwise + "', not per-group or diagonal");
  c.depthwise = *mapping;
  c.fold_first_layer = reader.boolean(config, "fold_first_layer", "config");
  try {
    c.validate();
  } catch (const Error& e) {
    reader.fail(std::string("config: ") + e.what());
  }
  const json& preset = reader.member(config, "preset", "config");
  const auto matching = c.matching_preset();
  const std::string matching_name = matching ? std::string(to_string(*matching)) : "null";
  if (!preset.is_null() && !preset.is_string()) reader.fail("config.preset is not a string or null");
  const std::string stored = preset.is_null() ? "null" : preset.get<std::string>();
  if (stored != matching_name)
    reader.fail("config.preset is " + stored + " but the accelerators' settings are " +
                (matching ? "those of the preset " + matching_name : "no preset's") +
                " (the report is damaged or was edited)");
  if (!reader.member(config, "sample_limit", "config").is_null())
    out.sample_limit = reader.count(config, "sample_limit", "config");
  out.source = reader.text(config, "source", "config");
  // Written since a precision profile could set the widths; null or absent: none.
  if (config.contains("precision_profile")) {
    const json& precisions = config["precision_profile"];
    if (!precisions.is_null() && !precisions.is_string())
      reader.fail("config.precision_profile is not a string or null");
    if (precisions.is_string()) out.precision_profile = precisions.get<std::string>();
  }
  return out;
}

}  // namespace

ReportConfig read_report_config(const json& config, const std::string& path) {
  return read_config(ReportReader(path), config);
}

Report parse_report(const std::string& text, const std::string& path) {
  const ReportReader reader(path);
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::exception& e) {
    throw Error(path + ": not a laconic profile report: not valid JSON (" + e.what() + ")");
  }
  if (!doc.is_object() || !doc.contains("tool") || doc["tool"] != "laconic")
    throw Error(path + ": not a laconic profile report (no \"tool\": \"laconic\"; make one with laconic profile --json)");
  if (doc.contains("kind") && doc["kind"] == "comparison")
    throw Error(path + ": is the output of laconic compare, not a profile report");
  // A shard's report holds some units of a run only (README "Shards and merge").
  if (doc.contains("partial"))
    throw Error(path + ": a partial report (one shard of a run, laconic profile --shard); merge the shards' reports "
                       "first: laconic merge PART.json... --json FILE");

  Report r;
  r.path = path;
  r.version = reader.text(doc, "version", "");
  // Reports of laconic 0.1 have no "schema": one geometry, no Pragmatic cycles.
  const std::string rerun = "re-run laconic profile --json with laconic " + version_string() +
                            " to compare it (laconic compare reads report schema " + std::to_string(kReportSchema) +
                            ")";
  if (!doc.contains("schema"))
    throw Error(path + ": a report of laconic " + r.version +
                " (report schema 1: one geometry for every accelerator, no Pragmatic cycles); " + rerun);
  const json& schema = doc["schema"];
  if (!schema.is_number_integer()) reader.fail("schema is not an integer");
  if (schema.get<std::int64_t>() != kReportSchema)
    throw Error(path + ": a report of schema " + schema.dump() + " (laconic " + r.version + "); " +
                (schema.get<std::int64_t>() > kReportSchema ? "this laconic (" + version_string() +
                                                                  ") reads schema " + std::to_string(kReportSchema) +
                                                                  ": compare it with a newer laconic"
                                                            : rerun));
  r.schema = kReportSchema;
  r.network = reader.text(doc, "network", "");
  r.engine = reader.text(doc, "engine", "");
  r.config = read_config(reader, reader.member(doc, "config", ""));
  const json& layers = reader.member(doc, "layers", "");
  if (!layers.is_array()) reader.fail("layers is not a list");
  std::map<std::string, std::size_t> seen;
  Totals sum_all, sum_conv;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const std::string where = "layers[" + std::to_string(i) + "]";
    const json& l = layers[i];
    ReportLayer layer;
    layer.name = reader.text(l, "name", where);
    layer.type = reader.text(l, "type", where);
    if (layer.type != "conv" && layer.type != "fc") reader.fail(where + ".type is '" + layer.type + "', not conv or fc");
    layer.samples = reader.count(l, "samples", where);
    layer.counts.layers = 1;
    layer.counts.macs = reader.count(l, "macs", where);
    layer.counts.work = reader.work(l, where);
    layer.counts.cycles = reader.cycles(l, where);
    const auto [it, fresh] = seen.emplace(layer.name, i);
    if (!fresh)
      reader.fail("layers[" + std::to_string(it->second) + "] and " + where + " are both named '" + layer.name + "'");
    add_checked(sum_all, layer.counts, reader);
    if (layer.type == "conv") add_checked(sum_conv, layer.counts, reader);
    r.layers.push_back(std::move(layer));
  }

  const json& totals = reader.member(doc, "totals", "");
  for (const char* which : {"all", "conv"}) {
    const std::string where = std::string("totals.") + which;
    const json& t = reader.member(totals, which, "totals");
    Totals stored;
    stored.layers = reader.count(t, "layers", where);
    stored.macs = reader.count(t, "macs", where);
    stored.work = reader.work(t, where);
    stored.cycles = reader.cycles(t, where);
    const std::string mismatch = totals_mismatch(stored, which == std::string("all") ? sum_all : sum_conv);
    if (!mismatch.empty()) reader.fail(where + "." + mismatch + " (the report is damaged or was edited)");
    (which == std::string("all") ? r.all : r.conv) = stored;
  }
  return r;
}

Report read_report(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open the report");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw Error(path + ": cannot read the report");
  return parse_report(text.str(), path);
}

// ---------------------------------------------------------------------------
// Metrics and ratios

const std::vector<Metric>& all_metrics() {
  static const std::vector<Metric> metrics = {
      Metric::macs,
      Metric::work_baseline,       Metric::work_zero_skip,    Metric::work_stripes,
      Metric::work_pragmatic,      Metric::work_laconic,      Metric::potential_zero_skip,
      Metric::potential_stripes,   Metric::potential_pragmatic, Metric::potential_laconic,
      Metric::cycles_baseline,     Metric::cycles_stripes,    Metric::cycles_pragmatic,
      Metric::cycles_laconic,      Metric::speedup_stripes,   Metric::speedup_pragmatic,
      Metric::speedup_laconic,     Metric::speedup_laconic_over_stripes,
      Metric::speedup_laconic_over_pragmatic};
  return metrics;
}

const char* metric_name(Metric m) {
  switch (m) {
    case Metric::macs: return "macs";
    case Metric::work_baseline: return "work_baseline";
    case Metric::work_zero_skip: return "work_zero_skip";
    case Metric::work_stripes: return "work_stripes";
    case Metric::work_pragmatic: return "work_pragmatic";
    case Metric::work_laconic: return "work_laconic";
    case Metric::potential_zero_skip: return "potential_zero_skip";
    case Metric::potential_stripes: return "potential_stripes";
    case Metric::potential_pragmatic: return "potential_pragmatic";
    case Metric::potential_laconic: return "potential_laconic";
    case Metric::cycles_baseline: return "cycles_baseline";
    case Metric::cycles_stripes: return "cycles_stripes";
    case Metric::cycles_pragmatic: return "cycles_pragmatic";
    case Metric::cycles_laconic: return "cycles_laconic";
    case Metric::speedup_stripes: return "speedup_stripes";
    case Metric::speedup_pragmatic: return "speedup_pragmatic";
    case Metric::speedup_laconic: return "speedup_laconic";
    case Metric::speedup_laconic_over_stripes: return "speedup_laconic_over_stripes";
    case Metric::speedup_laconic_over_pragmatic: return "speedup_laconic_over_pragmatic";
  }
  return "?";
}

const char* metric_label(Metric m) {
  switch (m) {
    case Metric::macs: return "MACs";
    case Metric::work_baseline: return "baseline work";
    case Metric::work_zero_skip: return "zero-skip work";
    case Metric::work_stripes: return "Stripes work";
    case Metric::work_pragmatic: return "Pragmatic work";
    case Metric::work_laconic: return "Laconic work";
    case Metric::potential_zero_skip: return "zero-skip potential (x)";
    case Metric::potential_stripes: return "Stripes potential (x)";
    case Metric::potential_pragmatic: return "Pragmatic potential (x)";
    case Metric::potential_laconic: return "Laconic potential (x)";
    case Metric::cycles_baseline: return "baseline cycles";
    case Metric::cycles_stripes: return "Stripes cycles";
    case Metric::cycles_pragmatic: return "Pragmatic cycles";
    case Metric::cycles_laconic: return "Laconic cycles";
    case Metric::speedup_stripes: return "Stripes speedup (x)";
    case Metric::speedup_pragmatic: return "Pragmatic speedup (x)";
    case Metric::speedup_laconic: return "Laconic speedup (x)";
    case Metric::speedup_laconic_over_stripes: return "Laconic over Stripes (x)";
    case Metric::speedup_laconic_over_pragmatic: return "Laconic over Pragmatic (x)";
  }
  return "?";
}

bool metric_is_count(Metric m) {
  switch (m) {
    case Metric::potential_zero_skip:
    case Metric::potential_stripes:
    case Metric::potential_pragmatic:
    case Metric::potential_laconic:
    case Metric::speedup_stripes:
    case Metric::speedup_pragmatic:
    case Metric::speedup_laconic:
    case Metric::speedup_laconic_over_stripes:
    case Metric::speedup_laconic_over_pragmatic: return false;
    default: return true;
  }
}

std::uint64_t metric_count(const Totals& t, Metric m) {
  switch (m) {
    case Metric::macs: return t.macs;
    case Metric::work_baseline: return t.work.baseline;
    case Metric::work_zero_skip: return t.work.zero_skip;
    case Metric::work_stripes: return t.work.stripes;
    case Metric::work_pragmatic: return t.work.pragmatic;
    case Metric::work_laconic: return t.work.laconic;
    case Metric::cycles_baseline: return t.cycles.baseline;
    case Metric::cycles_stripes: return t.cycles.stripes;
    case Metric::cycles_pragmatic: return t.cycles.pragmatic;
    case Metric::cycles_laconic: return t.cycles.laconic;
    default: throw std::logic_error(std::string("metric_count of the ratio ") + metric_name(m));
  }
}

double metric_value(const Totals& t, Metric m) {
  switch (m) {
    case Metric::potential_zero_skip: return speedup(t.work.baseline, t.work.zero_skip);
    case Metric::potential_stripes: return speedup(t.work.baseline, t.work.stripes);
    case Metric::potential_pragmatic: return speedup(t.work.baseline, t.work.pragmatic);
    case Metric::potential_laconic: return speedup(t.work.baseline, t.work.laconic);
    case Metric::speedup_stripes: return speedup(t.cycles.baseline, t.cycles.stripes);
    case Metric::speedup_pragmatic: return speedup(t.cycles.baseline, t.cycles.pragmatic);
    case Metric::speedup_laconic: return speedup(t.cycles.baseline, t.cycles.laconic);
    case Metric::speedup_laconic_over_stripes: return speedup(t.cycles.stripes, t.cycles.laconic);
    case Metric::speedup_laconic_over_pragmatic: return speedup(t.cycles.pragmatic, t.cycles.laconic);
    default: return static_cast<double>(metric_count(t, m));
  }
}

double ratio(double b, double a) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  if (std::isnan(a) || std::isnan(b)) return nan;
  if (std::isinf(a)) return std::isinf(b) ? nan : 0.0;
  if (std::isinf(b)) return inf;
  if (a == 0) return b == 0 ? nan : inf;
  return b / a;
}

std::string ComparedRow::label() const {
  if (presence == Presence::only_a) return name_a;
  if (presence == Presence::only_b) return name_b;
  return name_a == name_b ? name_a : name_a + " / " + name_b;
}

double ComparedRow::ratio_of(Metric m) const {
  if (presence != Presence::both) return std::numeric_limits<double>::quiet_NaN();
  return ratio(metric_value(b, m), metric_value(a, m));
}

std::size_t Comparison::layers_in_both() const {
  std::size_t n = 0;
  for (const auto& row : layers) n += row.presence == Presence::both;
  return n;
}

// ---------------------------------------------------------------------------
// Comparing

namespace {

ComparedRow row_of(const ReportLayer* a, const ReportLayer* b) {
  ComparedRow row;
  row.presence = a && b ? Presence::both : a ? Presence::only_a : Presence::only_b;
  if (a) {
    row.name_a = a->name;
    row.type_a = a->type;
    row.samples_a = a->samples;
    row.a = a->counts;
  }
  if (b) {
    row.name_b = b->name;
    row.type_b = b->type;
    row.samples_b = b->samples;
    row.b = b->counts;
  }
  return row;
}

ComparedRow totals_row(const std::string& name, const Totals& a, const Totals& b) {
  ComparedRow row;
  row.name_a = row.name_b = name;
  row.a = a;
  row.b = b;
  return row;
}

// "2", "1 to 2", or "none" for a report without layers.
std::string samples_text(const Report& r) {
  if (r.layers.empty()) return "none";
  std::uint64_t lo = std::numeric_limits<std::uint64_t>::max(), hi = 0;
  for (const auto& l : r.layers) {
    lo = std::min(lo, l.samples);
    hi = std::max(hi, l.samples);
  }
  return lo == hi ? std::to_string(lo) : std::to_string(lo) + " to " + std::to_string(hi);
}

// "16 x 16 x 1 x 16": T x Rt x Ct x L.
std::string compact_geometry(const Geometry& g) {
  return std::to_string(g.tiles) + " x " + std::to_string(g.rows) + " x " + std::to_string(g.columns) + " x " +
         std::to_string(g.lanes);
}

std::string sample_limit_text(const std::optional<std::uint64_t>& limit) {
  return limit ? std::to_string(*limit) : "all";
}

// The configuration as (field, value) pairs, in the order the outputs list
// them: every accelerator's geometry and options (§8, §9).
std::vector<std::pair<std::string, std::string>> describe(const Report& r) {
  const ProfileConfig& c = r.config.settings;
  const auto preset = c.matching_preset();
  std::vector<std::pair<std::string, std::string>> fields = {
      {"network", r.network},
      {"tool version", r.version},
      {"engine", r.engine},
      {"encoding", std::string(to_string(c.encoding))},
      {"preset", preset ? std::string(to_string(*preset)) : "custom"}};
  for (Accelerator a : kAccelerators)
    fields.emplace_back(std::string(to_string(a)) + " geometry (T x Rt x Ct x L)", compact_geometry(c.geometry(a)));
  fields.emplace_back("pragmatic shifter bits B", shifter_bits_text(c.shifter_bits));
  fields.emplace_back("pragmatic column registers", std::to_string(c.registers(Accelerator::pragmatic)));
  fields.emplace_back("laconic column registers", std::to_string(c.registers(Accelerator::laconic)));
  fields.emplace_back("depthwise mapping", std::string(to_string(c.depthwise)));
  fields.emplace_back("first-layer fold", c.fold_first_layer ? "on" : "off");
  fields.emplace_back("baseline width (bits)", std::to_string(c.baseline_width));
  fields.emplace_back("samples per layer", samples_text(r));
  fields.emplace_back("sample limit", sample_limit_text(r.config.sample_limit));
  fields.emplace_back("layers", std::to_string(r.layers.size()));
  fields.emplace_back("traces", r.config.source);
  fields.emplace_back("precisions", r.config.precision_profile.empty() ? "the traces' own" : r.config.precision_profile);
  return fields;
}

}  // namespace

Comparison compare_reports(const Report& a, const Report& b, const CompareOptions& options) {
  if (a.network != b.network && !options.allow_different_networks)
    throw Error("the reports are of different networks: " + a.path + " is '" + a.network + "', " + b.path + " is '" +
                b.network + "' (pass --allow-different-networks to compare them anyway)");
  Comparison c;
  c.a = a;
  c.b = b;
  c.match = options.match;

  if (options.match == MatchBy::name) {
    std::map<std::string, const ReportLayer*> in_b;
    for (const auto& l : b.layers) in_b.emplace(l.name, &l);
    for (const auto& l : a.layers) {
      const auto it = in_b.find(l.name);
      c.layers.push_back(row_of(&l, it == in_b.end() ? nullptr : it->second));
    }
    std::map<std::string, bool> in_a;
    for (const auto& l : a.layers) in_a.emplace(l.name, true);
    for (const auto& l : b.layers)
      if (in_a.count(l.name) == 0) c.layers.push_back(row_of(nullptr, &l));
  } else {
    const std::size_t n = std::max(a.layers.size(), b.layers.size());
    for (std::size_t i = 0; i < n; ++i)
      c.layers.push_back(row_of(i < a.layers.size() ? &a.layers[i] : nullptr,
                                i < b.layers.size() ? &b.layers[i] : nullptr));
  }

  Totals common_a, common_b;
  for (const auto& row : c.layers) {
    if (row.presence != Presence::both) continue;
    add(common_a, row.a);
    add(common_b, row.b);
  }
  c.all = totals_row("all", a.all, b.all);
  c.conv = totals_row("conv", a.conv, b.conv);
  c.common = totals_row("common", common_a, common_b);

  const auto da = describe(a), db = describe(b);
  for (std::size_t i = 0; i < da.size(); ++i)
    if (da[i].second != db[i].second) c.differences.push_back({da[i].first, da[i].second, db[i].second});
  std::size_t only_a = 0, only_b = 0;
  for (const auto& row : c.layers) {
    only_a += row.presence == Presence::only_a;
    only_b += row.presence == Presence::only_b;
  }
  if (only_a + only_b > 0)
    c.differences.push_back({"layers matched", std::to_string(only_a) + " not in B", std::to_string(only_b) + " not in A"});
  std::size_t renamed = 0;
  for (const auto& row : c.layers) renamed += row.presence == Presence::both && row.name_a != row.name_b;
  if (renamed > 0)  // only when matched by position
    c.differences.push_back({"layer names", std::to_string(renamed) + " of the matched layers named differently",
                             std::to_string(renamed) + " of the matched layers named differently"});
  for (const auto& row : c.layers) {
    if (row.presence != Presence::both) continue;
    if (row.type_a != row.type_b) c.differences.push_back({"type of layer " + row.label(), row.type_a, row.type_b});
    if (row.samples_a != row.samples_b && samples_text(a) == samples_text(b))
      c.differences.push_back({"samples of layer " + row.label(), std::to_string(row.samples_a),
                               std::to_string(row.samples_b)});
  }
  return c;
}

// ---------------------------------------------------------------------------
// Output

namespace {

std::string decimal(double v, int decimals) {
  if (std::isnan(v)) return "n/a";
  if (std::isinf(v)) return "inf";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

// Ratios B / A in Markdown: three decimals, and more where three would show 0.
std::string ratio_markdown(double v) {
  if (std::isfinite(v) && v != 0 && v < 0.0005) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.2e", v);
    return buf;
  }
  return decimal(v, 3);
}

// In CSV: enough digits, `inf`, and `nan` for 0/0.
std::string csv_number(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return "inf";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}


// A metric of one side as Markdown: integers for counts; potentials and
// speedups as laconic profile prints them (speedup_text: three significant
// digits below 1, two decimals above).
std::string side_markdown(const Totals& t, Metric m) {
  if (metric_is_count(m)) return std::to_string(metric_count(t, m));
  const double v = metric_value(t, m);
  return std::isnan(v) ? "n/a" : speedup_text(v);
}

std::string side_csv(const Totals& t, Metric m) {
  return metric_is_count(m) ? std::to_string(metric_count(t, m)) : csv_number(metric_value(t, m));
}

ordered_json json_number(double v) { return std::isfinite(v) ? ordered_json(v) : ordered_json(nullptr); }

ordered_json side_json(const Totals& t) {
  return ordered_json{
      {"macs", t.macs},
      {"work",
       {{"baseline", t.work.baseline},
        {"zero_skip", t.work.zero_skip},
        {"stripes", t.work.stripes},
        {"pragmatic", t.work.pragmatic},
        {"laconic", t.work.laconic}}},
      {"cycles",
       {{"baseline", t.cycles.baseline},
        {"stripes", t.cycles.stripes},
        {"pragmatic", t.cycles.pragmatic},
        {"laconic", t.cycles.laconic}}},
      {"potential",
       {{"zero_skip", json_number(metric_value(t, Metric::potential_zero_skip))},
        {"stripes", json_number(metric_value(t, Metric::potential_stripes))},
        {"pragmatic", json_number(metric_value(t, Metric::potential_pragmatic))},
        {"laconic", json_number(metric_value(t, Metric::potential_laconic))}}},
      {"speedup",
       {{"stripes", json_number(metric_value(t, Metric::speedup_stripes))},
        {"pragmatic", json_number(metric_value(t, Metric::speedup_pragmatic))},
        {"laconic", json_number(metric_value(t, Metric::speedup_laconic))},
        {"laconic_over_stripes", json_number(metric_value(t, Metric::speedup_laconic_over_stripes))},
        {"laconic_over_pragmatic", json_number(metric_value(t, Metric::speedup_laconic_over_pragmatic))}}}};
}

ordered_json ratio_json(const ComparedRow& row) {
  if (row.presence != Presence::both) return nullptr;
  auto r = [&](Metric m) { return json_number(row.ratio_of(m)); };
  return ordered_json{
      {"macs", r(Metric::macs)},
      {"work",
       {{"baseline", r(Metric::work_baseline)},
        {"zero_skip", r(Metric::work_zero_skip)},
        {"stripes", r(Metric::work_stripes)},
        {"pragmatic", r(Metric::work_pragmatic)},
        {"laconic", r(Metric::work_laconic)}}},
      {"cycles",
       {{"baseline", r(Metric::cycles_baseline)},
        {"stripes", r(Metric::cycles_stripes)},
        {"pragmatic", r(Metric::cycles_pragmatic)},
        {"laconic", r(Metric::cycles_laconic)}}},
      {"potential",
       {{"zero_skip", r(Metric::potential_zero_skip)},
        {"stripes", r(Metric::potential_stripes)},
        {"pragmatic", r(Metric::potential_pragmatic)},
        {"laconic", r(Metric::potential_laconic)}}},
      {"speedup",
       {{"stripes", r(Metric::speedup_stripes)},
        {"pragmatic", r(Metric::speedup_pragmatic)},
        {"laconic", r(Metric::speedup_laconic)},
        {"laconic_over_stripes", r(Metric::speedup_laconic_over_stripes)},
        {"laconic_over_pragmatic", r(Metric::speedup_laconic_over_pragmatic)}}}};
}

const char* presence_name(Presence p) {
  switch (p) {
    case Presence::both: return "both";
    case Presence::only_a: return "a";
    case Presence::only_b: return "b";
  }
  return "?";
}

const char* match_name(MatchBy m) { return m == MatchBy::name ? "name" : "position"; }

ordered_json report_json(const Report& r) {
  ordered_json config = settings_json(r.config.settings);
  config["sample_limit"] = r.config.sample_limit ? ordered_json(*r.config.sample_limit) : ordered_json(nullptr);
  config["source"] = r.config.source;
  config["precision_profile"] =
      r.config.precision_profile.empty() ? ordered_json(nullptr) : ordered_json(r.config.precision_profile);
  return ordered_json{{"path", r.path},
                      {"network", r.network},
                      {"schema", r.schema},
                      {"version", r.version},
                      {"engine", r.engine},
                      {"config", std::move(config)},
                      {"layers", r.layers.size()}};
}

bool layer_sets_differ(const Comparison& c) { return c.layers_in_both() != c.layers.size(); }

}  // namespace

std::string comparison_markdown(const Comparison& c) {
  std::ostringstream out;
  out << "# laconic compare: " << markdown_text(c.a.network);
  if (c.a.network != c.b.network) out << " vs " << markdown_text(c.b.network);
  out << "\n\nA is `" << markdown_text(c.a.path) << "`, B is `" << markdown_text(c.b.path)
      << "`. Ratios are B / A: for work and cycles below 1 means B needs less, for potentials and speedups "
         "above 1 means B gains more; `inf` where A is 0, `n/a` where both are 0. Layers matched by "
      << match_name(c.match) << ": " << c.layers_in_both() << " in both";
  std::size_t only_a = 0, only_b = 0;
  for (const auto& row : c.layers) {
    only_a += row.presence == Presence::only_a;
    only_b += row.presence == Presence::only_b;
  }
  if (only_a) out << ", " << only_a << " only in A";
  if (only_b) out << ", " << only_b << " only in B";
  out << ".\n\n";
  if (c.differences.empty()) {
    out << "The two configurations are the same.\n\n";
  } else {
    out << "What differs: ";
    for (std::size_t i = 0; i < c.differences.size(); ++i) out << (i ? ", " : "") << markdown_text(c.differences[i].field);
    out << ".\n\n";
  }

  out << "| | A | B |\n| --- | --- | --- |\n";
  const auto da = describe(c.a), db = describe(c.b);
  for (std::size_t i = 0; i < da.size(); ++i) {
    const bool differs = da[i].second != db[i].second;
    auto cell = [&](const std::string& v) { return differs ? "**" + markdown_text(v) + "**" : markdown_text(v); };
    out << "| " << da[i].first << " | " << cell(da[i].second) << " | " << cell(db[i].second) << " |\n";
  }

  // Totals: one row per metric, A, B and B / A per group of layers.
  std::vector<const ComparedRow*> groups = {&c.all, &c.conv};
  std::vector<std::string> group_names = {"all layers", "conv layers"};
  if (layer_sets_differ(c)) {
    groups.push_back(&c.common);
    group_names.push_back("layers in both");
  }
  out << "\n## Totals\n\nRatios of sums over each report's layers";
  if (layer_sets_differ(c)) out << "; \"layers in both\" sums only the " << c.layers_in_both() << " matched layers";
  out << ".\n\n| figure |";
  for (std::size_t g = 0; g < groups.size(); ++g)
    out << " " << group_names[g] << " (A: " << groups[g]->a.layers << ") | B (" << groups[g]->b.layers << ") | B / A |";
  out << "\n| --- |";
  for (std::size_t g = 0; g < groups.size(); ++g) out << " ---: | ---: | ---: |";
  out << "\n";
  for (Metric m : all_metrics()) {
    out << "| " << metric_label(m) << " |";
    for (const ComparedRow* row : groups)
      out << " " << side_markdown(row->a, m) << " | " << side_markdown(row->b, m) << " | "
          << ratio_markdown(row->ratio_of(m)) << " |";
    out << "\n";
  }

  auto type_cell = [](const ComparedRow& row) {
    if (row.presence == Presence::only_a) return row.type_a;
    if (row.presence == Presence::only_b) return row.type_b;
    return row.type_a == row.type_b ? row.type_a : row.type_a + " / " + row.type_b;
  };
  auto side_cell = [](const ComparedRow& row, bool side_b, Metric m) -> std::string {
    const bool present = row.presence == Presence::both || (side_b ? row.presence == Presence::only_b
                                                                    : row.presence == Presence::only_a);
    return present ? side_markdown(side_b ? row.b : row.a, m) : "-";
  };
  auto ratio_cell = [](const ComparedRow& row, Metric m) -> std::string {
    return row.presence == Presence::both ? ratio_markdown(row.ratio_of(m)) : "-";
  };

  out << "\n## Work per layer\n\nLaconic work in single-bit products (MODEL.md §4) and its potential speedup over "
         "the bit-parallel baseline (baseline work / Laconic work).\n\n"
         "| layer | type | A Laconic work | B Laconic work | B / A | A potential | B potential |\n"
         "| --- | --- | ---: | ---: | ---: | ---: | ---: |\n";
  for (const auto& row : c.layers)
    out << "| " << markdown_text(row.label()) << " | " << type_cell(row) << " | " << side_cell(row, false, Metric::work_laconic)
        << " | " << side_cell(row, true, Metric::work_laconic) << " | " << ratio_cell(row, Metric::work_laconic) << " | "
        << side_cell(row, false, Metric::potential_laconic) << " | " << side_cell(row, true, Metric::potential_laconic)
        << " |\n";

  auto metric_table = [&](const std::vector<Metric>& metrics, bool with_ratio) {
    out << "| layer |";
    for (Metric m : metrics) out << " A " << metric_label(m) << " | B " << metric_label(m) << " |" << (with_ratio ? " B / A |" : "");
    out << "\n| --- |";
    for (std::size_t i = 0; i < metrics.size(); ++i) out << (with_ratio ? " ---: | ---: | ---: |" : " ---: | ---: |");
    out << "\n";
    for (const auto& row : c.layers) {
      out << "| " << markdown_text(row.label()) << " |";
      for (Metric m : metrics) {
        out << " " << side_cell(row, false, m) << " | " << side_cell(row, true, m) << " |";
        if (with_ratio) out << " " << ratio_cell(row, m) << " |";
      }
      out << "\n";
    }
  };
  out << "\n## Cycles per layer\n\nCycles of each accelerator at its own geometry in its report (MODEL.md §5, §8, "
         "§9).\n\n";
  metric_table({Metric::cycles_baseline, Metric::cycles_stripes, Metric::cycles_pragmatic, Metric::cycles_laconic},
               true);
  out << "\n## Speedups per layer\n\nEach report's own speedups: baseline cycles / cycles, and Laconic over "
         "Stripes and over Pragmatic (their cycles / Laconic cycles).\n\n";
  metric_table({Metric::speedup_stripes, Metric::speedup_pragmatic, Metric::speedup_laconic,
                Metric::speedup_laconic_over_stripes, Metric::speedup_laconic_over_pragmatic},
               false);
  return out.str();
}

std::string comparison_json(const Comparison& c) {
  ordered_json doc;
  doc["tool"] = "laconic";
  doc["schema"] = kReportSchema;
  doc["version"] = version_string();
  doc["kind"] = "comparison";
  doc["match"] = match_name(c.match);
  doc["a"] = report_json(c.a);
  doc["b"] = report_json(c.b);
  doc["differences"] = ordered_json::array();
  for (const auto& d : c.differences) doc["differences"].push_back({{"field", d.field}, {"a", d.a}, {"b", d.b}});
  doc["layers"] = ordered_json::array();
  for (const auto& row : c.layers) {
    ordered_json j;
    j["name"] = row.label();
    j["in"] = presence_name(row.presence);
    auto side = [&](bool side_b) -> ordered_json {
      if (row.presence == (side_b ? Presence::only_a : Presence::only_b)) return nullptr;
      ordered_json s{{"name", side_b ? row.name_b : row.name_a},
                     {"type", side_b ? row.type_b : row.type_a},
                     {"samples", side_b ? row.samples_b : row.samples_a}};
      s.update(side_json(side_b ? row.b : row.a));
      return s;
    };
    j["a"] = side(false);
    j["b"] = side(true);
    j["ratio"] = ratio_json(row);
    doc["layers"].push_back(std::move(j));
  }
  auto totals = [&](const ComparedRow& row) {
    ordered_json a{{"layers", row.a.layers}}, b{{"layers", row.b.layers}};
    a.update(side_json(row.a));
    b.update(side_json(row.b));
    return ordered_json{{"a", a}, {"b", b}, {"ratio", ratio_json(row)}};
  };
  doc["totals"] = ordered_json{{"all", totals(c.all)}, {"conv", totals(c.conv)}, {"common", totals(c.common)}};
  return doc.dump(2) + "\n";
}

std::string comparison_csv(const Comparison& c) {
  std::ostringstream out;
  out << "row,layer,in,type_a,type_b,samples_a,samples_b,layers_a,layers_b";
  for (Metric m : all_metrics()) out << "," << metric_name(m) << "_a," << metric_name(m) << "_b," << metric_name(m) << "_ratio";
  out << "\n";
  auto write_row = [&](const char* kind, const ComparedRow& row, bool is_total) {
    const bool has_a = row.presence != Presence::only_b, has_b = row.presence != Presence::only_a;
    out << kind << "," << csv_field(row.label()) << "," << presence_name(row.presence) << ","
        << csv_field(row.type_a) << "," << csv_field(row.type_b) << ",";
    if (!is_total) {
      out << (has_a ? std::to_string(row.samples_a) : "") << "," << (has_b ? std::to_string(row.samples_b) : "");
    } else {
      out << ",";
    }
    out << "," << (has_a ? std::to_string(row.a.layers) : "") << "," << (has_b ? std::to_string(row.b.layers) : "");
    for (Metric m : all_metrics())
      out << "," << (has_a ? side_csv(row.a, m) : "") << "," << (has_b ? side_csv(row.b, m) : "") << ","
          << (row.presence == Presence::both ? csv_number(row.ratio_of(m)) : "");
    out << "\n";
  };
  for (const auto& row : c.layers) write_row("layer", row, false);
  write_row("total", c.all, true);
  write_row("total", c.conv, true);
  write_row("total", c.common, true);
  return out.str();
}

}  // namespace laconic
