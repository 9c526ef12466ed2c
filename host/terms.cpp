#include "laconic/terms.hpp"

namespace laconic {

std::string_view to_string(Encoding encoding) {
  switch (encoding) {
    case Encoding::binary: return "binary";
    case Encoding::booth: return "booth";
    case Encoding::naf: return "naf";
    case Encoding::dnnsim_booth: return "dnnsim-booth";
  }
  return "?";
}

std::optional<Encoding> parse_encoding(std::string_view name) {
  if (name == "binary") return Encoding::binary;
  if (name == "booth") return Encoding::booth;
  if (name == "naf") return Encoding::naf;
  if (name == "dnnsim-booth") return Encoding::dnnsim_booth;
  return std::nullopt;
}

}  // namespace laconic
