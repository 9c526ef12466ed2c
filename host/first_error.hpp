// Exceptions cannot leave an OpenMP parallel region. Loops catch them into a
// FirstError and rethrow after the region: the error of the lowest index,
// whatever the thread order, so a run reports the same error every time.
#pragma once

#include <cstdint>
#include <exception>
#include <limits>

namespace laconic {

class FirstError {
 public:
  // Call from a catch block inside the parallel loop.
  void record(std::int64_t index) {
#pragma omp critical(laconic_first_error)
    if (index < index_) {
      index_ = index;
      error_ = std::current_exception();
    }
  }
  void rethrow() const {
    if (error_) std::rethrow_exception(error_);
  }

 private:
  std::int64_t index_ = std::numeric_limits<std::int64_t>::max();
  std::exception_ptr error_;
};

}  // namespace laconic
