#include "laconic/quantize.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>

#include "laconic/error.hpp"

namespace laconic {

std::string_view to_string(QuantizeMode mode) {
  switch (mode) {
    case QuantizeMode::none: return "none";
    case QuantizeMode::fixed: return "fixed";
    case QuantizeMode::linear: return "linear";
    case QuantizeMode::integral: return "integral";
  }
  return "?";
}

std::int64_t quantize_fixed(double x, int int_bits, int frac_bits, bool is_signed) {
  // §2: v = round(x · 2^frac), clipped to ±(2^(int+frac) − 1).
  const double limit = std::ldexp(1.0, int_bits + frac_bits) - 1.0;
  const double v = std::round(std::ldexp(x, frac_bits));
  return static_cast<std::int64_t>(std::clamp(v, is_signed ? -limit : 0.0, limit));
}

NpyTensorSource::NpyTensorSource(std::vector<NpyArray> files, Quantization quantization, std::string label)
    : files_(std::move(files)), quantization_(quantization), label_(std::move(label)) {
  for (const auto& f : files_) {
    offsets_.push_back(total_);
    total_ += f.size();
  }
}

std::string NpyTensorSource::name() const {
  if (files_.empty()) return label_;
  std::string names = files_.front().path();
  if (files_.size() > 1) names += " and " + std::to_string(files_.size() - 1) + " more file(s)";
  return label_ + " (" + names + ")";
}

namespace {

std::string element_index(const NpyArray& file, std::uint64_t flat) {
  const auto& shape = file.shape();
  std::vector<std::uint64_t> index(shape.size());
  for (std::size_t d = shape.size(); d-- > 0;) {
    index[d] = shape[d] == 0 ? 0 : flat % shape[d];
    flat = shape[d] == 0 ? 0 : flat / shape[d];
  }
  return shape_to_string(index);
}

template <typename T>
T load(const std::byte* base, std::uint64_t i) {
  T v;
  std::memcpy(&v, base + i * sizeof(T), sizeof(T));
  return v;
}

std::string describe_precision(const Precision& p) {
  return std::to_string(p.bits) + "-bit " + (p.is_signed ? "signed" : "unsigned") + " range " +
         std::to_string(p.min_value()) + ".." + std::to_string(p.max_value());
}

template <typename T>
std::string value_text(T v) {
  std::ostringstream out;
  out.precision(17);
  out << +v;
  return out.str();
}

}  // namespace

const NpyTensorSource::Range& NpyTensorSource::range() const {
  std::call_once(range_once_, [this] {
    Range r{std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity()};
    for (const auto& file : files_) {
      const std::uint64_t n = file.size();
      for (std::uint64_t i = 0; i < n; ++i) {
        const double x = file.dtype() == DType::f4 ? static_cast<double>(load<float>(file.data(), i))
                                                   : load<double>(file.data(), i);
        if (!std::isfinite(x))
          throw Error(file.path() + ": element " + element_index(file, i) + " is " + value_text(x) +
                      "; " + label_ + " must be finite to be quantized");
        r.min = std::min(r.min, x);
        r.max = std::max(r.max, x);
      }
    }
    if (total_ == 0) r = Range{};
    range_ = r;
  });
  return range_;
}

void NpyTensorSource::convert(const NpyArray& file, std::uint64_t first, std::uint64_t count,
                              std::int64_t* out) const {
  const Quantization& q = quantization_;
  const Precision& p = q.precision;
  auto out_of_range = [&](std::uint64_t i, const std::string& value, const std::string& what) {
    throw Error(file.path() + ": element " + element_index(file, first + i) + " = " + value + " " + what +
                " (" + label_ + ")");
  };
  const std::int64_t lowest = p.min_value(), highest = p.max_value();
  auto integers = [&](auto tag) {
    using T = decltype(tag);
    for (std::uint64_t i = 0; i < count; ++i) {
      const T raw = load<T>(file.data(), first + i);
      const auto v = static_cast<std::int64_t>(raw);
      if (v < lowest || v > highest)
        out_of_range(i, value_text(raw), "is outside the declared " + describe_precision(p));
      out[i] = v;
    }
  };
  auto floats = [&](auto tag) {
    using T = decltype(tag);
    const std::byte* base = file.data();
    if (q.mode == QuantizeMode::linear) {
      const Range& r = range();
      const bool is_signed = r.min < 0;
      // §2: max|x| → 2^(P−1) − 1 when signed, min..max → 0..2^P − 1 otherwise.
      double offset = 0, span = 1, target = 0;
      if (is_signed) {
        span = std::max(-r.min, r.max);
        target = std::ldexp(1.0, p.bits - 1) - 1.0;
      } else if (r.max > r.min) {
        span = r.max - r.min;
        target = std::ldexp(1.0, p.bits) - 1.0;
        offset = r.min;
      }
      const double scale = target / span;
      // A span of denormals (an f8 tensor of 0 and 5e-324) overflows the
      // scale to infinity, and inf · 0 is NaN: divide first for those.
      const bool tiny_span = !std::isfinite(scale);
      const double top = std::ldexp(1.0, p.bits) - 1.0;
      for (std::uint64_t i = 0; i < count; ++i) {
        const double x = static_cast<double>(load<T>(base, first + i));
        if (!is_signed && r.max == r.min) {
          // A constant tensor: 0 stays 0, any other constant maps to the top.
          out[i] = x == 0 ? 0 : static_cast<std::int64_t>(top);
        } else {
          out[i] = static_cast<std::int64_t>(
              std::round(tiny_span ? (x - offset) / span * target : (x - offset) * scale));
        }
      }
      return;
    }
    for (std::uint64_t i = 0; i < count; ++i) {
      const T raw = load<T>(base, first + i);
      const double x = static_cast<double>(raw);
      if (!std::isfinite(x)) out_of_range(i, value_text(raw), "is not a finite number");
      if (q.mode == QuantizeMode::fixed) {
        const std::int64_t v = quantize_fixed(x, q.int_bits, q.frac_bits, true);
        if (!p.is_signed && v < 0)
          out_of_range(i, value_text(raw), "is negative but the tensor is declared unsigned");
        out[i] = v;
      } else {  // integral
        if (x != std::floor(x)) out_of_range(i, value_text(raw), "is not an integer");
        if (x < static_cast<double>(lowest) || x > static_cast<double>(highest))
          out_of_range(i, value_text(raw), "is outside the declared " + describe_precision(p));
        out[i] = static_cast<std::int64_t>(x);
      }
    }
  };
  switch (file.dtype()) {
    case DType::i1: integers(std::int8_t{}); break;
    case DType::u1: integers(std::uint8_t{}); break;
    case DType::i2: integers(std::int16_t{}); break;
    case DType::u2: integers(std::uint16_t{}); break;
    case DType::i4: integers(std::int32_t{}); break;
    case DType::u4: integers(std::uint32_t{}); break;
    case DType::f4: floats(float{}); break;
    case DType::f8: floats(double{}); break;
  }
}

void NpyTensorSource::release(std::uint64_t first, std::uint64_t count) const {
  if (first >= total_ || count == 0) return;
  count = std::min(count, total_ - first);
  std::size_t f = static_cast<std::size_t>(std::upper_bound(offsets_.begin(), offsets_.end(), first) -
                                           offsets_.begin()) - 1;
  while (count > 0 && f < files_.size()) {
    const std::uint64_t local = first - offsets_[f];
    const std::uint64_t n = std::min(count, files_[f].size() - local);
    files_[f].release(local, n);
    first += n;
    count -= n;
    ++f;
  }
}

void NpyTensorSource::read(std::uint64_t first, std::uint64_t count, std::int64_t* out) const {
  if (first > total_ || count > total_ - first)
    throw Error(name() + ": read of elements " + std::to_string(first) + "+" + std::to_string(count) +
                " past the end (" + std::to_string(total_) + " values)");
  if (count == 0) return;
  // The file holding `first`: the last whose offset is <= first.
  std::size_t f = static_cast<std::size_t>(std::upper_bound(offsets_.begin(), offsets_.end(), first) -
                                           offsets_.begin()) - 1;
  while (count > 0) {
    const std::uint64_t local = first - offsets_[f];
    const std::uint64_t n = std::min(count, files_[f].size() - local);
    if (n > 0) convert(files_[f], local, n, out);
    first += n;
    count -= n;
    out += n;
    ++f;
  }
}

}  // namespace laconic
