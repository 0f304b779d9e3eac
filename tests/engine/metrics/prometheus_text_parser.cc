#include "tests/engine/metrics/prometheus_text_parser.h"

#include <cctype>
#include <cstdlib>
#include <set>

namespace palaver::metrics::testing {

namespace {

bool IsNameChar(char c, bool first) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':' ||
         (!first && std::isdigit(static_cast<unsigned char>(c)));
}

// Reads a metric or label name at `pos`.
bool ReadName(std::string_view line, size_t& pos, std::string* name) {
  size_t start = pos;
  while (pos < line.size() && IsNameChar(line[pos], pos == start)) ++pos;
  *name = std::string(line.substr(start, pos - start));
  return !name->empty();
}

bool IsValue(const std::string& value) {
  if (value == "+Inf" || value == "-Inf" || value == "NaN") return true;
  if (value.empty()) return false;
  char* end = nullptr;
  std::strtod(value.c_str(), &end);
  return end == value.c_str() + value.size();
}

// The family a sample belongs to: histogram samples carry a suffix.
std::string FamilyOf(const std::string& sample, const std::map<std::string, std::string>& types) {
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    std::string_view s(suffix);
    if (sample.size() > s.size() && sample.compare(sample.size() - s.size(), s.size(), s) == 0) {
      std::string base = sample.substr(0, sample.size() - s.size());
      auto it = types.find(base);
      if (it != types.end() && (it->second == "histogram" || it->second == "summary")) return base;
    }
  }
  return sample;
}

}  // namespace

std::string Exposition::Value(const std::string& name,
                              const std::map<std::string, std::string>& labels) const {
  for (const Sample& s : samples) {
    if (s.name == name && s.labels == labels) return s.value;
  }
  return "";
}

bool ParseExposition(std::string_view text, Exposition* out, std::string* error) {
  *out = Exposition();
  if (!text.empty() && text.back() != '\n') {
    *error = "the exposition does not end with a newline";
    return false;
  }
  std::set<std::string> seen_series;
  size_t line_no = 0;
  size_t begin = 0;
  while (begin < text.size()) {
    size_t end = text.find('\n', begin);
    std::string_view line = text.substr(begin, end - begin);
    begin = end + 1;
    ++line_no;
    auto fail = [&](const std::string& why) {
      *error = "line " + std::to_string(line_no) + ": " + why + ": " + std::string(line);
      return false;
    };
    if (line.empty()) continue;
    if (line[0] == '#') {
      if (line.rfind("# HELP ", 0) == 0 || line.rfind("# TYPE ", 0) == 0) {
        bool is_help = line[2] == 'H';
        size_t pos = 7;
        std::string name;
        if (!ReadName(line, pos, &name)) return fail("no metric name");
        if (pos >= line.size() || line[pos] != ' ') return fail("no space after the name");
        std::string rest(line.substr(pos + 1));
        if (is_help) {
          std::string help;
          for (size_t i = 0; i < rest.size(); ++i) {
            if (rest[i] == '\\' && i + 1 < rest.size()) {
              char next = rest[++i];
              if (next == 'n')
                help += '\n';
              else if (next == '\\')
                help += '\\';
              else
                return fail("bad escape in HELP");
            } else {
              help += rest[i];
            }
          }
          if (out->help.count(name)) return fail("second HELP for " + name);
          out->help[name] = help;
        } else {
          static const std::set<std::string> kTypes = {"counter", "gauge", "histogram", "summary",
                                                       "untyped"};
          if (!kTypes.count(rest)) return fail("unknown type");
          if (out->type.count(name)) return fail("second TYPE for " + name);
          out->type[name] = rest;
          out->family_order.push_back(name);
        }
      }
      continue;  // other comments are allowed
    }
    Sample sample;
    size_t pos = 0;
    if (!ReadName(line, pos, &sample.name)) return fail("no sample name");
    if (pos < line.size() && line[pos] == '{') {
      ++pos;
      while (pos < line.size() && line[pos] != '}') {
        std::string label;
        if (!ReadName(line, pos, &label) || label.find(':') != std::string::npos) {
          return fail("bad label name");
        }
        if (pos + 1 >= line.size() || line[pos] != '=' || line[pos + 1] != '"') {
          return fail("expected =\" after label " + label);
        }
        pos += 2;
        std::string value;
        bool closed = false;
        while (pos < line.size()) {
          char c = line[pos++];
          if (c == '"') {
            closed = true;
            break;
          }
          if (c == '\\') {
            if (pos >= line.size()) return fail("dangling escape");
            char next = line[pos++];
            if (next == 'n')
              value += '\n';
            else if (next == '\\')
              value += '\\';
            else if (next == '"')
              value += '"';
            else
              return fail("bad escape in label value");
          } else {
            value += c;
          }
        }
        if (!closed) return fail("unterminated label value");
        if (!sample.labels.emplace(label, value).second) return fail("label repeated");
        if (pos < line.size() && line[pos] == ',') ++pos;
      }
      if (pos >= line.size()) return fail("unterminated label set");
      ++pos;  // '}'
    }
    if (pos >= line.size() || line[pos] != ' ') return fail("no space before the value");
    sample.value = std::string(line.substr(pos + 1));
    if (!IsValue(sample.value)) return fail("bad value");
    std::string family = FamilyOf(sample.name, out->type);
    if (!out->type.count(family)) return fail("sample before its TYPE line");
    if (out->family_order.back() != family) return fail("sample outside its family's block");
    std::string series = sample.name;
    for (const auto& [k, v] : sample.labels) series += "|" + k + "=" + v;
    if (!seen_series.insert(series).second) return fail("series repeated");
    out->samples.push_back(std::move(sample));
  }
  return true;
}

}  // namespace palaver::metrics::testing
