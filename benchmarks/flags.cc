#include "benchmarks/flags.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <utility>

namespace palaver::bench {

Flags::Flags(std::string usage) : usage_(std::move(usage)) {
  if (!usage_.empty() && usage_.back() != '\n') usage_ += '\n';
}

Flags& Flags::Option(const std::string& name, const std::string& expects,
                     std::function<bool(const std::string&)> set) {
  entries_.push_back({name, expects, std::move(set)});
  return *this;
}

Flags& Flags::Option(const std::string& name, std::string* out) {
  return Option(name, "a value", [out](const std::string& text) {
    *out = text;
    return true;
  });
}

Flags& Flags::Option(const std::string& name, double* out, double min, double max) {
  auto bound = [](double v) {
    char text[32];
    std::snprintf(text, sizeof text, "%g", v);
    return std::string(text);
  };
  const bool has_min = min != std::numeric_limits<double>::lowest();
  const bool has_max = max != std::numeric_limits<double>::max();
  std::string expects = "a number";
  if (has_min) expects += " of at least " + bound(min);
  if (has_max) expects += (has_min ? " and" : " of") + std::string(" at most ") + bound(max);
  return Option(name, expects, [out, min, max](const std::string& text) {
    char* stop = nullptr;
    const double value = std::strtod(text.c_str(), &stop);
    if (text.empty() || *stop != '\0' || !std::isfinite(value) || value < min || value > max)
      return false;
    *out = value;
    return true;
  });
}

Flags& Flags::Switch(const std::string& name, bool* out) {
  entries_.push_back({name, "", [out](const std::string&) {
                        *out = true;
                        return true;
                      }});
  return *this;
}

void Flags::Parse(int argc, char** argv, std::vector<char*>* rest) const {
  const char* program = argc > 0 ? argv[0] : "benchmark";
  auto fail = [&](const std::string& what) {
    std::fprintf(stderr, "%s: %s\n\n%s", program, what.c_str(), usage_.c_str());
    std::exit(2);
  };
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(usage_.c_str(), stdout);
      std::exit(0);
    }
    const Entry* entry = nullptr;
    for (const Entry& e : entries_)
      if (e.name == arg) entry = &e;
    if (entry == nullptr) {
      if (rest == nullptr) fail("unknown option " + arg);
      rest->push_back(argv[i]);
      continue;
    }
    if (entry->expects.empty()) {  // a switch
      entry->set("");
      continue;
    }
    if (i + 1 >= argc) fail(arg + " needs a value: " + entry->expects);
    const std::string value = argv[++i];
    if (!entry->set(value)) fail(arg + " takes " + entry->expects + ", not \"" + value + "\"");
  }
}

}  // namespace palaver::bench
