// The one exception type for problems with the user's input or environment.
// Its message is complete and says which file or layer is at fault; the CLI
// prints it as it is and exits non-zero.
#pragma once

#include <stdexcept>
#include <string>

namespace laconic {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

}  // namespace laconic
