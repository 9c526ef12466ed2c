// Reading networks: the JSON manifest and the DNNsim model directory.
//
// The manifest is tolerant of the usual slips (comments, "file" or "files",
// a stride or padding given as one number, type aliases such as "Conv2d" or
// "linear", integral numbers written as 1.0) and strict about meaning: an
// unknown key (with a suggestion), a missing file, a float trace without a
// quantization or shapes that do not fit together are errors naming the layer.
#include "laconic/network.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "laconic/error.hpp"
#include "suggest.hpp"

namespace laconic {

namespace fs = std::filesystem;
using nlohmann::json;

std::uint64_t NetworkLayer::samples() const { return input().samples(); }

LayerInput NetworkLayer::input() const {
  LayerInput in;
  in.name = name;
  in.shape = shape;
  in.activation_precision = activation_precision;
  in.weight_precision = weight_precision;
  in.activations = activations.get();
  in.weights = weights.get();
  return in;
}

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// Where a manifest problem is: the file, and the layer when there is one.
struct Context {
  std::string file;
  std::string layer;  // empty at the top level
  std::string prefix() const {
    return layer.empty() ? file + ": " : file + ": layer '" + layer + "': ";
  }
  [[noreturn]] void fail(const std::string& what) const { throw Error(prefix() + what); }
};

void check_keys(const json& object, const std::vector<std::string>& allowed, const std::string& where,
                const Context& ctx) {
  for (const auto& item : object.items()) {
    if (std::find(allowed.begin(), allowed.end(), item.key()) != allowed.end()) continue;
    ctx.fail("unknown key '" + item.key() + "' in " + where + unknown_name_hint(item.key(), allowed));
  }
}

std::int64_t get_integer(const json& v, const std::string& what, const Context& ctx) {
  // Above 2^63 - 1 the JSON number is unsigned; get<int64_t> would wrap it.
  if (v.is_number_unsigned() && v.get<std::uint64_t>() > std::uint64_t{INT64_MAX})
    ctx.fail(what + " is too large: " + v.dump());
  if (v.is_number_integer()) return v.get<std::int64_t>();
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.0e15) return static_cast<std::int64_t>(d);
  }
  ctx.fail(what + " must be an integer, not " + v.dump());
}

std::int64_t get_non_negative(const json& v, const std::string& what, const Context& ctx) {
  const std::int64_t n = get_integer(v, what, ctx);
  if (n < 0) ctx.fail(what + " must not be negative, not " + std::to_string(n));
  return n;
}

// A number, [h, w] pair: stride and padding.
std::pair<std::int64_t, std::int64_t> get_pair(const json& v, const std::string& what, const Context& ctx) {
  if (v.is_number()) {
    const auto n = get_non_negative(v, what, ctx);
    return {n, n};
  }
  if (v.is_array() && v.size() == 2)
    return {get_non_negative(v[0], what + "[0]", ctx), get_non_negative(v[1], what + "[1]", ctx)};
  ctx.fail(what + " must be a number or a [height, width] pair, not " + v.dump());
}

Padding get_padding(const json& v, const Context& ctx) {
  if (v.is_object()) {
    check_keys(v, {"top", "bottom", "left", "right"}, "padding", ctx);
    Padding p;
    auto side = [&](const char* key) {
      return v.contains(key) ? get_non_negative(v[key], std::string("padding.") + key, ctx) : 0;
    };
    p.top = side("top");
    p.bottom = side("bottom");
    p.left = side("left");
    p.right = side("right");
    return p;
  }
  if (v.is_array() && v.size() == 4)
    ctx.fail("padding with four numbers is ambiguous; write {\"top\": .., \"bottom\": .., \"left\": .., \"right\": ..}");
  const auto [h, w] = get_pair(v, "padding", ctx);
  return Padding{h, h, w, w};
}

LayerType get_type(const json& v, const Context& ctx) {
  if (!v.is_string()) ctx.fail("type must be a string (conv or fc), not " + v.dump());
  const std::string t = lower(v.get<std::string>());
  for (const char* alias : {"conv", "conv2d", "convolution"})
    if (t == alias) return LayerType::conv;
  for (const char* alias : {"fc", "linear", "dense", "innerproduct", "fullyconnected", "fully_connected"})
    if (t == alias) return LayerType::fc;
  ctx.fail("type '" + v.get<std::string>() + "' is not conv or fc");
}

// Paths of a tensor: "file" or "files", a string or a list of strings,
// relative to the manifest's directory.
std::vector<std::string> get_files(const json& spec, const std::string& what, const fs::path& base,
                                   const Context& ctx) {
  if (spec.contains("file") && spec.contains("files")) ctx.fail(what + " has both 'file' and 'files'");
  const json* v = spec.contains("file") ? &spec["file"] : spec.contains("files") ? &spec["files"] : nullptr;
  if (v == nullptr) ctx.fail(what + " names no file ('file' or 'files')");
  std::vector<std::string> names;
  if (v->is_string()) names.push_back(v->get<std::string>());
  else if (v->is_array()) {
    for (const auto& item : *v) {
      if (!item.is_string()) ctx.fail(what + " files must be strings, not " + item.dump());
      names.push_back(item.get<std::string>());
    }
  } else {
    ctx.fail(what + " files must be a string or a list of strings, not " + v->dump());
  }
  if (names.empty()) ctx.fail(what + " has an empty list of files");
  std::vector<std::string> paths;
  for (const auto& name : names) {
    fs::path p(name);
    if (p.is_relative()) p = base / p;
    paths.push_back(p.lexically_normal().string());
  }
  return paths;
}

std::vector<NpyArray> open_files(const std::vector<std::string>& paths, const std::string& what,
                                 const Context& ctx) {
  std::vector<NpyArray> files;
  for (const auto& path : paths) {
    try {
      files.push_back(NpyArray::open(path));
    } catch (const Error& e) {
      ctx.fail(what + ": " + e.what());
    }
    if (files.back().dtype() != files.front().dtype())
      ctx.fail(what + ": " + path + " holds " + std::string(to_string(files.back().dtype())) + " but " +
               files.front().path() + " holds " + std::string(to_string(files.front().dtype())) +
               "; the files of one tensor must share a dtype");
  }
  return files;
}

// The quantization of a tensor from its manifest entry and its files' dtype.
Quantization get_quantization(const json& spec, DType dtype, const std::string& what, const Context& ctx) {
  Quantization q;
  std::string mode = "none";
  if (spec.contains("quantize")) {
    if (!spec["quantize"].is_string()) ctx.fail(what + ": quantize must be a string");
    mode = lower(spec["quantize"].get<std::string>());
  }
  auto bits_of = [&](const char* key) {
    const auto b = get_integer(spec[key], what + "." + key, ctx);
    if (b < 1 || b > 32) ctx.fail(what + ": " + key + " must be between 1 and 32, not " + std::to_string(b));
    return static_cast<int>(b);
  };
  auto signed_or = [&](bool fallback) {
    if (!spec.contains("signed")) return fallback;
    if (!spec["signed"].is_boolean()) ctx.fail(what + ": signed must be true or false");
    return spec["signed"].get<bool>();
  };
  auto forbid = [&](const char* key, const std::string& why) {
    if (spec.contains(key)) ctx.fail(what + ": '" + key + "' does not apply " + why);
  };
  if (!is_float(dtype)) {
    if (mode != "none" && mode != "integral")
      ctx.fail(what + ": quantize '" + mode + "' applies to float traces; this one holds " +
               std::string(to_string(dtype)) + " integers (use \"none\" and \"bits\")");
    forbid("int_bits", "to integer traces");
    forbid("frac_bits", "to integer traces");
    q.mode = QuantizeMode::none;
    q.precision.bits = spec.contains("bits") ? bits_of("bits") : std::min(bit_width(dtype), 32);
    q.precision.is_signed = signed_or(is_signed(dtype));
    return q;
  }
  if (mode == "none")
    ctx.fail(what + " holds " + std::string(to_string(dtype)) +
             " floats: say how to quantize them with \"quantize\": \"fixed\" (with int_bits, frac_bits), "
             "\"linear\" (with bits) or \"integral\" (with bits)");
  if (mode == "fixed") {
    q.mode = QuantizeMode::fixed;
    if (!spec.contains("int_bits") || !spec.contains("frac_bits"))
      ctx.fail(what + ": fixed-point quantization needs int_bits and frac_bits");
    // Checked before narrowing to int, so that 2^32 + 4 is not taken as 4.
    auto width_of = [&](const char* key) {
      const auto b = get_non_negative(spec[key], what + "." + key, ctx);
      if (b > 32) ctx.fail(what + ": " + key + " must be between 0 and 32, not " + std::to_string(b));
      return static_cast<int>(b);
    };
    q.int_bits = width_of("int_bits");
    q.frac_bits = width_of("frac_bits");
    const int bits = q.int_bits + q.frac_bits;
    if (bits < 1 || bits > 32) ctx.fail(what + ": int_bits + frac_bits must be between 1 and 32");
    if (spec.contains("bits") && bits_of("bits") != bits)
      ctx.fail(what + ": bits must equal int_bits + frac_bits (" + std::to_string(bits) + ") or be left out");
    q.precision.bits = bits;
    q.precision.is_signed = signed_or(true);
  } else if (mode == "linear") {
    q.mode = QuantizeMode::linear;
    if (!spec.contains("bits")) ctx.fail(what + ": linear quantization needs bits");
    forbid("signed", "to linear quantization, which is signed exactly when the data has a negative value");
    q.precision.bits = bits_of("bits");
    q.precision.is_signed = true;
  } else if (mode == "integral") {
    q.mode = QuantizeMode::integral;
    q.precision.bits = spec.contains("bits") ? bits_of("bits") : 16;
    q.precision.is_signed = signed_or(true);
  } else {
    ctx.fail(what + ": quantize '" + mode + "' is not one of none, fixed, linear, integral");
  }
  if (q.mode != QuantizeMode::fixed) {
    forbid("int_bits", "unless quantize is \"fixed\"");
    forbid("frac_bits", "unless quantize is \"fixed\"");
  }
  return q;
}

std::string describe_quantization(const Quantization& q) {
  const std::string width =
      std::to_string(q.precision.bits) + "-bit" + (q.mode == QuantizeMode::linear ? "" : q.precision.is_signed ? " signed" : " unsigned");
  switch (q.mode) {
    case QuantizeMode::none: return width + " integers";
    case QuantizeMode::fixed:
      return "fixed point " + std::to_string(q.int_bits) + "." + std::to_string(q.frac_bits) + " (" + width + ")";
    case QuantizeMode::linear: return "linear to " + width;
    case QuantizeMode::integral: return "integral floats, " + width;
  }
  return width;
}

// Per-sample activation shape and sample count of a layer's activation files.
struct ActivationShape {
  std::vector<std::uint64_t> per_sample;  // (C, H, W) or (C)
  std::uint64_t samples = 0;
};

ActivationShape activation_shape(const std::vector<NpyArray>& files, LayerType type, const Context& ctx) {
  ActivationShape result;
  for (const auto& f : files) {
    const auto& s = f.shape();
    std::vector<std::uint64_t> per_sample;
    if (type == LayerType::conv) {
      if (s.size() == 4) per_sample.assign(s.begin() + 1, s.end());
      else if (s.size() == 3) per_sample = s;  // one sample without its batch axis
      else
        ctx.fail("activations " + f.path() + " have shape " + shape_to_string(s) +
                 "; a conv layer needs (N, C, H, W)");
    } else {
      if (s.size() == 2 || s.size() == 4) {
        std::uint64_t features = 1;
        for (std::size_t d = 1; d < s.size(); ++d) features *= s[d];
        per_sample = {features};  // (N, C, H, W) is flattened, as a framework does before fc
      } else if (s.size() == 1) {
        per_sample = s;
      } else {
        ctx.fail("activations " + f.path() + " have shape " + shape_to_string(s) +
                 "; an fc layer needs (N, C) or (N, C, H, W)");
      }
    }
    result.samples += s.size() == per_sample.size() ? 1 : s[0];
    if (result.per_sample.empty()) result.per_sample = per_sample;
    else if (per_sample != result.per_sample)
      ctx.fail("activations " + f.path() + " have samples of shape " + shape_to_string(per_sample) + " but " +
               files.front().path() + " has " + shape_to_string(result.per_sample));
  }
  return result;
}

// Fills the shape from the traces' shapes and checks that they fit together.
void shape_from_traces(LayerShape& shape, const std::vector<NpyArray>& act_files, const NpyArray& weights,
                       bool groups_given, const Context& ctx) {
  const ActivationShape act = activation_shape(act_files, shape.type, ctx);
  if (act.samples == 0) ctx.fail("the activation files hold no samples");
  const auto& w = weights.shape();
  const auto narrow = [](std::uint64_t v) { return static_cast<std::int64_t>(v); };
  if (shape.type == LayerType::conv) {
    if (w.size() != 4)
      ctx.fail("weights " + weights.path() + " have shape " + shape_to_string(w) +
               "; a conv layer needs (K, C/groups, R, S)");
    shape.channels = narrow(act.per_sample[0]);
    shape.height = narrow(act.per_sample[1]);
    shape.width = narrow(act.per_sample[2]);
    shape.filters = narrow(w[0]);
    shape.kernel_height = narrow(w[2]);
    shape.kernel_width = narrow(w[3]);
    const std::int64_t w_channels = narrow(w[1]);
    if (!groups_given && w_channels > 0 && shape.channels != w_channels) {
      if (shape.channels % w_channels == 0)
        ctx.fail("activations have " + std::to_string(shape.channels) + " channels but the weights " +
                 shape_to_string(w) + " have " + std::to_string(w_channels) + " per filter; if this is a grouped "
                 "convolution, say \"groups\": " + std::to_string(shape.channels / w_channels));
    }
    if (shape.groups <= 0) ctx.fail("groups must be positive, not " + std::to_string(shape.groups));
    if (shape.channels % shape.groups != 0)
      ctx.fail("groups " + std::to_string(shape.groups) + " does not divide the " + std::to_string(shape.channels) +
               " input channels of the activations " + shape_to_string(act.per_sample) + " per sample");
    // Divided, not multiplied: a huge "groups" must not overflow.
    if (shape.channels / shape.groups != w_channels)
      ctx.fail("activations " + shape_to_string(act.per_sample) + " per sample and weights " + shape_to_string(w) +
               " do not fit: the weights need C/groups = " + std::to_string(w_channels) + " channels, the activations have " +
               std::to_string(shape.channels) + " with groups " + std::to_string(shape.groups));
  } else {
    std::uint64_t w_features = 1;
    for (std::size_t d = 1; d < w.size(); ++d) w_features *= w[d];
    if (w.size() != 2 && w.size() != 4)
      ctx.fail("weights " + weights.path() + " have shape " + shape_to_string(w) + "; an fc layer needs (K, C)");
    shape.channels = narrow(act.per_sample[0]);
    shape.filters = narrow(w[0]);
    if (w_features != act.per_sample[0])
      ctx.fail("activations have " + std::to_string(act.per_sample[0]) + " features per sample but the weights " +
               shape_to_string(w) + " expect " + std::to_string(w_features));
  }
  try {
    shape.validate(ctx.layer);
  } catch (const Error& e) {
    throw Error(ctx.file + ": " + e.what());
  }
}

// The shape from the traces, the precisions, and the tensors, once the
// layer's parameters and files are known.
void complete_layer(NetworkLayer& layer, std::vector<NpyArray> act_files, const Quantization& act_q,
                    std::vector<NpyArray> weight_files, const Quantization& weight_q, bool groups_given,
                    const Context& ctx) {
  shape_from_traces(layer.shape, act_files, weight_files.front(), groups_given, ctx);
  layer.activation_precision = act_q.precision;
  layer.weight_precision = weight_q.precision;
  layer.activation_quantization = describe_quantization(act_q);
  layer.weight_quantization = describe_quantization(weight_q);
  layer.activations =
      std::make_shared<NpyTensorSource>(std::move(act_files), act_q, "layer '" + layer.name + "' activations");
  layer.weights =
      std::make_shared<NpyTensorSource>(std::move(weight_files), weight_q, "layer '" + layer.name + "' weights");
}

json read_json(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error(path + ": no such file");
  if (fs::is_directory(path, ec)) throw Error(path + ": is a directory, not a manifest (a DNNsim model directory needs a model.csv)");
  std::ifstream in(path);
  if (!in) throw Error(path + ": cannot be read");
  try {
    return json::parse(in, nullptr, true, /*ignore_comments=*/true);
  } catch (const json::exception& e) {  // parse_error, and out_of_range for a number like 1e400
    throw Error(path + ": not valid JSON: " + e.what());
  }
}

// A layer's tensor entry with the manifest's defaults for that tensor merged
// in (the layer's keys win). A tensor that names a quantization of its own
// other than the defaults' opts out of the defaults: their widths belong to
// another quantization. `what` is extended when defaults were used, so that
// an error about a key the layer never wrote says where it came from.
json with_defaults(const json& layer_spec, const json& defaults, const char* key, std::string& what) {
  if (!defaults.contains(key)) return layer_spec;
  const json& d = defaults[key];
  if (layer_spec.contains("quantize") && layer_spec["quantize"] != d.value("quantize", json("none"))) return layer_spec;
  json merged = d;
  for (const auto& item : layer_spec.items()) merged[item.key()] = item.value();
  if (merged != layer_spec) what += " (with the manifest's defaults)";
  return merged;
}

const std::vector<std::string> kTensorKeys = {"file", "files", "quantize", "bits", "signed", "int_bits", "frac_bits"};

}  // namespace

Network load_manifest(const std::string& manifest_path) {
  const json doc = read_json(manifest_path);
  Context ctx{manifest_path, ""};
  if (!doc.is_object()) ctx.fail("a manifest is a JSON object with \"network\" and \"layers\"");
  check_keys(doc, {"network", "description", "source", "version", "defaults", "layers"}, "the manifest", ctx);
  Network net;
  net.path = manifest_path;
  net.format = "manifest";
  if (!doc.contains("network") || !doc["network"].is_string() || doc["network"].get<std::string>().empty())
    ctx.fail("\"network\" must name the network (a non-empty string)");
  net.name = doc["network"].get<std::string>();
  for (const char* key : {"description", "source"})
    if (doc.contains(key) && !doc[key].is_string()) ctx.fail(std::string("\"") + key + "\" must be a string");
  if (doc.contains("description")) net.description = doc["description"].get<std::string>();
  if (doc.contains("source")) net.source = doc["source"].get<std::string>();
  if (doc.contains("version") && get_integer(doc["version"], "version", ctx) != 1)
    ctx.fail("manifest version " + doc["version"].dump() + " is not supported (this laconic reads version 1)");
  json defaults = json::object();
  if (doc.contains("defaults")) {
    defaults = doc["defaults"];
    if (!defaults.is_object()) ctx.fail("\"defaults\" must be an object");
    check_keys(defaults, {"activations", "weights"}, "defaults", ctx);
    for (const char* key : {"activations", "weights"})
      if (defaults.contains(key)) {
        if (!defaults[key].is_object()) ctx.fail(std::string("defaults.") + key + " must be an object");
        check_keys(defaults[key], {"quantize", "bits", "signed", "int_bits", "frac_bits"}, std::string("defaults.") + key, ctx);
      }
  }
  if (!doc.contains("layers") || !doc["layers"].is_array()) ctx.fail("\"layers\" must be a list of layers");
  if (doc["layers"].empty()) ctx.fail("the list of layers is empty");

  const fs::path base = fs::path(manifest_path).parent_path();
  std::set<std::string> names;
  std::size_t index = 0;
  for (const json& spec : doc["layers"]) {
    ++index;
    Context lctx{manifest_path, "#" + std::to_string(index)};
    if (!spec.is_object()) lctx.fail("a layer is a JSON object");
    if (!spec.contains("name") || !spec["name"].is_string() || spec["name"].get<std::string>().empty())
      lctx.fail("every layer needs a \"name\" (a non-empty string)");
    NetworkLayer layer;
    layer.name = spec["name"].get<std::string>();
    lctx.layer = layer.name;
    if (!names.insert(layer.name).second) lctx.fail("the name is used by an earlier layer too; names must be unique");
    check_keys(spec, {"name", "type", "stride", "padding", "groups", "activations", "weights"}, "a layer", lctx);
    if (!spec.contains("type")) lctx.fail("\"type\" is missing (conv or fc)");
    layer.shape.type = get_type(spec["type"], lctx);
    if (spec.contains("stride")) std::tie(layer.shape.stride_h, layer.shape.stride_w) = get_pair(spec["stride"], "stride", lctx);
    if (spec.contains("padding")) layer.shape.padding = get_padding(spec["padding"], lctx);
    if (spec.contains("groups")) layer.shape.groups = get_integer(spec["groups"], "groups", lctx);

    std::vector<NpyArray> act_files, weight_files;
    Quantization act_q, weight_q;
    for (const char* key : {"activations", "weights"}) {
      if (!spec.contains(key) || !spec[key].is_object())
        lctx.fail(std::string("\"") + key + "\" must be an object naming its .npy file(s)");
      check_keys(spec[key], kTensorKeys, key, lctx);
      std::string what = key;
      const json merged = with_defaults(spec[key], defaults, key, what);
      auto files = open_files(get_files(merged, key, base, lctx), key, lctx);
      const Quantization q = get_quantization(merged, files.front().dtype(), what, lctx);
      if (std::string(key) == "activations") {
        act_files = std::move(files);
        act_q = q;
      } else {
        weight_files = std::move(files);
        weight_q = q;
      }
    }
    if (weight_files.size() != 1) lctx.fail("weights must be one file");
    complete_layer(layer, std::move(act_files), act_q, std::move(weight_files), weight_q, spec.contains("groups"), lctx);
    net.layers.push_back(std::move(layer));
  }
  return net;
}

Network load_dnnsim(const std::string& model_dir, const std::string& traces_dir_arg) {
  fs::path dir = fs::path(model_dir).lexically_normal();
  if (dir.filename().empty()) dir = dir.parent_path();  // "models/net/" names models/net
  const fs::path csv = dir / "model.csv";
  std::error_code ec;
  if (!fs::is_regular_file(csv, ec)) throw Error(model_dir + ": not a DNNsim model directory (no model.csv)");
  const std::string net_name = dir.filename().string();
  const fs::path traces = traces_dir_arg.empty()
                              ? (dir.parent_path().parent_path() / "net_traces" / net_name)
                              : fs::path(traces_dir_arg);
  if (!fs::is_directory(traces, ec))
    throw Error(model_dir + ": its traces directory " + traces.string() + " does not exist");

  Network net;
  net.name = net_name;
  net.path = dir.string();
  net.format = "dnnsim";
  net.source = "DNNsim traces in " + traces.string();

  std::ifstream in(csv);
  if (!in) throw Error(csv.string() + ": cannot be read");
  // Every act-<layer>-<batch>.npy, found once.
  std::vector<std::string> trace_names;
  for (const auto& entry : fs::directory_iterator(traces)) trace_names.push_back(entry.path().filename().string());

  std::string line;
  std::size_t line_number = 0;
  std::set<std::string> names;
  while (std::getline(in, line)) {
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const auto first = line.find_first_not_of(" \t");
    if (first == std::string::npos || line[first] == '#') continue;
    std::vector<std::string> fields;
    std::stringstream ss(line);
    for (std::string field; std::getline(ss, field, ',');) {
      const auto b = field.find_first_not_of(" \t"), e = field.find_last_not_of(" \t");
      fields.push_back(b == std::string::npos ? "" : field.substr(b, e - b + 1));
    }
    const std::string where = csv.string() + ":" + std::to_string(line_number) + ": ";
    if (fields.size() != 4)
      throw Error(where + "expected name,type,stride,padding; found " + std::to_string(fields.size()) + " field(s)");
    NetworkLayer layer;
    layer.name = fields[0];
    if (layer.name.empty()) throw Error(where + "the layer name is empty");
    if (!names.insert(layer.name).second) throw Error(where + "layer '" + layer.name + "' appears twice");
    Context ctx{csv.string() + ":" + std::to_string(line_number), layer.name};
    layer.shape.type = get_type(json(fields[1]), ctx);
    auto number = [&](const std::string& text, const char* what) {
      std::size_t used = 0;
      long long v = -1;
      try {
        v = std::stoll(text, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != text.size() || text.empty() || v < 0) ctx.fail(std::string(what) + " '" + text + "' is not a non-negative integer");
      return static_cast<std::int64_t>(v);
    };
    const std::int64_t stride = number(fields[2], "stride");
    const std::int64_t padding = number(fields[3], "padding");
    if (layer.shape.type == LayerType::conv) {
      layer.shape.stride_h = layer.shape.stride_w = stride;
      layer.shape.padding = Padding{padding, padding, padding, padding};
    }

    const fs::path weight_path = traces / ("wgt-" + layer.name + ".npy");
    if (!fs::exists(weight_path, ec)) ctx.fail("weights " + weight_path.string() + " do not exist");
    // act-<layer>-<batch>.npy in batch order.
    std::vector<std::pair<long long, std::string>> batches;
    const std::string prefix = "act-" + layer.name + "-";
    for (const auto& name : trace_names) {
      if (name.size() <= prefix.size() + 4 || name.compare(0, prefix.size(), prefix) != 0 ||
          name.compare(name.size() - 4, 4, ".npy") != 0)
        continue;
      const std::string batch = name.substr(prefix.size(), name.size() - prefix.size() - 4);
      if (batch.empty() || !std::all_of(batch.begin(), batch.end(), [](unsigned char c) { return std::isdigit(c); }))
        continue;
      if (batch.size() > 18)
        ctx.fail("activation trace " + (traces / name).string() + " has a batch number too large to order");
      batches.emplace_back(std::stoll(batch), (traces / name).string());
    }
    if (batches.empty())
      ctx.fail("no activation traces " + (traces / (prefix + "<batch>.npy")).string());
    std::sort(batches.begin(), batches.end());
    // act-conv1-1.npy and act-conv1-01.npy are one batch: both would count its samples twice.
    for (std::size_t b = 1; b < batches.size(); ++b)
      if (batches[b].first == batches[b - 1].first)
        ctx.fail("activation traces " + batches[b - 1].second + " and " + batches[b].second + " are both batch " +
                 std::to_string(batches[b].first));
    std::vector<std::string> act_paths;
    for (const auto& b : batches) act_paths.push_back(b.second);

    auto act_files = open_files(act_paths, "activations", ctx);
    auto weight_files = open_files({weight_path.string()}, "weights", ctx);
    // DNNsim traces hold integers stored as floats (§7); taken as 16-bit
    // signed integers. Integer .npy traces are used at their dtype's width.
    const json dnnsim_spec = {{"quantize", "integral"}, {"bits", 16}};
    const Quantization act_q = get_quantization(dnnsim_spec, act_files.front().dtype(), "activations", ctx);
    const Quantization weight_q = get_quantization(dnnsim_spec, weight_files.front().dtype(), "weights", ctx);
    // model.csv has no groups column: they follow from the shapes (depthwise
    // layers have one channel per filter).
    if (layer.shape.type == LayerType::conv && weight_files.front().shape().size() == 4) {
      const ActivationShape act = activation_shape(act_files, LayerType::conv, ctx);
      const std::uint64_t w_channels = weight_files.front().shape()[1];
      if (w_channels > 0 && act.per_sample[0] % w_channels == 0)
        layer.shape.groups = static_cast<std::int64_t>(act.per_sample[0] / w_channels);
    }
    complete_layer(layer, std::move(act_files), act_q, std::move(weight_files), weight_q, true, ctx);
    net.layers.push_back(std::move(layer));
  }
  if (net.layers.empty()) throw Error(csv.string() + ": lists no layers");
  return net;
}

Network load_network(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error(path + ": no such file or directory");
  if (fs::is_directory(path, ec)) {
    if (fs::exists(fs::path(path) / "model.csv", ec)) return load_dnnsim(path);
    if (fs::exists(fs::path(path) / "manifest.json", ec)) return load_manifest((fs::path(path) / "manifest.json").string());
    throw Error(path + ": a directory with neither a manifest.json nor a DNNsim model.csv");
  }
  return load_manifest(path);
}

void select_layers(Network& network, const std::vector<std::string>& names) {
  if (names.empty()) return;
  std::set<std::string> wanted(names.begin(), names.end());
  for (const auto& name : names) {
    const bool found = std::any_of(network.layers.begin(), network.layers.end(),
                                   [&](const NetworkLayer& l) { return l.name == name; });
    if (!found) {
      // A near miss gets a suggestion; the layers are listed either way (the
      // first 30 of a large network).
      std::vector<std::string> known;
      std::string listed;
      for (const auto& l : network.layers) {
        known.push_back(l.name);
        if (known.size() <= 30) listed += (listed.empty() ? "" : ", ") + l.name;
      }
      if (known.size() > 30) listed += ", ... (" + std::to_string(known.size()) + " in all)";
      std::string hint = unknown_name_hint(name, known, "its layers");
      if (hint.rfind(" (did you mean", 0) != 0) hint.clear();
      throw Error("--layers: network '" + network.name + "' has no layer '" + name + "'" + hint + "; it has: " + listed);
    }
  }
  std::vector<NetworkLayer> kept;
  for (auto& l : network.layers)
    if (wanted.count(l.name) != 0) kept.push_back(std::move(l));
  network.layers = std::move(kept);
}

}  // namespace laconic
