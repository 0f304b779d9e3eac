#include "schemas/json_schema.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string_view>

#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include "schemas/json_codec.h"

namespace palaver {

namespace json_schema_internal {
// Generated from schemas/json/ at build time (embedded_schemas.cc.in).
const std::vector<std::pair<std::string_view, std::string_view>>& EmbeddedSchemaFiles();
}  // namespace json_schema_internal

namespace {

constexpr std::string_view kSuffix = ".schema.json";

// valijson names the place of an error as {"<root>", "[body]", "[0]", ...}.
std::string PointerOf(const std::vector<std::string>& context) {
  std::string pointer;
  for (const std::string& part : context) {
    if (part.size() >= 2 && part.front() == '[' && part.back() == ']') {
      pointer += "/" + EscapePointerToken(std::string_view(part).substr(1, part.size() - 2));
    }
  }
  return pointer;
}

// The property quoted at the end of valijson's "Missing required property 'x'."
// and "Object contains a property that could not be validated ...: 'x'."
std::string QuotedProperty(const std::string& description) {
  if (!description.starts_with("Missing required property") &&
      !description.starts_with("Object contains a property")) {
    return {};
  }
  if (description.size() < 3 || description.compare(description.size() - 2, 2, "'.") != 0) {
    return {};
  }
  const size_t open = description.rfind('\'', description.size() - 3);
  if (open == std::string::npos) return {};
  return description.substr(open + 1, description.size() - 3 - open);
}

}  // namespace

struct JsonSchemaSet::Entry {
  nlohmann::json document;
  valijson::Schema schema;
};

JsonSchemaSet::JsonSchemaSet() = default;
JsonSchemaSet::~JsonSchemaSet() = default;

const JsonSchemaSet& JsonSchemaSet::Embedded() {
  static const JsonSchemaSet* const kSet = [] {
    std::vector<std::pair<std::string, std::string>> files;
    for (const auto& [name, text] : json_schema_internal::EmbeddedSchemaFiles()) {
      files.emplace_back(std::string(name), std::string(text));
    }
    Result<std::unique_ptr<JsonSchemaSet>> set = FromTexts(files);
    // The embedded files are checked by the schemas tests; failing here is a build defect.
    if (!set.ok()) {
      std::fprintf(stderr, "palaver: embedded JSON schemas are broken: %s\n",
                   set.status().ToString().c_str());
      std::abort();
    }
    return std::move(set).value().release();
  }();
  return *kSet;
}

Result<std::unique_ptr<JsonSchemaSet>> JsonSchemaSet::LoadDirectory(const std::string& directory) {
  std::vector<std::pair<std::string, std::string>> files;
  std::error_code error;
  std::filesystem::directory_iterator it(directory, error);
  if (error) {
    return Status::Error(ErrorCode::kIoError,
                         "cannot list schema directory " + directory + ": " + error.message());
  }
  for (const auto& entry : it) {
    const std::string name = entry.path().filename().string();
    if (name.size() <= kSuffix.size() || !name.ends_with(kSuffix)) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    if (!in) {
      return Status::Error(ErrorCode::kIoError, "cannot read schema file " + entry.path().string());
    }
    files.emplace_back(name, std::move(text).str());
  }
  return FromTexts(files);
}

Result<std::unique_ptr<JsonSchemaSet>> JsonSchemaSet::FromTexts(
    const std::vector<std::pair<std::string, std::string>>& files) {
  std::unique_ptr<JsonSchemaSet> set(new JsonSchemaSet());
  for (const auto& [name, text] : files) {
    if (!name.ends_with(kSuffix)) {
      return Status::Error(ErrorCode::kInvalidArgument,
                           "schema file " + name + " is not named <event type>.schema.json");
    }
    const std::string type_name = name.substr(0, name.size() - kSuffix.size());
    const std::optional<EventType> type = EventTypeFromName(type_name);
    if (!type) {
      return Status::Error(ErrorCode::kInvalidArgument,
                           "schema file " + name + " names no event type (\"" + type_name + "\")");
    }
    auto entry = std::make_unique<Entry>();
    entry->document = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (entry->document.is_discarded()) {
      return Status::Error(ErrorCode::kInvalidArgument,
                           "schema file " + name + " is not valid JSON");
    }
    try {
      valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
      valijson::adapters::NlohmannJsonAdapter adapter(entry->document);
      parser.populateSchema(adapter, entry->schema);
    } catch (const std::exception& e) {
      return Status::Error(ErrorCode::kInvalidArgument,
                           "schema file " + name + " is not a valid JSON Schema: " + e.what());
    }
    set->entries_[*type] = std::move(entry);
  }
  return set;
}

std::vector<EventType> JsonSchemaSet::Types() const {
  std::vector<EventType> types;
  for (const auto& [type, entry] : entries_) types.push_back(type);
  return types;
}

const nlohmann::json* JsonSchemaSet::SchemaOf(EventType type) const {
  auto it = entries_.find(type);
  return it == entries_.end() ? nullptr : &it->second->document;
}

Status JsonSchemaSet::Validate(const nlohmann::json& document) const {
  if (!document.is_object()) {
    return Status::Error(ErrorCode::kSchemaViolation, "field /: an event must be a JSON object",
                         "");
  }
  auto type_field = document.find("type");
  if (type_field == document.end() || !type_field->is_string()) {
    return Status::Error(ErrorCode::kSchemaViolation,
                         "field /type: is required and must be an event type name", "/type");
  }
  const std::string& name = type_field->get_ref<const std::string&>();
  const std::optional<EventType> type = EventTypeFromName(name);
  if (!type) {
    return Status::Error(ErrorCode::kSchemaViolation,
                         "field /type: names no event type: \"" + name + "\"", "/type");
  }
  return Validate(*type, document);
}

Status JsonSchemaSet::Validate(EventType type, const nlohmann::json& document) const {
  auto it = entries_.find(type);
  if (it == entries_.end()) {
    return Status::Error(ErrorCode::kNotFound,
                         std::string(EventTypeName(type)) +
                             " events are not accepted from external producers (no JSON Schema)",
                         "/type");
  }
  // One validator per thread: it keeps the compiled regular expressions of
  // the schemas' "pattern" keywords (a std::regex costs more to build than a
  // whole record to validate), and it is not safe to share between threads.
  thread_local valijson::Validator validator;
  valijson::ValidationResults results;
  valijson::adapters::NlohmannJsonAdapter adapter(document);
  try {
    if (validator.validate(it->second->schema, adapter, &results)) return Status::Ok();
  } catch (const std::exception& e) {
    return Status::Error(ErrorCode::kSchemaViolation,
                         std::string("document could not be validated: ") + e.what());
  }
  // valijson reports the innermost failure first and then each enclosing one;
  // the deepest is the one a person can act on.
  const valijson::ValidationResults::Error* best = nullptr;
  for (const auto& error : results) {
    if (best == nullptr || error.context.size() > best->context.size()) best = &error;
  }
  if (best == nullptr) {
    return Status::Error(ErrorCode::kSchemaViolation, "document does not match its JSON Schema");
  }
  std::string pointer = PointerOf(best->context);
  const std::string property = QuotedProperty(best->description);
  if (!property.empty()) pointer += "/" + EscapePointerToken(property);
  return Status::Error(ErrorCode::kSchemaViolation,
                       std::string(EventTypeName(type)) + " field " +
                           (pointer.empty() ? "/" : pointer) + ": " + best->description,
                       pointer);
}

}  // namespace palaver
