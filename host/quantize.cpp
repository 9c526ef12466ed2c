#include "laconic/quantize.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>
#include <type_traits>

#include "laconic/error.hpp"
#include "laconic/memory_source.hpp"

namespace laconic {

std::string_view to_string(QuantizeMode mode) {
  switch (mode) {
    case QuantizeMode::none: return "none";
    case QuantizeMode::fixed: return "fixed";
    case QuantizeMode::linear: return "linear";
    case QuantizeMode::integral: return "integral";
    case QuantizeMode::dnnsim: return "dnnsim";
  }
  return "?";
}

std::int64_t quantize_fixed(double x, int int_bits, int frac_bits, bool is_signed) {
  // §2: v = round(x · 2^frac), clipped to ±(2^(int+frac) − 1); the formula
  // live profiling and the cuda engine share (memory_source.hpp).
  return static_cast<std::int64_t>(fixed_point_value(x, fixed_point(int_bits, frac_bits), is_signed));
}

NpyTensorSource::NpyTensorSource(std::vector<NpyArray> files, Quantization quantization, std::string label,
                                 std::string advice)
    : files_(std::move(files)), quantization_(std::move(quantization)), label_(std::move(label)),
      advice_(std::move(advice)) {
  for (const auto& f : files_) {
    offsets_.push_back(total_);
    total_ += f.size();
  }
  const std::size_t points = quantization_.zero_points.size();
  if (points > 1) {
    if (total_ % points != 0)
      throw Error(name() + ": " + std::to_string(points) + " zero points do not divide its " +
                  std::to_string(total_) + " values into equal slices of the first axis");
    zero_point_slice_ = total_ / points;
  } else if (points == 1) {
    zero_point_slice_ = std::max<std::uint64_t>(total_, 1);
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

// float16 as read: binary16 bits, widened exactly on use.
struct Half {
  std::uint16_t bits;
};
// bool as read: one byte, any non-zero byte is True (as NumPy reads it).
struct Bool {
  std::uint8_t byte;
};

template <typename T>
T load(const std::byte* base, std::uint64_t i) {
  T v;
  std::memcpy(&v, base + i * sizeof(T), sizeof(T));
  return v;
}

double as_double(float v) { return static_cast<double>(v); }
double as_double(double v) { return v; }
double as_double(Half v) { return static_cast<double>(half_to_float(v.bits)); }

std::string describe_precision(const Precision& p) {
  return std::to_string(p.bits) + "-bit " + (p.is_signed ? "signed" : "unsigned") + " range " +
         std::to_string(p.min_value()) + ".." + std::to_string(p.max_value());
}

template <typename T>
std::string value_text(T v) {
  std::ostringstream out;
  out.precision(17);
  if constexpr (std::is_same_v<T, Half>) out << as_double(v);
  else if constexpr (std::is_same_v<T, Bool>) out << (v.byte != 0 ? "True" : "False");
  else out << +v;
  return out.str();
}

// The error for a code outside the declared width (less its zero point zp,
// giving v): kept out of line so that the check stays in the loop.
template <typename T>
[[noreturn]] __attribute__((noinline, cold)) void width_error(const NpyArray& file, std::uint64_t element, T raw,
                                                              std::int64_t zp, std::int64_t v, bool overflow,
                                                              const std::string& width_text, const std::string& label) {
  std::string what;
  if (overflow) what = "less its zero point " + std::to_string(zp) + " overflows 64 bits";
  else if (zp != 0)
    what = "less its zero point " + std::to_string(zp) + " is " + std::to_string(v) + ", outside the declared " +
           width_text;
  else what = "is outside the declared " + width_text;
  throw Error(file.path() + ": element " + element_index(file, element) + " = " + value_text(raw) + " " + what +
              " (" + label + ")");
}

// The error for a value that cannot be quantized: "<what><extra>".
template <typename T>
[[noreturn]] __attribute__((noinline, cold)) void value_error(const NpyArray& file, std::uint64_t element, T raw,
                                                              const char* what, const std::string& extra,
                                                              const std::string& label) {
  throw Error(file.path() + ": element " + element_index(file, element) + " = " + value_text(raw) + " " + what +
              extra + " (" + label + ")");
}

// Calls fn(items, first', n) over elements [first, first + count) of `file`
// in blocks, the items in the host's byte order and C order: in place when
// the data is mapped and contiguous, else through a buffer of 16384 items.
template <class Fn>
void for_blocks(const NpyArray& file, std::uint64_t first, std::uint64_t count, Fn fn) {
  const std::size_t item = item_size(file.dtype());
  if (const std::byte* data = file.contiguous_data()) {
    fn(data + first * item, first, count);
    return;
  }
  constexpr std::uint64_t kBlock = 1 << 14;
  std::vector<std::byte> buffer(static_cast<std::size_t>(std::min(count, kBlock) * item));
  for (std::uint64_t done = 0; done < count;) {
    const std::uint64_t n = std::min(kBlock, count - done);
    file.read(first + done, n, buffer.data());
    fn(buffer.data(), first + done, n);
    done += n;
  }
}

// Calls visit(T{}) with the item type of a float dtype.
template <class Visit>
void with_float_type(DType dtype, Visit visit) {
  switch (dtype) {
    case DType::f2: visit(Half{}); break;
    case DType::f4: visit(float{}); break;
    case DType::f8: visit(double{}); break;
    default: throw Error("internal: a float quantization of " + std::string(to_string(dtype)) + " data");
  }
}

}  // namespace

const NpyTensorSource::Range& NpyTensorSource::range() const {
  std::call_once(range_once_, [this] {
    Range r{std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity()};
    for (const auto& file : files_) {
      with_float_type(file.dtype(), [&](auto tag) {
        using T = decltype(tag);
        for_blocks(file, 0, file.size(), [&](const std::byte* items, std::uint64_t first, std::uint64_t n) {
          for (std::uint64_t i = 0; i < n; ++i) {
            const double x = as_double(load<T>(items, i));
            if (!std::isfinite(x))
              throw Error(file.path() + ": element " + element_index(file, first + i) + " is " + value_text(x) +
                          "; " + label_ + " must be finite to be quantized");
            r.min = std::min(r.min, x);
            r.max = std::max(r.max, x);
          }
        });
      });
    }
    if (total_ == 0) r = Range{};
    range_ = r;
  });
  return range_;
}

bool NpyTensorSource::all_integral() const {
  std::call_once(integral_once_, [this] {
    bool integral = true;
    for (const auto& file : files_) {
      if (!is_float(file.dtype())) continue;
      with_float_type(file.dtype(), [&](auto tag) {
        using T = decltype(tag);
        // Stops at the first block with a fraction: most float traces have
        // one in their first values.
        constexpr std::uint64_t kStep = 1 << 16;
        for (std::uint64_t at = 0; integral && at < file.size(); at += kStep) {
          for_blocks(file, at, std::min(kStep, file.size() - at),
                     [&](const std::byte* items, std::uint64_t first, std::uint64_t n) {
                       for (std::uint64_t i = 0; i < n; ++i) {
                         const double x = as_double(load<T>(items, i));
                         if (!std::isfinite(x))
                           throw Error(file.path() + ": element " + element_index(file, first + i) + " = " +
                                       value_text(x) + " is not a finite number (" + label_ + ")");
                         if (x != std::floor(x)) integral = false;
                       }
                     });
        }
      });
      if (!integral) break;
    }
    all_integral_ = integral;
  });
  return all_integral_;
}

// Elements [first, first + count) of `file`, which are elements
// global_first … of the tensor (for per-channel zero points).
void NpyTensorSource::convert(const NpyArray& file, std::uint64_t global_first, std::uint64_t first,
                              std::uint64_t count, std::int64_t* out) const {
  const Quantization& q = quantization_;
  const Precision& p = q.precision;
  // `dnnsim` bounds magnitudes as its fixed point clips them (§7a); every
  // other mode uses the declared two's-complement (or unsigned) range.
  const bool magnitude_bound = q.mode == QuantizeMode::dnnsim;
  const std::int64_t magnitude_limit = (std::int64_t{1} << p.bits) - 1;
  const std::int64_t lowest = magnitude_bound ? (p.is_signed ? -magnitude_limit : 0) : p.min_value();
  const std::int64_t highest = magnitude_bound ? magnitude_limit : p.max_value();
  const std::string width_text =
      magnitude_bound ? std::to_string(p.bits) + "-bit magnitude range " + std::to_string(lowest) + ".." +
                            std::to_string(highest)
                      : describe_precision(p);
  const bool has_zero_points = !q.zero_points.empty();
  const auto lowest_value = static_cast<double>(lowest), highest_value = static_cast<double>(highest);
  // An integer code (or an integral float) less its zero point, checked
  // against the declared width; `raw` is the stored value, for messages only.
  auto checked = [&](std::uint64_t element, std::int64_t code, auto raw) {
    std::int64_t v = code, zp = 0;
    if (has_zero_points) {
      zp = q.zero_points[static_cast<std::size_t>((global_first - first + element) / zero_point_slice_)];
      if (__builtin_sub_overflow(code, zp, &v)) width_error(file, element, raw, zp, v, true, width_text, label_);
    }
    if (__builtin_expect(v < lowest || v > highest, 0)) width_error(file, element, raw, zp, v, false, width_text, label_);
    return v;
  };
  auto integers = [&](auto tag) {
    using T = decltype(tag);
    for_blocks(file, first, count, [&](const std::byte* items, std::uint64_t at, std::uint64_t n) {
      std::int64_t* o = out + (at - first);
      for (std::uint64_t i = 0; i < n; ++i) {
        const T raw = load<T>(items, i);
        std::int64_t code;
        if constexpr (std::is_same_v<T, Bool>) {
          code = raw.byte != 0 ? 1 : 0;
        } else if constexpr (std::is_same_v<T, std::uint64_t>) {
          if (raw > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
            width_error(file, at + i, raw, 0, 0, false, width_text, label_);
          code = static_cast<std::int64_t>(raw);
        } else {
          code = static_cast<std::int64_t>(raw);
        }
        o[i] = checked(at + i, code, raw);
      }
    });
  };
  auto floats = [&](auto tag) {
    using T = decltype(tag);
    if (q.mode == QuantizeMode::linear) {
      const Range& r = range();
      // §2: max|x| → 2^(P−1) − 1 when signed, min..max → 0..2^P − 1
      // otherwise; a constant tensor: 0 stays 0, any other constant maps to
      // the top (memory_source.hpp, shared with live profiling).
      const LinearMap map = linear_map(r.min, r.max, p.bits);
      for_blocks(file, first, count, [&](const std::byte* items, std::uint64_t at, std::uint64_t n) {
        std::int64_t* o = out + (at - first);
        for (std::uint64_t i = 0; i < n; ++i)
          o[i] = static_cast<std::int64_t>(linear_value(as_double(load<T>(items, i)), map, /*saturate=*/false));
      });
      return;
    }
    // dnnsim: integral tensors keep their values, others are fixed point.
    // One loop per case, so that each stays tight.
    const bool fixed = q.mode == QuantizeMode::fixed || (q.mode == QuantizeMode::dnnsim && !all_integral());
    const FixedPoint fixed_point_q = fixed_point(q.int_bits, q.frac_bits);  // §2, as quantize_fixed
    for_blocks(file, first, count, [&](const std::byte* items, std::uint64_t at, std::uint64_t n) {
      std::int64_t* o = out + (at - first);
      auto finite = [&](std::uint64_t i, T raw) {
        const double x = as_double(raw);
        if (!std::isfinite(x)) value_error(file, at + i, raw, "is not a finite number", "", label_);
        return x;
      };
      auto integral = [&](std::uint64_t i, T raw) {
        const double x = finite(i, raw);
        if (x != std::floor(x)) value_error(file, at + i, raw, "is not an integer", advice_, label_);
        return x;
      };
      if (fixed) {
        for (std::uint64_t i = 0; i < n; ++i) {
          const T raw = load<T>(items, i);
          const auto v = static_cast<std::int64_t>(fixed_point_value(finite(i, raw), fixed_point_q, true));
          if (!p.is_signed && v < 0)
            value_error(file, at + i, raw, "is negative but the tensor is declared unsigned", "", label_);
          o[i] = v;
        }
      } else if (!has_zero_points) {  // integral, or dnnsim on an integral tensor
        const double lo = lowest_value, hi = highest_value;  // in registers, not reloaded
        for (std::uint64_t i = 0; i < n; ++i) {
          const T raw = load<T>(items, i);
          const double x = integral(i, raw);
          if (x < lo || x > hi) width_error(file, at + i, raw, 0, 0, false, width_text, label_);
          o[i] = static_cast<std::int64_t>(x);
        }
      } else {
        for (std::uint64_t i = 0; i < n; ++i) {
          const T raw = load<T>(items, i);
          const double x = integral(i, raw);
          // Beyond ±2^63 the cast is undefined: such a value is outside every width.
          if (!(std::fabs(x) < 9.2e18)) width_error(file, at + i, raw, 0, 0, false, width_text, label_);
          o[i] = checked(at + i, static_cast<std::int64_t>(x), raw);
        }
      }
    });
  };
  switch (file.dtype()) {
    case DType::b1: integers(Bool{}); break;
    case DType::i1: integers(std::int8_t{}); break;
    case DType::u1: integers(std::uint8_t{}); break;
    case DType::i2: integers(std::int16_t{}); break;
    case DType::u2: integers(std::uint16_t{}); break;
    case DType::i4: integers(std::int32_t{}); break;
    case DType::u4: integers(std::uint32_t{}); break;
    case DType::i8: integers(std::int64_t{}); break;
    case DType::u8: integers(std::uint64_t{}); break;
    case DType::f2: floats(Half{}); break;
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
    if (n > 0) convert(files_[f], first, local, n, out);
    first += n;
    count -= n;
    out += n;
    ++f;
  }
}

}  // namespace laconic
