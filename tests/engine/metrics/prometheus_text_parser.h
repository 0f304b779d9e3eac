// A strict reader of the Prometheus text exposition format 0.0.4, for tests:
// it refuses what a Prometheus server would refuse, so a test that parses
// Render()'s output checks the format, not just substrings.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace palaver::metrics::testing {

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;  // unescaped values
  std::string value;                          // as written ("+Inf", "12", "0.5")
};

struct Exposition {
  std::map<std::string, std::string> help;  // family -> unescaped help
  std::map<std::string, std::string> type;  // family -> counter|gauge|histogram|...
  std::vector<Sample> samples;              // in the order written
  std::vector<std::string> family_order;    // family names in the order of their TYPE line

  // The value of the one sample with this name and exactly these labels; "" if none.
  std::string Value(const std::string& name,
                    const std::map<std::string, std::string>& labels) const;
};

// Parses `text`; on a malformed line returns false and sets `*error` to
// "line N: why".
bool ParseExposition(std::string_view text, Exposition* out, std::string* error);

}  // namespace palaver::metrics::testing
