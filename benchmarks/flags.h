// The command line of a benchmark binary: `--name VALUE` options, `--name`
// switches and `--help`, parsed one way for every benchmark.
//
// Parse never lets a mistake through silently: `--help` prints the usage to
// stdout and exits 0; an unknown option, an option without its value, or a
// value its option refuses prints what is wrong and the usage to stderr and
// exits 2. Nothing has run yet at that point, so nothing is lost.
//
// Thread safety: none; use from main() before starting work.
#pragma once

#include <charconv>
#include <concepts>
#include <functional>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

namespace palaver::bench {

class Flags {
 public:
  // `usage` is printed as is: the synopsis and what each option means.
  explicit Flags(std::string usage);

  // `--name VALUE`: `set` stores the value, or returns false to refuse it;
  // `expects` then says what the option takes ("a number", "on or off").
  Flags& Option(const std::string& name, const std::string& expects,
                std::function<bool(const std::string&)> set);
  // `--name TEXT`: any text, stored in `*out`.
  Flags& Option(const std::string& name, std::string* out);
  // `--name N`: a whole decimal number in [min, max], stored in `*out`.
  template <std::integral T>
  Flags& Option(const std::string& name, T* out,
                std::type_identity_t<T> min = std::numeric_limits<T>::min(),
                std::type_identity_t<T> max = std::numeric_limits<T>::max());
  // `--name X`: a finite decimal number (1.5, 2e3) in [min, max].
  Flags& Option(const std::string& name, double* out,
                double min = std::numeric_limits<double>::lowest(),
                double max = std::numeric_limits<double>::max());
  // `--name` alone sets `*out` to true.
  Flags& Switch(const std::string& name, bool* out);

  // Parses argv[1..argc-1]; exits the process as the header comment says.
  // With `rest`, arguments that are not known options are appended to it in
  // order (for a library with flags of its own) instead of being refused.
  void Parse(int argc, char** argv, std::vector<char*>* rest = nullptr) const;

 private:
  struct Entry {
    std::string name;
    std::string expects;  // empty for a switch
    std::function<bool(const std::string&)> set;
  };
  std::string usage_;
  std::vector<Entry> entries_;
};

template <std::integral T>
Flags& Flags::Option(const std::string& name, T* out, std::type_identity_t<T> min,
                     std::type_identity_t<T> max) {
  std::string expects = "a whole number";
  if (min != std::numeric_limits<T>::min()) expects += " of at least " + std::to_string(min);
  if (max != std::numeric_limits<T>::max())
    expects += (min != std::numeric_limits<T>::min() ? " and" : " of") + std::string(" at most ") +
               std::to_string(max);
  return Option(name, expects, [out, min, max](const std::string& text) {
    T value{};
    const char* end = text.data() + text.size();
    const auto [stop, error] = std::from_chars(text.data(), end, value);
    if (error != std::errc() || stop != end || value < min || value > max) return false;
    *out = value;
    return true;
  });
}

}  // namespace palaver::bench
