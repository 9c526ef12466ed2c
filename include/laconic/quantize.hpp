// From stored traces to the integers the model works on (MODEL.md §2, §7a).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "laconic/npy.hpp"
#include "laconic/tensor.hpp"

namespace laconic {

enum class QuantizeMode : std::uint8_t {
  none,      // integer data used as it is, checked against the declared width
  fixed,     // float: v = round(x · 2^frac), clipped to ±(2^(int+frac) − 1)
  linear,    // float: max|x| → 2^(P−1) − 1 (signed), or min..max → 0..2^P − 1
  integral,  // float holding integers: taken as they are; a fraction is an error
  dnnsim,    // a DNNsim precision profile (§7a): integer data, and float tensors
             // whose every value is integral, kept (|v| ≤ 2^(int+frac) − 1);
             // any other float tensor quantized as `fixed`
};

std::string_view to_string(QuantizeMode mode);

struct Quantization {
  QuantizeMode mode = QuantizeMode::none;
  // The declared width and signedness: the stored precision p (§2). For
  // `fixed` and `dnnsim`, bits = int_bits + frac_bits. For `linear`, the
  // signedness is decided by the data (signed iff it has a negative value).
  // With zero points, the width of code − zero point.
  Precision precision;
  int int_bits = 0;   // fixed and dnnsim; includes the sign
  int frac_bits = 0;  // fixed and dnnsim
  // Affine zero points (`none` and `integral` only): the value profiled is
  // code − zero point. Empty: none. One: the whole tensor. n > 1: one per
  // slice of the tensor's first axis (the weights' output channels, as
  // TFLite and PyTorch quantize per channel); the tensor's size must be a
  // multiple of n.
  std::vector<std::int64_t> zero_points;
};

// A tensor stored in one or more .npy arrays (files or .npz members),
// concatenated along their first axis, read through a Quantization. Values
// are converted on each read, so a file is only paged in (or a deflated
// member streamed), never copied whole; `linear` needs the tensor's range and
// `dnnsim` whether every value is integral, each scanned once, on first use.
class NpyTensorSource final : public TensorSource {
 public:
  // `label` says what the tensor is in messages, e.g. "layer 'conv1'
  // activations". `advice`, when not empty, is added to the error for a
  // non-integral value in `integral` mode (what the user should add).
  // Throws laconic::Error when per-channel zero points do not divide the
  // tensor.
  NpyTensorSource(std::vector<NpyArray> files, Quantization quantization, std::string label,
                  std::string advice = "");

  std::uint64_t size() const override { return total_; }
  void read(std::uint64_t first, std::uint64_t count, std::int64_t* out) const override;
  std::string name() const override;
  // The pages of the files' mappings that hold only these elements.
  void release(std::uint64_t first, std::uint64_t count) const override;

  const std::vector<NpyArray>& files() const { return files_; }
  const Quantization& quantization() const { return quantization_; }
  // `dnnsim` only: whether every value is integral (and so kept). Scans the
  // tensor on first use; throws on a NaN or infinity.
  bool all_integral() const;

 private:
  struct Range {
    double min = 0, max = 0;
  };
  const Range& range() const;  // linear only
  void convert(const NpyArray& file, std::uint64_t global_first, std::uint64_t first, std::uint64_t count,
               std::int64_t* out) const;

  std::vector<NpyArray> files_;
  std::vector<std::uint64_t> offsets_;  // offsets_[i] = first element of file i
  std::uint64_t total_ = 0;
  Quantization quantization_;
  std::string label_;
  std::string advice_;
  std::uint64_t zero_point_slice_ = 0;  // elements per zero point
  mutable std::once_flag range_once_;
  mutable Range range_;
  mutable std::once_flag integral_once_;
  mutable bool all_integral_ = false;
};

// §2 quantization of one float, exposed for tests: fixed point with
// (int_bits, frac_bits), clipped as MODEL.md §2 says; round half away from 0.
std::int64_t quantize_fixed(double x, int int_bits, int frac_bits, bool is_signed);

}  // namespace laconic
