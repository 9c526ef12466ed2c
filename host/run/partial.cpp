#include "laconic/run/partial.hpp"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

#include "../report_json.hpp"
#include "laconic/error.hpp"
#include "laconic/report.hpp"
#include "laconic/run/codec.hpp"
#include "laconic/run/identity.hpp"

namespace laconic::run {

using nlohmann::json;
using nlohmann::ordered_json;

Shard parse_shard(const std::string& text) {
  const auto slash = text.find('/');
  auto number = [&](const std::string& digits) -> long long {
    if (digits.empty() || digits.size() > 9 || !std::all_of(digits.begin(), digits.end(), ::isdigit)) return -1;
    return std::stoll(digits);
  };
  const long long i = slash == std::string::npos ? -1 : number(text.substr(0, slash));
  const long long n = slash == std::string::npos ? -1 : number(text.substr(slash + 1));
  if (i < 1 || n < 1 || i > n)
    throw Error("--shard must be I/N with 1 <= I <= N (e.g. 2/8 for the second of eight shards), not '" + text + "'");
  return Shard{static_cast<std::size_t>(i - 1), static_cast<std::size_t>(n)};
}

std::vector<LayerInfo> layer_infos(const Network& network) {
  std::vector<LayerInfo> out;
  for (const NetworkLayer& layer : network.layers)
    out.push_back(LayerInfo{layer.shape, layer.activation_precision, layer.weight_precision,
                            layer.activation_quantization, layer.weight_quantization});
  return out;
}

std::vector<ProfiledLayer> assemble_layers(const UnitPlan& plan, const std::vector<LayerInfo>& info,
                                           const std::map<std::size_t, LayerResult>& units, bool complete) {
  std::vector<ProfiledLayer> layers;
  for (std::size_t l = 0; l < plan.layers.size(); ++l) {
    ProfiledLayer p;
    bool any = false;
    for (std::size_t u = plan.layer_first_unit[l]; u < plan.layer_first_unit[l + 1]; ++u) {
      const auto it = units.find(u);
      if (it == units.end()) {
        if (complete) throw std::logic_error("assembling the run: " + plan.describe(plan.units[u]) + " has no result");
        continue;
      }
      if (!any) p.result = it->second;
      else p.result.merge(it->second);
      any = true;
    }
    if (!any) continue;
    p.shape = info.at(l).shape;
    p.activation_precision = info[l].activation_precision;
    p.weight_precision = info[l].weight_precision;
    p.activation_quantization = info[l].activation_quantization;
    p.weight_quantization = info[l].weight_quantization;
    layers.push_back(std::move(p));
  }
  return layers;
}

std::string partial_report(const NetworkResult& result, const UnitPlan& plan, Shard shard, Block block,
                           const std::string& identity, const std::map<std::size_t, LayerResult>& units) {
  std::string text = json_report(result, false);
  // json_report ends with "\n}\n": the "partial" object goes before the brace,
  // one unit per line.
  const auto brace = text.rfind('}');
  if (brace == std::string::npos || brace == 0) throw std::logic_error("partial_report: not a JSON object");
  text.resize(brace);
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  std::ostringstream out;
  out << text << ",\n  \"partial\": {\n    \"shard\": "
      << ordered_json{{"index", shard.index + 1}, {"count", shard.count}}.dump()
      << ",\n    \"units\": " << ordered_json{{"first", block.first}, {"end", block.last}, {"total", plan.units.size()}}.dump()
      << ",\n    \"identity\": " << identity << ",\n    \"results\": [";
  bool first = true;
  for (std::size_t u = block.first; u < block.last; ++u) {
    const Unit& unit = plan.units[u];
    const auto it = units.find(u);
    if (it == units.end()) throw std::logic_error("partial_report: " + plan.describe(unit) + " has no result");
    ordered_json entry{{"unit", u},
                       {"layer", plan.layers[unit.layer].name},
                       {"samples", ordered_json::array({unit.begin, unit.end})},
                       {"counts", encode_unit(unit, it->second)}};
    out << (first ? "\n      " : ",\n      ") << entry.dump(-1, ' ', false, ordered_json::error_handler_t::replace);
    first = false;
  }
  out << (first ? "]" : "\n    ]") << "\n  }\n}\n";
  return out.str();
}

namespace {

// One partial report, read and checked for the fields merging needs.
struct PartialInput {
  std::string path;
  json doc;
  std::string identity;  // compact JSON text
  Shard shard;
  Block block;
  std::size_t total = 0;
};

[[noreturn]] void fail(const std::string& path, const std::string& what) { throw Error(path + ": " + what); }

const json& member(const json& object, const std::string& key, const std::string& where, const std::string& path) {
  if (!object.is_object()) fail(path, where + " is not an object");
  const auto it = object.find(key);
  if (it == object.end()) fail(path, (where.empty() ? key : where + "." + key) + " is missing");
  return *it;
}

std::uint64_t count_of(const json& object, const std::string& key, const std::string& where, const std::string& path) {
  const json& v = member(object, key, where, path);
  if (v.is_number_unsigned()) return v.get<std::uint64_t>();
  if (v.is_number_integer() && v.get<std::int64_t>() >= 0) return static_cast<std::uint64_t>(v.get<std::int64_t>());
  fail(path, (where.empty() ? key : where + "." + key) + " is not a non-negative integer");
}

std::string string_of(const json& object, const std::string& key, const std::string& where, const std::string& path) {
  const json& v = member(object, key, where, path);
  if (!v.is_string()) fail(path, (where.empty() ? key : where + "." + key) + " is not a string");
  return v.get<std::string>();
}

PartialInput read_partial(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, "cannot open the report");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) fail(path, "cannot read the report");
  PartialInput p;
  p.path = path;
  try {
    p.doc = json::parse(text.str());
  } catch (const json::exception& e) {
    fail(path, std::string("not a laconic report: not valid JSON (") + e.what() + ")");
  }
  if (!p.doc.is_object() || !p.doc.contains("tool") || p.doc["tool"] != "laconic")
    fail(path, "not a laconic report (no \"tool\": \"laconic\")");
  if (!p.doc.contains("partial"))
    fail(path, "not a partial report (it has no \"partial\" object): laconic merge reads the --json reports of "
               "laconic profile --shard I/N");
  if (!p.doc.contains("schema") || p.doc["schema"] != kReportSchema)
    fail(path, "a report of another schema than " + std::to_string(kReportSchema) + "; merge it with the laconic that wrote it");
  const json& partial = p.doc["partial"];
  const json& shard = member(partial, "shard", "partial", path);
  const std::uint64_t index = count_of(shard, "index", "partial.shard", path);
  const std::uint64_t shards = count_of(shard, "count", "partial.shard", path);
  if (index < 1 || index > shards) fail(path, "partial.shard.index " + std::to_string(index) + " is not in 1.." + std::to_string(shards));
  p.shard = Shard{static_cast<std::size_t>(index - 1), static_cast<std::size_t>(shards)};
  const json& units = member(partial, "units", "partial", path);
  p.block.first = static_cast<std::size_t>(count_of(units, "first", "partial.units", path));
  p.block.last = static_cast<std::size_t>(count_of(units, "end", "partial.units", path));
  p.total = static_cast<std::size_t>(count_of(units, "total", "partial.units", path));
  if (p.block.first > p.block.last || p.block.last > p.total)
    fail(path, "partial.units: units " + range_text(p.block.first, p.block.last) +
                   " are not within the " + std::to_string(p.total) + " units of the run");
  const json& identity = member(partial, "identity", "partial", path);
  if (!identity.is_object()) fail(path, "partial.identity is not an object");
  p.identity = identity.dump();
  if (!member(partial, "results", "partial", path).is_array()) fail(path, "partial.results is not a list");
  return p;
}

// The plan and layer information recorded in an identity.
UnitPlan plan_of(const PartialInput& p, std::vector<LayerInfo>& info) {
  const json& identity = p.doc["partial"]["identity"];
  const std::string& path = p.path;
  const json& plan = member(identity, "plan", "partial.identity", path);
  PlanOptions options;
  for (const char* key : {"sample_limit", "unit_samples"}) {
    const json& v = member(plan, key, "partial.identity.plan", path);
    if (!v.is_null()) (std::string(key) == "sample_limit" ? options.sample_limit : options.unit_samples) =
                          count_of(plan, key, "partial.identity.plan", path);
  }
  const json& layers = member(identity, "layers", "partial.identity", path);
  if (!layers.is_array()) fail(path, "partial.identity.layers is not a list");
  std::vector<PlanLayer> plan_layers;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const std::string where = "partial.identity.layers[" + std::to_string(i) + "]";
    const json& l = layers[i];
    PlanLayer pl;
    pl.name = string_of(l, "name", where, path);
    const std::string type = string_of(l, "type", where, path);
    if (type != "conv" && type != "fc") fail(path, where + ".type is '" + type + "', not conv or fc");
    pl.type = type == "conv" ? LayerType::conv : LayerType::fc;
    pl.samples = count_of(l, "samples", where, path);
    pl.macs_per_sample = count_of(l, "macs_per_sample", where, path);
    pl.values_per_sample = count_of(l, "values_per_sample", where, path);
    pl.window_reads_per_sample = count_of(l, "window_reads_per_sample", where, path);
    plan_layers.push_back(pl);
    LayerInfo li;
    li.shape.type = pl.type;
    auto tensor = [&](const char* key, Precision& precision, std::string& quantization) {
      const std::string at = where + "." + key;
      const json& t = member(l, key, where, path);
      const std::uint64_t bits = count_of(t, "bits", at, path);
      if (bits < 1 || bits > 32) fail(path, at + ".bits is " + std::to_string(bits) + ", not 1 to 32");
      precision.bits = static_cast<int>(bits);
      const json& s = member(t, "signed", at, path);
      if (!s.is_boolean()) fail(path, at + ".signed is not true or false");
      precision.is_signed = s.get<bool>();
      quantization = string_of(t, "quantization", at, path);
    };
    tensor("activations", li.activation_precision, li.activation_quantization);
    tensor("weights", li.weight_precision, li.weight_quantization);
    info.push_back(std::move(li));
  }
  UnitPlan out;
  try {
    out = make_plan(std::move(plan_layers), options);
  } catch (const Error& e) {
    fail(path, std::string("partial.identity: ") + e.what());
  }
  const std::uint64_t units = count_of(plan, "units", "partial.identity.plan", path);
  if (units != out.units.size() || p.total != out.units.size())
    fail(path, "the run's layers make a plan of " + std::to_string(out.units.size()) + " units, the report says " +
                   std::to_string(units) + " and " + std::to_string(p.total));
  return out;
}

}  // namespace

NetworkResult merge_partial_reports(const std::vector<std::string>& paths) {
  if (paths.empty()) throw Error("merge needs the partial reports of a run");
  std::vector<PartialInput> inputs;
  for (const std::string& path : paths) inputs.push_back(read_partial(path));
  const PartialInput& first = inputs.front();
  for (std::size_t i = 1; i < inputs.size(); ++i) {
    const auto differences = identity_differences(first.identity, inputs[i].identity, IdentityUse::merge, first.path,
                                                  inputs[i].path);
    if (!differences.empty()) {
      std::string text = inputs[i].path + " and " + first.path + " are reports of different runs; merge refuses them:";
      for (std::size_t d = 0; d < differences.size() && d < 20; ++d) text += "\n  " + differences[d];
      if (differences.size() > 20) text += "\n  ... and " + std::to_string(differences.size() - 20) + " more";
      throw Error(text);
    }
  }
  std::vector<LayerInfo> info;
  const UnitPlan plan = plan_of(first, info);

  std::map<std::size_t, LayerResult> units;
  std::map<std::size_t, std::string> holder;
  for (const PartialInput& in : inputs) {
    const json& results = in.doc["partial"]["results"];
    for (std::size_t i = 0; i < results.size(); ++i) {
      const std::string where = "partial.results[" + std::to_string(i) + "]";
      const json& entry = results[i];
      const json& counts = member(entry, "counts", where, in.path);
      if (!counts.is_array()) fail(in.path, where + ".counts is not a list");
      std::vector<std::uint64_t> words;
      words.reserve(counts.size());
      for (const json& c : counts) {
        if (!c.is_number_unsigned() && !(c.is_number_integer() && c.get<std::int64_t>() >= 0))
          fail(in.path, where + ".counts holds " + c.dump() + ", not a non-negative integer");
        words.push_back(c.get<std::uint64_t>());
      }
      DecodedUnit d = decode_unit(words.data(), words.size(), plan, in.path + ": " + where + ".counts");
      const Unit& unit = plan.units[d.unit];
      if (count_of(entry, "unit", where, in.path) != d.unit || string_of(entry, "layer", where, in.path) != plan.layers[unit.layer].name)
        fail(in.path, where + " names another unit than its counts hold (" + plan.describe(unit) + ")");
      if (!in.block.contains(d.unit))
        fail(in.path, where + ": " + plan.describe(unit) + " is outside the shard's units " +
                          range_text(in.block.first, in.block.last));
      const auto [it, fresh] = holder.emplace(d.unit, in.path);
      if (!fresh)
        throw Error(plan.describe(unit) + " is in both " + it->second + " and " + in.path +
                    " (a shard given twice, or shards of different splits that overlap)");
      units.emplace(d.unit, std::move(d.result));
    }
  }
  std::vector<std::size_t> missing;
  for (std::size_t u = 0; u < plan.units.size(); ++u)
    if (!units.count(u)) missing.push_back(u);
  if (!missing.empty()) {
    std::string text = std::to_string(missing.size()) + " of the run's " + std::to_string(plan.units.size()) +
                       " units are in none of the reports, so merge refuses to write a report that looks complete:";
    std::vector<Block> shards;
    for (std::size_t s = 0; s < first.shard.count; ++s) shards.push_back(split(plan, whole(plan), s, first.shard.count));
    for (std::size_t i = 0; i < missing.size() && i < 10; ++i) {
      const Unit& unit = plan.units[missing[i]];
      std::size_t owner = 0;
      for (std::size_t s = 0; s < shards.size(); ++s)
        if (shards[s].contains(unit.index)) owner = s;
      text += "\n  " + plan.describe(unit) + ", of shard " + std::to_string(owner + 1) + "/" +
              std::to_string(first.shard.count);
    }
    if (missing.size() > 10) text += "\n  ... and " + std::to_string(missing.size() - 10) + " more";
    throw Error(text);
  }

  NetworkResult r;
  const ReportConfig config = read_report_config(member(first.doc, "config", "", first.path), first.path);
  r.network = string_of(first.doc, "network", "", first.path);
  r.source = config.source;
  r.precision_profile = config.precision_profile;
  r.config = config.settings;
  r.sample_limit = config.sample_limit ? *config.sample_limit : 0;
  std::vector<std::string> engines;
  for (const PartialInput& in : inputs) engines.push_back(string_of(in.doc, "engine", "", in.path));
  r.engine = joined_engines(engines);
  r.layers = assemble_layers(plan, info, units, true);
  return r;
}

}  // namespace laconic::run
