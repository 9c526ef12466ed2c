// Integer tensors as the engines see them: flat sequences of quantized values
// (MODEL.md §2), read on demand so that a trace larger than memory is never
// copied whole.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace laconic {

// The width a tensor is stored in (§2): p_a or p_w, two's complement if signed.
struct Precision {
  int bits = 16;
  bool is_signed = true;
  std::int64_t min_value() const;
  std::int64_t max_value() const;
  friend bool operator==(const Precision& a, const Precision& b) {
    return a.bits == b.bits && a.is_signed == b.is_signed;
  }
};

class TensorSource {
 public:
  virtual ~TensorSource() = default;
  // Number of values.
  virtual std::uint64_t size() const = 0;
  // Writes the quantized values of elements [first, first + count) to out.
  // Safe to call from several threads at once. Throws laconic::Error naming
  // the file and the element when a value is invalid (NaN, out of width, ...).
  virtual void read(std::uint64_t first, std::uint64_t count, std::int64_t* out) const = 0;
  // What the values come from, for messages: a file name or a description.
  virtual std::string name() const = 0;
  // Elements [first, first + count) will not be read again soon: memory that
  // holds only them may go back to the system (pages of a memory-mapped
  // file), so that a run over a trace larger than memory keeps a bounded
  // resident set. Reading them again still works. Does nothing by default.
  virtual void release(std::uint64_t /*first*/, std::uint64_t /*count*/) const {}
};

// Values held in memory: tests, generators and small inputs.
class VectorSource final : public TensorSource {
 public:
  VectorSource(std::vector<std::int64_t> values, std::string name = "values")
      : values_(std::move(values)), name_(std::move(name)) {}
  std::uint64_t size() const override { return values_.size(); }
  void read(std::uint64_t first, std::uint64_t count, std::int64_t* out) const override;
  std::string name() const override { return name_; }
  const std::vector<std::int64_t>& values() const { return values_; }

 private:
  std::vector<std::int64_t> values_;
  std::string name_;
};

}  // namespace laconic
