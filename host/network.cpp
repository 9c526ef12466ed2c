// Reading networks: the JSON manifest and the DNNsim model directory.
//
// The manifest is tolerant of the usual slips (comments, "file" or "files",
// a stride or padding given as one number, type aliases such as "Conv2d" or
// "linear", integral numbers written as 1.0) and strict about meaning: an
// unknown key (with a suggestion), a missing file, a float trace without a
// quantization or shapes that do not fit together are errors naming the layer.
// Traces are .npy files or arrays of .npz archives ("file.npz",
// "file.npz:name"). DNNsim directories are read as DNNsim reads them
// (MODEL.md §7, §7a): '/' in a layer name is '-' in its trace files, and
// models/<net>/precision.txt gives each layer's p_a and p_w.
#include "laconic/network.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "laconic/error.hpp"
#include "laconic/npz.hpp"
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
      files.push_back(open_array(path));
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

// Zero points from a manifest entry: one integer for the tensor, or (weights
// only) a list of one per output channel, the first axis of the weights.
std::vector<std::int64_t> get_zero_points(const json& v, const std::vector<NpyArray>& files, bool weights,
                                          const std::string& what, const Context& ctx) {
  if (v.is_number()) return {get_integer(v, what + ".zero_point", ctx)};
  if (!v.is_array())
    ctx.fail(what + ": zero_point must be an integer, or for weights a list of one per output channel, not " +
             v.dump());
  if (!weights)
    ctx.fail(what + ": a list of zero points is per output channel, for weights; activations take one zero point");
  const auto& shape = files.front().shape();
  if (shape.empty() || v.size() != shape[0])
    ctx.fail(what + ": " + std::to_string(v.size()) + " zero points, but " + files.front().path() + " has " +
             (shape.empty() ? std::string("no axes") : std::to_string(shape[0]) + " output channels (first axis of " +
                                                           shape_to_string(shape) + ")"));
  std::vector<std::int64_t> points;
  for (std::size_t i = 0; i < v.size(); ++i)
    points.push_back(get_integer(v[i], what + ".zero_point[" + std::to_string(i) + "]", ctx));
  return points;
}

// The narrowest width (at most 32 bits) that holds every code of `dtype`
// less every zero point: unsigned when none is negative. Without zero points,
// the dtype's own width and signedness (32 bits at most; bool is 1-bit).
Precision default_integer_precision(DType dtype, const std::vector<std::int64_t>& zero_points) {
  if (zero_points.empty()) {
    if (dtype == DType::b1) return Precision{1, false};
    return Precision{std::min(bit_width(dtype), 32), is_signed(dtype)};
  }
  // In doubles: exact for every comparison below (powers of two up to 2^32),
  // and 64-bit codes only need to be known to exceed 32 bits.
  double code_min = 0, code_max = 1;
  if (dtype != DType::b1) {
    const int bits = bit_width(dtype);
    code_min = is_signed(dtype) ? -std::ldexp(1.0, bits - 1) : 0.0;
    code_max = is_signed(dtype) ? std::ldexp(1.0, bits - 1) - 1 : std::ldexp(1.0, bits) - 1;
  }
  const auto [zp_min, zp_max] = std::minmax_element(zero_points.begin(), zero_points.end());
  const double low = code_min - static_cast<double>(*zp_max), high = code_max - static_cast<double>(*zp_min);
  int bits = 1;
  if (low >= 0) {
    while (bits < 32 && std::ldexp(1.0, bits) - 1 < high) ++bits;
    return Precision{bits, false};
  }
  while (bits < 32 && (-std::ldexp(1.0, bits - 1) > low || std::ldexp(1.0, bits - 1) - 1 < high)) ++bits;
  return Precision{bits, true};
}

// The quantization of a tensor from its manifest entry and its files' dtype.
Quantization get_quantization(const json& spec, const std::vector<NpyArray>& files, bool weights,
                              const std::string& what, const Context& ctx) {
  const DType dtype = files.front().dtype();
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
  // fixed and dnnsim: the widths of a fixed-point number, int + frac bits.
  auto fixed_point = [&](QuantizeMode m) {
    q.mode = m;
    if (!spec.contains("int_bits") || !spec.contains("frac_bits"))
      ctx.fail(what + ": " + mode + " quantization needs int_bits and frac_bits");
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
    forbid("zero_point", "to " + mode + " quantization (zero points are for integer codes)");
  };
  if (mode == "dnnsim") {
    // §7a: DNNsim's per-layer precision profile, for integer and float traces.
    fixed_point(QuantizeMode::dnnsim);
    return q;
  }
  if (!is_float(dtype)) {
    if (mode != "none" && mode != "integral")
      ctx.fail(what + ": quantize '" + mode + "' applies to float traces; this one holds " +
               std::string(to_string(dtype)) + " integers (use \"none\" and \"bits\")");
    forbid("int_bits", "to integer traces");
    forbid("frac_bits", "to integer traces");
    q.mode = QuantizeMode::none;
    if (spec.contains("zero_point")) q.zero_points = get_zero_points(spec["zero_point"], files, weights, what, ctx);
    q.precision = default_integer_precision(dtype, q.zero_points);
    if (spec.contains("bits")) q.precision.bits = bits_of("bits");
    q.precision.is_signed = signed_or(q.precision.is_signed);
    return q;
  }
  if (mode == "none")
    ctx.fail(what + " holds " + std::string(to_string(dtype)) +
             " floats: say how to quantize them with \"quantize\": \"fixed\" (with int_bits, frac_bits), "
             "\"linear\" (with bits), \"integral\" (with bits) or \"dnnsim\" (with int_bits, frac_bits)");
  if (mode == "fixed") {
    fixed_point(QuantizeMode::fixed);
  } else if (mode == "linear") {
    q.mode = QuantizeMode::linear;
    if (!spec.contains("bits")) ctx.fail(what + ": linear quantization needs bits");
    forbid("signed", "to linear quantization, which is signed exactly when the data has a negative value");
    forbid("zero_point", "to linear quantization (zero points are for integer codes)");
    q.precision.bits = bits_of("bits");
    q.precision.is_signed = true;
  } else if (mode == "integral") {
    q.mode = QuantizeMode::integral;
    q.precision.bits = spec.contains("bits") ? bits_of("bits") : 16;
    q.precision.is_signed = signed_or(true);
    if (spec.contains("zero_point")) q.zero_points = get_zero_points(spec["zero_point"], files, weights, what, ctx);
  } else {
    ctx.fail(what + ": quantize '" + mode + "' is not one of none, fixed, linear, integral, dnnsim");
  }
  if (q.mode != QuantizeMode::fixed) {
    forbid("int_bits", "unless quantize is \"fixed\" or \"dnnsim\"");
    forbid("frac_bits", "unless quantize is \"fixed\" or \"dnnsim\"");
  }
  return q;
}

std::string describe_quantization(const Quantization& q) {
  const std::string width =
      std::to_string(q.precision.bits) + "-bit" + (q.mode == QuantizeMode::linear ? "" : q.precision.is_signed ? " signed" : " unsigned");
  std::string zero_point;
  if (q.zero_points.size() == 1) zero_point = ", code − zero point " + std::to_string(q.zero_points.front());
  else if (q.zero_points.size() > 1) zero_point = ", code − per-channel zero point";
  switch (q.mode) {
    case QuantizeMode::none: return width + " integers" + zero_point;
    case QuantizeMode::fixed:
      return "fixed point " + std::to_string(q.int_bits) + "." + std::to_string(q.frac_bits) + " (" + width + ")";
    case QuantizeMode::linear: return "linear to " + width;
    case QuantizeMode::integral: return "integral floats, " + width + zero_point;
    case QuantizeMode::dnnsim:
      return "precision profile " + std::to_string(q.int_bits) + "." + std::to_string(q.frac_bits) + " (" +
             std::to_string(q.precision.bits) + "-bit)";
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
// layer's parameters and files are known. `advice` goes with a non-integral
// value of an `integral` tensor (NpyTensorSource).
void complete_layer(NetworkLayer& layer, std::vector<NpyArray> act_files, const Quantization& act_q,
                    std::vector<NpyArray> weight_files, const Quantization& weight_q, bool groups_given,
                    const Context& ctx, const std::string& advice = "") {
  shape_from_traces(layer.shape, act_files, weight_files.front(), groups_given, ctx);
  layer.activation_precision = act_q.precision;
  layer.weight_precision = weight_q.precision;
  layer.activation_quantization = describe_quantization(act_q);
  layer.weight_quantization = describe_quantization(weight_q);
  layer.activations = std::make_shared<NpyTensorSource>(std::move(act_files), act_q,
                                                        "layer '" + layer.name + "' activations", advice);
  layer.weights = std::make_shared<NpyTensorSource>(std::move(weight_files), weight_q,
                                                    "layer '" + layer.name + "' weights", advice);
}

// What a path holds when it is not what was expected: a .npy trace or an
// .npz archive, by its first bytes; empty otherwise.
std::string trace_kind(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[6] = {};
  in.read(magic, sizeof magic);
  if (in.gcount() >= 6 && std::memcmp(magic, "\x93NUMPY", 6) == 0) return "a .npy trace";
  if (in.gcount() >= 4 && (std::memcmp(magic, "PK\x03\x04", 4) == 0 || std::memcmp(magic, "PK\x05\x06", 4) == 0))
    return "an .npz archive of traces";
  return "";
}

json read_json(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error(path + ": no such file");
  if (fs::is_directory(path, ec)) throw Error(path + ": is a directory, not a manifest (a DNNsim model directory needs a model.csv)");
  const std::string kind = trace_kind(path);
  if (!kind.empty())
    throw Error(path + ": is " + kind + ", not a network: write a manifest (JSON, see the README) whose layers name "
                "it as their activations or weights, and profile the manifest");
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

const std::vector<std::string> kTensorKeys = {"file",     "files",     "quantize",  "bits",
                                              "signed",   "int_bits",  "frac_bits", "zero_point"};
// The keys a precision profile sets for every tensor (§7a).
const std::vector<std::string> kProfileKeys = {"quantize", "bits", "int_bits", "frac_bits"};

// A layer's widths from a precision profile (§7a): activation and weight
// magnitude bits (counting the sign) and fraction bits.
struct LayerPrecision {
  int activation_magnitude = 0, activation_fraction = 0;
  int weight_magnitude = 0, weight_fraction = 0;
};

// DNNsim's models/<net>/precision.txt (MODEL.md §7a): line 1 a header, lines
// 2–5 one ';'-separated value per layer (activation magnitude, activation
// fraction, weight magnitude, weight fraction). `layers` is how many layers
// the network has; every line must give that many values.
std::vector<LayerPrecision> read_precision_txt(const fs::path& path, std::size_t layers, const std::string& layers_from) {
  std::ifstream in(path);
  if (!in) throw Error(path.string() + ": cannot be read");
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(line);
  }
  while (!lines.empty() && lines.back().find_first_not_of(" \t") == std::string::npos) lines.pop_back();
  static const char* const kRows[] = {"activation magnitude bits", "activation fraction bits", "weight magnitude bits",
                                      "weight fraction bits"};
  if (lines.size() != 5)
    throw Error(path.string() + ": has " + std::to_string(lines.size()) +
                " lines; DNNsim's precision.txt has 5: a header, then one line each of activation magnitude, "
                "activation fraction, weight magnitude and weight fraction bits, one value per layer separated by ';'");
  std::vector<LayerPrecision> result(layers);
  for (std::size_t row = 0; row < 4; ++row) {
    const std::string where = path.string() + ":" + std::to_string(row + 2) + ": ";
    std::vector<std::string> fields;
    std::stringstream ss(lines[row + 1]);
    for (std::string field; std::getline(ss, field, ';');) {
      const auto b = field.find_first_not_of(" \t"), e = field.find_last_not_of(" \t");
      fields.push_back(b == std::string::npos ? "" : field.substr(b, e - b + 1));
    }
    if (!fields.empty() && fields.back().empty()) fields.pop_back();  // "5;8;" ends with ';'
    if (fields.size() != layers)
      throw Error(where + "has " + std::to_string(fields.size()) + " value(s) of " + kRows[row] + " but " + layers_from +
                  " lists " + std::to_string(layers) + " layer(s); give one per layer, in order");
    for (std::size_t i = 0; i < layers; ++i) {
      std::size_t used = 0;
      long long v = -1;
      try {
        v = std::stoll(fields[i], &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (fields[i].empty() || used != fields[i].size() || v < 0 || v > 32)
        throw Error(where + "value " + std::to_string(i + 1) + " ('" + fields[i] + "', " + kRows[row] +
                    ") is not a number of bits from 0 to 32");
      int* slot[] = {&result[i].activation_magnitude, &result[i].activation_fraction, &result[i].weight_magnitude,
                     &result[i].weight_fraction};
      *slot[row] = static_cast<int>(v);
    }
  }
  for (std::size_t i = 0; i < layers; ++i) {
    const auto& p = result[i];
    for (const auto& [bits, what] : {std::pair{p.activation_magnitude + p.activation_fraction, "activation"},
                                     std::pair{p.weight_magnitude + p.weight_fraction, "weight"}})
      if (bits < 1 || bits > 32)
        throw Error(path.string() + ": layer " + std::to_string(i + 1) + "'s " + what +
                    " magnitude + fraction bits are " + std::to_string(bits) + "; laconic profiles 1 to 32 bits");
  }
  return result;
}

// The manifest entry a precision profile gives one tensor.
json profile_spec(int magnitude, int fraction) {
  return {{"quantize", "dnnsim"}, {"int_bits", magnitude}, {"frac_bits", fraction}};
}

}  // namespace

Network load_manifest(const std::string& manifest_path) {
  const json doc = read_json(manifest_path);
  Context ctx{manifest_path, ""};
  if (!doc.is_object()) ctx.fail("a manifest is a JSON object with \"network\" and \"layers\"");
  check_keys(doc, {"network", "description", "source", "version", "defaults", "precision_profile", "layers"},
             "the manifest", ctx);
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
  // A DNNsim precision.txt for every layer, in order (§7a).
  std::vector<LayerPrecision> profile;
  if (doc.contains("precision_profile")) {
    if (!doc["precision_profile"].is_string() || doc["precision_profile"].get<std::string>().empty())
      ctx.fail("\"precision_profile\" must name a DNNsim precision.txt (a path relative to the manifest)");
    fs::path p(doc["precision_profile"].get<std::string>());
    if (p.is_relative()) p = base / p;
    p = p.lexically_normal();
    std::error_code ec;
    if (!fs::is_regular_file(p, ec)) ctx.fail("precision_profile " + p.string() + " is not a file");
    profile = read_precision_txt(p, doc["layers"].size(), manifest_path);
    for (const char* key : {"activations", "weights"})
      if (defaults.contains(key))
        for (const auto& k : kProfileKeys)
          if (defaults[key].contains(k))
            ctx.fail(std::string("defaults.") + key + "." + k + " and \"precision_profile\" both say how wide the " +
                     "tensors are; leave one out");
    net.precision_profile = "precision.txt: " + p.string();
  }

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
      json merged = with_defaults(spec[key], defaults, key, what);
      const bool is_weights = std::string(key) == "weights";
      if (!profile.empty()) {
        for (const auto& k : kProfileKeys)
          if (spec[key].contains(k))
            lctx.fail(std::string(key) + "." + k + " and the manifest's \"precision_profile\" both say how wide " +
                      "this tensor is; leave one out");
        const LayerPrecision& lp = profile[index - 1];
        const json p = is_weights ? profile_spec(lp.weight_magnitude, lp.weight_fraction)
                                  : profile_spec(lp.activation_magnitude, lp.activation_fraction);
        for (const auto& item : p.items()) merged[item.key()] = item.value();
        what += " (with the precision profile)";
      }
      auto files = open_files(get_files(merged, key, base, lctx), key, lctx);
      const Quantization q = get_quantization(merged, files, is_weights, what, lctx);
      if (!is_weights) {
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

namespace {

// A line of model.csv: name,type,stride,padding.
struct CsvLayer {
  std::size_t line = 0;
  std::string name;
  LayerType type = LayerType::conv;
  std::int64_t stride = 1, padding = 0;
};

std::vector<CsvLayer> read_model_csv(const fs::path& csv) {
  std::ifstream in(csv);
  if (!in) throw Error(csv.string() + ": cannot be read");
  std::vector<CsvLayer> layers;
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
    CsvLayer layer;
    layer.line = line_number;
    layer.name = fields[0];
    if (layer.name.empty()) throw Error(where + "the layer name is empty");
    if (!names.insert(layer.name).second) throw Error(where + "layer '" + layer.name + "' appears twice");
    Context ctx{csv.string() + ":" + std::to_string(line_number), layer.name};
    layer.type = get_type(json(fields[1]), ctx);
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
    layer.stride = number(fields[2], "stride");
    layer.padding = number(fields[3], "padding");
    layers.push_back(std::move(layer));
  }
  if (layers.empty()) throw Error(csv.string() + ": lists no layers");
  return layers;
}

// DNNsim names a layer's trace files with '-' for every '/' of its name
// (§7a: Caffe's "inception_3a/1x1" → wgt-inception_3a-1x1.npy).
std::string trace_stem(const std::string& layer_name) {
  std::string stem = layer_name;
  std::replace(stem.begin(), stem.end(), '/', '-');
  return stem;
}

}  // namespace

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

  const std::vector<CsvLayer> rows = read_model_csv(csv);
  // §7a: each layer's p_a and p_w, and how DNNsim quantizes raw float traces.
  std::vector<LayerPrecision> profile;
  const fs::path precision_txt = dir / "precision.txt";
  if (fs::exists(precision_txt, ec)) {
    profile = read_precision_txt(precision_txt, rows.size(), csv.string());
    net.precision_profile = "precision.txt: " + precision_txt.string();
  }
  // Without one, integral float traces are 16-bit signed integers (§7), and a
  // fraction is an error that says what to add.
  const std::string advice =
      profile.empty() ? ": raw float DNNsim traces need each layer's precision: add " + precision_txt.string() +
                            " (DNNsim's magnitude and fraction bits per layer; see MODEL.md §7a), or profile "
                            "them through a manifest that says how to quantize them (README, \"quantize\")"
                      : "";

  // Every file of the traces directory, found once.
  std::vector<std::string> trace_names;
  for (const auto& entry : fs::directory_iterator(traces)) trace_names.push_back(entry.path().filename().string());

  for (std::size_t index = 0; index < rows.size(); ++index) {
    const CsvLayer& row = rows[index];
    NetworkLayer layer;
    layer.name = row.name;
    Context ctx{csv.string() + ":" + std::to_string(row.line), layer.name};
    layer.shape.type = row.type;
    if (layer.shape.type == LayerType::conv) {
      layer.shape.stride_h = layer.shape.stride_w = row.stride;
      layer.shape.padding = Padding{row.padding, row.padding, row.padding, row.padding};
    }
    const std::string stem = trace_stem(layer.name);
    const std::string renamed = stem == layer.name ? "" : " (DNNsim writes '/' in a layer name as '-' in its trace files)";

    const fs::path weight_path = traces / ("wgt-" + stem + ".npy");
    if (!fs::exists(weight_path, ec)) ctx.fail("weights " + weight_path.string() + " do not exist" + renamed);
    // act-<layer>-<batch>.npy in batch order.
    std::vector<std::pair<long long, std::string>> batches;
    const std::string prefix = "act-" + stem + "-";
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
      ctx.fail("no activation traces " + (traces / (prefix + "<batch>.npy")).string() + renamed);
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
    json act_spec = {{"quantize", "integral"}, {"bits", 16}};
    json weight_spec = act_spec;
    if (!profile.empty()) {
      const LayerPrecision& lp = profile[index];
      act_spec = profile_spec(lp.activation_magnitude, lp.activation_fraction);
      weight_spec = profile_spec(lp.weight_magnitude, lp.weight_fraction);
    }
    const Quantization act_q = get_quantization(act_spec, act_files, false, "activations", ctx);
    const Quantization weight_q = get_quantization(weight_spec, weight_files, true, "weights", ctx);
    // model.csv has no groups column: they follow from the shapes (depthwise
    // layers have one channel per filter).
    if (layer.shape.type == LayerType::conv && weight_files.front().shape().size() == 4) {
      const ActivationShape act = activation_shape(act_files, LayerType::conv, ctx);
      const std::uint64_t w_channels = weight_files.front().shape()[1];
      if (w_channels > 0 && act.per_sample[0] % w_channels == 0)
        layer.shape.groups = static_cast<std::int64_t>(act.per_sample[0] / w_channels);
    }
    complete_layer(layer, std::move(act_files), act_q, std::move(weight_files), weight_q, true, ctx, advice);
    net.layers.push_back(std::move(layer));
  }
  return net;
}

Network load_network(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error(path + ": no such file or directory");
  const fs::path p(path);
  if (fs::is_directory(p, ec)) {
    if (fs::exists(p / "model.csv", ec)) return load_dnnsim(path);
    if (fs::exists(p / "manifest.json", ec)) return load_manifest((p / "manifest.json").string());
    // The root of a DNNsim layout: say which model directories to profile.
    if (fs::is_directory(p / "models", ec) && fs::is_directory(p / "net_traces", ec)) {
      std::vector<std::string> nets;
      for (const auto& entry : fs::directory_iterator(p / "models", ec))
        if (fs::is_regular_file(entry.path() / "model.csv", ec)) nets.push_back(entry.path().filename().string());
      std::sort(nets.begin(), nets.end());
      if (nets.empty())
        throw Error(path + ": a DNNsim root directory, but no models/<net>/model.csv in it");
      std::string list;
      for (std::size_t i = 0; i < nets.size() && i < 20; ++i) list += (i == 0 ? "" : ", ") + nets[i];
      if (nets.size() > 20) list += ", …";
      throw Error(path + ": a DNNsim root directory; profile one network's model directory, e.g. " +
                  (p / "models" / nets.front()).lexically_normal().string() + " (networks here: " + list + ")");
    }
    if (fs::is_directory(p.parent_path().parent_path() / "models", ec) && p.parent_path().filename() == "net_traces")
      throw Error(path + ": a DNNsim traces directory; profile the network's model directory, " +
                  (p.parent_path().parent_path() / "models" / p.filename()).lexically_normal().string());
    throw Error(path + ": a directory with neither a manifest.json nor a DNNsim model.csv");
  }
  // DNNsim's model.csv itself: its directory is the network.
  if (p.filename() == "model.csv") return load_dnnsim(p.parent_path().empty() ? "." : p.parent_path().string());
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
      const std::string nearest = nearest_name(name, known);
      throw Error("--layers: network '" + network.name + "' has no layer '" + name + "'" +
                  (nearest.empty() ? "" : " (did you mean '" + nearest + "'?)") + "; it has: " + listed);
    }
  }
  std::vector<NetworkLayer> kept;
  for (auto& l : network.layers)
    if (wanted.count(l.name) != 0) kept.push_back(std::move(l));
  network.layers = std::move(kept);
}

}  // namespace laconic
