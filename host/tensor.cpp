#include "laconic/tensor.hpp"

#include <algorithm>
#include <stdexcept>

namespace laconic {

std::int64_t Precision::min_value() const {
  return is_signed ? -(std::int64_t{1} << (bits - 1)) : 0;
}

std::int64_t Precision::max_value() const {
  return is_signed ? (std::int64_t{1} << (bits - 1)) - 1 : (std::int64_t{1} << bits) - 1;
}

void VectorSource::read(std::uint64_t first, std::uint64_t count, std::int64_t* out) const {
  if (first > values_.size() || count > values_.size() - first)
    throw std::out_of_range(name_ + ": read past the end of the values");
  std::copy_n(values_.begin() + static_cast<std::ptrdiff_t>(first), count, out);
}

}  // namespace laconic
