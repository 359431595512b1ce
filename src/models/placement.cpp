#include "models/placement.hpp"

#include "core/error.hpp"
#include "core/strings.hpp"

namespace normlab::models {

namespace {
constexpr Placement kPlacements[] = {Placement::pre, Placement::post, Placement::sandwich,
                                     Placement::reordered, Placement::deepnorm, Placement::none};
}

const char* to_string(Placement p) {
  switch (p) {
    case Placement::pre: return "pre";
    case Placement::post: return "post";
    case Placement::sandwich: return "sandwich";
    case Placement::reordered: return "reordered";
    case Placement::deepnorm: return "deepnorm";
    case Placement::none: return "none";
  }
  return "?";
}

Placement parse_placement(const std::string& name) {
  std::vector<std::string> names;
  for (Placement p : kPlacements) {
    if (name == to_string(p)) return p;
    names.push_back(to_string(p));
  }
  if (name == "peri") {  // renamed in run format 4 (issue 19): the old name said the wrong paper
    fail("model.placement: 'peri' was renamed: x + N(F(x)) is OLMo 2's reordered norm, now "
         "'reordered'; Peri-LN (Kim et al. 2025), x + N2(F(N1(x))), is 'sandwich'");
  }
  fail("model.placement: '", name, "' is not one of ", join(names, ", "),
       did_you_mean(name, names));
}

std::vector<Placement> parse_placements(const std::vector<std::string>& names, std::size_t layers) {
  if (names.size() != 1 && names.size() != layers) {
    fail("model.placement lists ", names.size(), " placements; the Transformer has ", layers,
         " blocks (give one placement, or one per block)");
  }
  std::vector<Placement> out;
  for (const auto& n : names) out.push_back(parse_placement(n));
  return out;
}

}  // namespace normlab::models
