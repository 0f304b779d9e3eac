// JSON Schema (draft-07) validation of the events external producers send.
//
// One schema file per storefront-facing event type, named
// "<type name>.schema.json" (e.g. "cart.updated.schema.json"), lives in
// schemas/json/; see schemas/json/README.md. The files are compiled into the
// library, so JsonSchemaSet::Embedded() needs no file system.
//
// A schema describes the current schema_version of its type: connectors
// validate with it first, then decode with EventFromJson (schemas/json_codec.h).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "schemas/envelope.h"
#include "schemas/status.h"

namespace palaver {

class JsonSchemaSet {
 public:
  // The schemas compiled into this binary. Parsed on first use; the returned
  // object lives until exit. Thread-safe.
  static const JsonSchemaSet& Embedded();

  // Loads every "*.schema.json" file of `directory`.
  // Errors: kIoError when the directory or a file cannot be read;
  // kInvalidArgument (naming the file) when a file is not JSON, is not a valid
  // schema or its name is not an event type name.
  static Result<std::unique_ptr<JsonSchemaSet>> LoadDirectory(const std::string& directory);

  // Parses schemas given as (file name, text) pairs; errors as LoadDirectory.
  static Result<std::unique_ptr<JsonSchemaSet>> FromTexts(
      const std::vector<std::pair<std::string, std::string>>& files);

  ~JsonSchemaSet();
  JsonSchemaSet(const JsonSchemaSet&) = delete;
  JsonSchemaSet& operator=(const JsonSchemaSet&) = delete;

  // The types that have a schema, in EventType order.
  std::vector<EventType> Types() const;

  // The schema document of `type`; nullptr when it has none. Owned by this set.
  const nlohmann::json* SchemaOf(EventType type) const;

  // Validates `document` against the schema of the event type named by its
  // "type" field. OK when it conforms. Errors:
  //   kSchemaViolation  the document does not conform; field() is the JSON
  //                     pointer of the value at fault (for a missing or an
  //                     unexpected property, of that property, e.g.
  //                     "/body/currency"), the message says what was wrong;
  //   kNotFound         the type is not one external producers may send.
  // Const and thread-safe.
  Status Validate(const nlohmann::json& document) const;

  // As above, against the schema of `type` whatever the document says.
  Status Validate(EventType type, const nlohmann::json& document) const;

 private:
  struct Entry;
  JsonSchemaSet();

  std::map<EventType, std::unique_ptr<Entry>> entries_;
};

}  // namespace palaver
