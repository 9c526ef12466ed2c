#include "laconic/run/identity.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <nlohmann/json.hpp>
#include <system_error>

#include "../report_json.hpp"
#include "laconic/error.hpp"
#include "laconic/quantize.hpp"
#include "laconic/report.hpp"

namespace laconic::run {

using nlohmann::json;
using nlohmann::ordered_json;
namespace fs = std::filesystem;

namespace {

constexpr std::size_t kHeaderBytes = 4096;
constexpr std::int64_t kRacyNanoseconds = 2'000'000'000;

std::string errno_text(int err) { return std::system_category().message(err); }

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(Fd&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// CRC-32 of bytes [0, limit) of the open file (the whole file when limit is 0).
std::uint32_t file_crc32(int fd, const std::string& path, std::uint64_t limit) {
  std::vector<unsigned char> buffer(std::size_t{1} << 20);
  std::uint32_t crc = 0;
  std::uint64_t offset = 0;
  for (;;) {
    std::size_t want = buffer.size();
    if (limit != 0) want = static_cast<std::size_t>(std::min<std::uint64_t>(want, limit - offset));
    if (want == 0) break;
    const ssize_t got = ::pread(fd, buffer.data(), want, static_cast<off_t>(offset));
    if (got < 0) {
      if (errno == EINTR) continue;
      throw Error(path + ": cannot read: " + errno_text(errno));
    }
    if (got == 0) break;
    crc = crc32_of(buffer.data(), static_cast<std::size_t>(got), crc);
    offset += static_cast<std::uint64_t>(got);
  }
  return crc;
}

struct FileStat {
  std::uint64_t size = 0, inode = 0;
  std::int64_t mtime_ns = 0;
};

FileStat stat_of(int fd, const std::string& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw Error(path + ": cannot stat: " + errno_text(errno));
  FileStat s;
  s.size = static_cast<std::uint64_t>(st.st_size);
  s.inode = static_cast<std::uint64_t>(st.st_ino);
  s.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  return s;
}

Fd open_trace(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (fd.get() < 0) throw Error(path + ": cannot open: " + errno_text(errno));
  return fd;
}

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

ordered_json tensor_json(const Precision& p, const std::string& quantization) {
  return ordered_json{{"bits", p.bits}, {"signed", p.is_signed}, {"quantization", quantization}};
}

// One entry per file a tensor reads: the .npy files, or the .npz archive
// that holds its members (once, however many members it names). `files`
// caches each file's fields, so that an archive shared by every layer is
// read for its CRC-32 once.
void add_traces(ordered_json& traces, const TensorSource* source, const std::string& tensor, std::int64_t now,
                std::map<std::string, ordered_json>& files) {
  const auto* npy = dynamic_cast<const NpyTensorSource*>(source);
  if (npy == nullptr) {
    // Values not read from files (tests, programs): their name and size.
    traces.push_back(ordered_json{{"tensor", tensor},
                                  {"path", nullptr},
                                  {"source", source == nullptr ? std::string() : source->name()},
                                  {"values", source == nullptr ? 0 : source->size()}});
    return;
  }
  const bool whole_tensor = npy->quantization().mode == QuantizeMode::linear;
  std::vector<std::string> added;
  for (const NpyArray& array : npy->files()) {
    std::error_code ec;
    fs::path absolute = fs::absolute(array.file(), ec);
    const std::string path = ec ? array.file() : absolute.lexically_normal().string();
    if (std::find(added.begin(), added.end(), path) != added.end()) continue;
    added.push_back(path);
    auto cached = files.find(path);
    if (cached == files.end()) {
      const Fd fd = open_trace(path);
      const FileStat st = stat_of(fd.get(), path);
      ordered_json fields{{"size", st.size},
                          {"mtime_ns", st.mtime_ns},
                          {"inode", st.inode},
                          {"header_crc32", file_crc32(fd.get(), path, kHeaderBytes)}};
      // Racy: modified so recently that a change within the same clock tick
      // would keep size and time; the content decides.
      if (st.mtime_ns >= now - kRacyNanoseconds) fields["content_crc32"] = file_crc32(fd.get(), path, 0);
      cached = files.emplace(path, std::move(fields)).first;
    }
    ordered_json entry{{"tensor", tensor}, {"path", path}};
    for (const auto& field : cached->second.items()) entry[field.key()] = field.value();
    if (whole_tensor) entry["whole_tensor"] = true;
    traces.push_back(std::move(entry));
  }
}

std::string text_of(const json& v) {
  std::string s = v.is_string() ? v.get<std::string>() : v.dump();
  return s.size() <= 120 ? s : s.substr(0, 117) + "...";
}

// A value as a difference line shows it: a null preset is a configuration
// that matches no preset (as compare says).
std::string shown(const json& v, const std::string& where) {
  if (v.is_null() && where == "config.preset") return "custom (no preset)";
  return text_of(v);
}

// The "name" of every element of an array of named objects, or nothing when
// some element has none.
std::optional<std::vector<std::string>> names_of(const json& array) {
  std::vector<std::string> names;
  for (const json& e : array) {
    if (!e.is_object() || !e.contains("name") || !e["name"].is_string()) return std::nullopt;
    names.push_back(e["name"].get<std::string>());
  }
  return names;
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (std::size_t i = 0; i < names.size() && i < 12; ++i) out += (i == 0 ? "" : ", ") + names[i];
  if (names.size() > 12) out += ", ... (" + std::to_string(names.size()) + " in all)";
  return out;
}

// Every difference of two JSON values, by path. Arrays of named objects (the
// layers) are compared by name: the names on one side only, then each
// common element.
void diff(const json& a, const json& b, const std::string& where, const std::string& there, const std::string& here,
          std::vector<std::string>& out) {
  if (a.is_object() && b.is_object()) {
    for (const auto& item : a.items()) {
      const std::string at = where.empty() ? item.key() : where + "." + item.key();
      if (!b.contains(item.key())) out.push_back(at + ": " + shown(item.value(), at) + " in " + there + ", absent in " + here);
      else diff(item.value(), b[item.key()], at, there, here, out);
    }
    for (const auto& item : b.items())
      if (!a.contains(item.key())) {
        const std::string at = where.empty() ? item.key() : where + "." + item.key();
        out.push_back(at + ": absent in " + there + ", " + shown(item.value(), at) + " in " + here);
      }
    return;
  }
  if (a.is_array() && b.is_array()) {
    const auto na = names_of(a), nb = names_of(b);
    if (na && nb && *na != *nb) {
      std::vector<std::string> only_a, only_b;
      for (const auto& n : *na)
        if (std::find(nb->begin(), nb->end(), n) == nb->end()) only_a.push_back(n);
      for (const auto& n : *nb)
        if (std::find(na->begin(), na->end(), n) == na->end()) only_b.push_back(n);
      if (!only_a.empty()) out.push_back(where + ": " + joined(only_a) + " in " + there + " only");
      if (!only_b.empty()) out.push_back(where + ": " + joined(only_b) + " in " + here + " only");
      if (only_a.empty() && only_b.empty()) out.push_back(where + ": the same names in another order");
      for (std::size_t i = 0; i < na->size(); ++i) {
        const auto j = std::find(nb->begin(), nb->end(), (*na)[i]);
        if (j != nb->end()) diff(a[i], b[static_cast<std::size_t>(j - nb->begin())], where + "[" + (*na)[i] + "]", there, here, out);
      }
      return;
    }
    if (a.size() == b.size()) {
      for (std::size_t i = 0; i < a.size(); ++i)
        diff(a[i], b[i], where + "[" + (na ? (*na)[i] : std::to_string(i)) + "]", there, here, out);
      return;
    }
  }
  if (a != b) out.push_back(where + ": " + shown(a, where) + " in " + there + ", " + shown(b, where) + " in " + here);
}

std::string trace_key(const json& t) {
  return t.value("tensor", std::string()) + "\n" + (t.contains("path") && t["path"].is_string() ? t["path"].get<std::string>() : "");
}

}  // namespace

std::uint32_t crc32_of(const void* bytes, std::size_t size, std::uint32_t crc) {
  const auto* p = static_cast<const Bytef*>(bytes);
  uLong c = crc;
  while (size > 0) {
    const auto n = static_cast<uInt>(std::min<std::size_t>(size, std::size_t{1} << 30));
    c = ::crc32(c, p, n);
    p += n;
    size -= n;
  }
  return static_cast<std::uint32_t>(c);
}

std::string run_identity(const Network& network, const ProfileConfig& config, const UnitPlan& plan) {
  ordered_json doc;
  doc["tool"] = "laconic";
  doc["version"] = version_string();
  doc["network"] = network.name;
  doc["source"] = network.source;
  doc["config"] = settings_json(config);
  doc["plan"] = ordered_json{
      {"sample_limit", plan.options.sample_limit == 0 ? ordered_json(nullptr) : ordered_json(plan.options.sample_limit)},
      {"unit_samples", plan.options.unit_samples == 0 ? ordered_json(nullptr) : ordered_json(plan.options.unit_samples)},
      {"units", plan.units.size()},
      {"macs", plan.macs}};
  ordered_json layers = ordered_json::array();
  ordered_json traces = ordered_json::array();
  const std::int64_t now = now_ns();
  std::map<std::string, ordered_json> files;
  for (std::size_t l = 0; l < network.layers.size(); ++l) {
    const NetworkLayer& layer = network.layers[l];
    const PlanLayer& p = plan.layers.at(l);
    layers.push_back(ordered_json{{"name", layer.name},
                                  {"type", std::string(to_string(layer.shape.type))},
                                  {"shape", layer.shape.describe()},
                                  {"samples", p.samples},
                                  {"macs_per_sample", p.macs_per_sample},
                                  {"values_per_sample", p.values_per_sample},
                                  {"window_reads_per_sample", p.window_reads_per_sample},
                                  {"unit_samples", p.unit_samples},
                                  {"activations", tensor_json(layer.activation_precision, layer.activation_quantization)},
                                  {"weights", tensor_json(layer.weight_precision, layer.weight_quantization)}});
    add_traces(traces, layer.activations.get(), "layer '" + layer.name + "' activations", now, files);
    add_traces(traces, layer.weights.get(), "layer '" + layer.name + "' weights", now, files);
  }
  doc["layers"] = std::move(layers);
  doc["traces"] = std::move(traces);
  return doc.dump(-1, ' ', false, ordered_json::error_handler_t::replace);
}

std::string identity_with_engine(const std::string& identity, const std::string& engine) {
  ordered_json doc = ordered_json::parse(identity);
  doc["engine"] = engine;
  return doc.dump(-1, ' ', false, ordered_json::error_handler_t::replace);
}

std::string engine_of_identity(const std::string& identity) {
  const json doc = json::parse(identity);
  return doc.contains("engine") && doc["engine"].is_string() ? doc["engine"].get<std::string>() : std::string();
}

std::vector<std::string> identity_differences(const std::string& recorded_text, const std::string& current_text,
                                              IdentityUse use, const std::string& there, const std::string& here) {
  const json recorded = json::parse(recorded_text), current = json::parse(current_text);
  std::vector<std::string> out;
  json a = recorded, b = current;
  for (const char* key : {"traces", "engine"}) {
    a.erase(key);
    b.erase(key);
  }
  diff(a, b, "", there, here, out);

  // Traces by tensor and path, so that a message names the file.
  const json empty = json::array();
  const json& ta = recorded.contains("traces") ? recorded["traces"] : empty;
  const json& tb = current.contains("traces") ? current["traces"] : empty;
  std::map<std::string, const json*> by_key;
  for (const json& t : tb) by_key.emplace(trace_key(t), &t);
  // The traces of a layer on one side only: that layer's line above says it.
  std::vector<std::string> one_sided;
  if (recorded.contains("layers") && current.contains("layers")) {
    const auto na = names_of(recorded["layers"]), nb = names_of(current["layers"]);
    if (na && nb) {
      auto add = [&](const std::vector<std::string>& from, const std::vector<std::string>& other) {
        for (const auto& n : from)
          if (std::find(other.begin(), other.end(), n) == other.end())
            for (const char* tensor : {"activations", "weights"}) one_sided.push_back("layer '" + n + "' " + tensor);
      };
      add(*na, *nb);
      add(*nb, *na);
    }
  }
  auto said = [&](const json& t) {
    return std::find(one_sided.begin(), one_sided.end(), t.value("tensor", std::string())) != one_sided.end();
  };
  // One line per file and difference, naming the first tensor that reads
  // the file and how many others do (the layers of one .npz archive).
  std::vector<std::pair<std::string, std::string>> lines;  // (file and difference, first tensor)
  std::map<std::string, std::size_t> tensors;               // by file and difference
  auto say = [&](const json& t, const std::string& what) {
    const std::string file = t.contains("path") && t["path"].is_string() ? t["path"].get<std::string>() : "(in memory)";
    const std::string key = "file " + file + ": " + what;
    if (tensors[key]++ == 0) lines.emplace_back(key, t.value("tensor", std::string("?")));
  };
  std::map<std::string, std::uint32_t> content_crc;  // a file read again once
  std::map<std::string, bool> seen;
  for (const json& t : ta) {
    const std::string key = trace_key(t);
    seen[key] = true;
    const auto it = by_key.find(key);
    if (it == by_key.end()) {
      if (!said(t)) say(t, "in " + there + ", not read by " + here);
      continue;
    }
    const json& c = *it->second;
    for (const char* field : {"size", "mtime_ns", "inode", "header_crc32", "values", "source"}) {
      if (use == IdentityUse::merge && std::string(field) == "inode") continue;
      if (!t.contains(field) && !c.contains(field)) continue;
      if (!t.contains(field) || !c.contains(field) || t[field] != c[field]) {
        const std::string what = std::string(field) == "mtime_ns" ? "modification time (ns)"
                                 : std::string(field) == "header_crc32" ? "CRC-32 of its first 4 KiB"
                                                                        : std::string(field);
        say(t, what + " " + (t.contains(field) ? text_of(t[field]) : "absent") + " in " + there + ", " +
                   (c.contains(field) ? text_of(c[field]) : "absent") + " in " + here);
      }
    }
    if (use == IdentityUse::resume && t.contains("content_crc32") && c.contains("path") && c["path"].is_string()) {
      const std::string path = c["path"].get<std::string>();
      auto crc = content_crc.find(path);
      if (crc == content_crc.end()) {
        const Fd fd = open_trace(path);
        crc = content_crc.emplace(path, file_crc32(fd.get(), path, 0)).first;
      }
      if (t["content_crc32"] != crc->second)
        say(t, "its content changed (CRC-32 " + text_of(t["content_crc32"]) + " in " + there + ", " +
                   std::to_string(crc->second) + " in " + here + ")");
    }
  }
  for (const json& t : tb)
    if (!seen.count(trace_key(t)) && !said(t)) say(t, "read by " + here + ", not in " + there);
  for (const auto& [key, first] : lines) {
    const std::size_t more = tensors[key] - 1;
    out.push_back(first + (more == 0 ? "" : " (and " + std::to_string(more) + " other tensor" + (more == 1 ? "" : "s") + ")") +
                  " " + key);
  }
  return out;
}

}  // namespace laconic::run
