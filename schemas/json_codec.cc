#include "schemas/json_codec.h"

#include <limits>
#include <set>

#include "schemas/body_codec.h"

namespace palaver {
namespace {

using body_codec_internal::IsOptional;
using body_codec_internal::IsVariant;
using body_codec_internal::IsVector;
using nlohmann::json;

// ---------------------------------------------------------------- writing

template <class V>
json ToJson(const V& value) {
  if constexpr (NamedEnum<V>) {
    std::string_view name = EnumName(value);
    if (name.empty()) return static_cast<int>(value);
    return std::string(name);
  } else if constexpr (IsVector<V>::value) {
    json array = json::array();
    for (const auto& item : value) array.push_back(ToJson(item));
    return array;
  } else if constexpr (IsVariant<V>::value) {
    return std::visit(
        [](const auto& alt) {
          json object = ToJson(alt);
          object["kind"] = std::string(std::decay_t<decltype(alt)>::kName);
          return object;
        },
        value);
  } else if constexpr (HasFields<V>) {
    json object = json::object();
    V::Fields(value, [&](std::string_view name, const auto& field) {
      using F = std::decay_t<decltype(field)>;
      if constexpr (IsOptional<F>::value) {
        if (field) object[std::string(name)] = ToJson(*field);
      } else {
        object[std::string(name)] = ToJson(field);
      }
    });
    if constexpr (HasPersonal<V>) object["personal"] = ToJson(value.personal);
    return object;
  } else {
    return value;  // string, bool, integers, double
  }
}

// ---------------------------------------------------------------- reading

Status Violation(const std::string& path, const std::string& what) {
  return Status::Error(ErrorCode::kSchemaViolation,
                       "field " + (path.empty() ? std::string("/") : path) + " " + what, path);
}

template <class E>
std::string EnumChoices() {
  std::string out;
  for (const auto& [value, name] : EnumNames<E>::kValues) {
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

template <class V>
Status FromJson(const json& j, V& out, const std::string& path);

// Reads the fields of `out` from object `j`; `extra` keys are allowed and skipped.
template <class V>
Status ObjectFromJson(const json& j, V& out, const std::string& path,
                      std::initializer_list<std::string_view> extra = {}) {
  if (!j.is_object()) return Violation(path, "must be an object");
  std::set<std::string_view> known(extra.begin(), extra.end());
  Status status;
  V::Fields(out, [&](std::string_view name, auto& field) {
    known.insert(name);
    if (!status.ok()) return;
    using F = std::decay_t<decltype(field)>;
    const std::string field_path = path + "/" + std::string(name);
    auto it = j.find(name);
    if constexpr (IsOptional<F>::value) {
      if (it == j.end() || it->is_null()) {
        field.reset();
      } else {
        field.emplace();
        status = FromJson(*it, *field, field_path);
      }
    } else if constexpr (std::is_same_v<F, std::string> || IsVector<F>::value) {
      if (it == j.end()) {
        field = F{};  // strings and arrays may be omitted: absent means empty
      } else {
        status = FromJson(*it, field, field_path);
      }
    } else {
      if (it == j.end()) {
        status = Violation(field_path, "is required");
      } else {
        status = FromJson(*it, field, field_path);
      }
    }
  });
  PALAVER_RETURN_IF_ERROR(status);
  if constexpr (HasPersonal<V>) {
    known.insert("personal");
    auto it = j.find("personal");
    if (it == j.end()) return Violation(path + "/personal", "is required");
    PALAVER_RETURN_IF_ERROR(FromJson(*it, out.personal, path + "/personal"));
  }
  for (const auto& item : j.items()) {
    if (!known.contains(item.key())) {
      return Violation(path + "/" + EscapePointerToken(item.key()), "is not a known field");
    }
  }
  return Status::Ok();
}

template <class Variant, size_t I = 0>
Status VariantFromJson(const json& j, std::string_view kind, Variant& out,
                       const std::string& path) {
  if constexpr (I == std::variant_size_v<Variant>) {
    return Status::Error(ErrorCode::kInternal, "unreachable", path);
  } else {
    using Alt = std::variant_alternative_t<I, Variant>;
    if (Alt::kName == kind) {
      Alt alt;
      PALAVER_RETURN_IF_ERROR(ObjectFromJson(j, alt, path, {"kind"}));
      out = std::move(alt);
      return Status::Ok();
    }
    return VariantFromJson<Variant, I + 1>(j, kind, out, path);
  }
}

template <class Variant>
std::string VariantChoices() {
  std::string out;
  [&]<size_t... I>(std::index_sequence<I...>) {
    ((out += (I == 0 ? "" : ", "), out += std::variant_alternative_t<I, Variant>::kName), ...);
  }
  (std::make_index_sequence<std::variant_size_v<Variant>>());
  return out;
}

template <class V>
Status FromJson(const json& j, V& out, const std::string& path) {
  if constexpr (std::is_same_v<V, std::string>) {
    if (!j.is_string()) return Violation(path, "must be a string");
    out = j.get<std::string>();
  } else if constexpr (std::is_same_v<V, bool>) {
    if (!j.is_boolean()) return Violation(path, "must be true or false");
    out = j.get<bool>();
  } else if constexpr (std::is_same_v<V, double>) {
    if (!j.is_number()) return Violation(path, "must be a number");
    out = j.get<double>();
  } else if constexpr (std::is_integral_v<V>) {
    if (!j.is_number_integer()) return Violation(path, "must be an integer");
    if (j.is_number_unsigned()) {
      if (j.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<V>::max())) {
        return Violation(path, "is out of range");
      }
      out = static_cast<V>(j.get<uint64_t>());
    } else {
      const int64_t v = j.get<int64_t>();
      if (v < std::numeric_limits<V>::min() || v > std::numeric_limits<V>::max()) {
        return Violation(path, "is out of range");
      }
      out = static_cast<V>(v);
    }
  } else if constexpr (NamedEnum<V>) {
    const std::optional<V> value =
        j.is_string() ? EnumFromName<V>(j.get_ref<const std::string&>()) : std::nullopt;
    if (!value) return Violation(path, "must be one of: " + EnumChoices<V>());
    out = *value;
  } else if constexpr (IsVector<V>::value) {
    if (!j.is_array()) return Violation(path, "must be an array");
    out.clear();
    out.resize(j.size());
    for (size_t i = 0; i < j.size(); ++i) {
      PALAVER_RETURN_IF_ERROR(FromJson(j[i], out[i], path + "/" + std::to_string(i)));
    }
  } else if constexpr (IsVariant<V>::value) {
    if (!j.is_object()) return Violation(path, "must be an object");
    auto kind = j.find("kind");
    if (kind == j.end()) return Violation(path + "/kind", "is required");
    if (!kind->is_string()) return Violation(path + "/kind", "must be a string");
    const std::string& name = kind->get_ref<const std::string&>();
    bool known = false;
    [&]<size_t... I>(std::index_sequence<I...>) {
      ((known = known || std::variant_alternative_t<I, V>::kName == name), ...);
    }
    (std::make_index_sequence<std::variant_size_v<V>>());
    if (!known) return Violation(path + "/kind", "must be one of: " + VariantChoices<V>());
    return VariantFromJson(j, name, out, path);
  } else if constexpr (HasFields<V>) {
    return ObjectFromJson(j, out, path);
  } else {
    static_assert(sizeof(V) == 0, "no JSON mapping for this field type");
  }
  return Status::Ok();
}

// Envelope fields: (name, required).
struct EnvelopeReader {
  const json& j;
  Status status;

  template <class V>
  void Field(const char* name, V& out, bool required) {
    if (!status.ok()) return;
    const std::string path = std::string("/") + name;
    auto it = j.find(name);
    if (it == j.end() || (!required && it->is_null())) {
      if (required) status = Violation(path, "is required");
      return;
    }
    status = FromJson(*it, out, path);
  }
};

const std::set<std::string_view>& EnvelopeKeys() {
  static const std::set<std::string_view> kKeys = {
      "event_id",        "type",           "schema_version",  "tenant",
      "conversation_id", "actor_kind",     "actor_id",        "occurred_at_us",
      "recorded_at_us",  "correlation_id", "idempotency_key", "body"};
  return kKeys;
}

Result<Event> FromJsonOrStatus(const json& j) {
  if (!j.is_object()) return Violation("", "an event must be a JSON object");
  for (const auto& item : j.items()) {
    if (!EnvelopeKeys().contains(item.key())) {
      return Violation("/" + EscapePointerToken(item.key()), "is not a known field");
    }
  }
  Envelope envelope;
  std::string type_name;
  EnvelopeReader reader{j, Status::Ok()};
  reader.Field("type", type_name, true);
  reader.Field("schema_version", envelope.schema_version, true);
  reader.Field("event_id", envelope.event_id, false);
  reader.Field("tenant", envelope.tenant, true);
  reader.Field("conversation_id", envelope.conversation_id, false);
  std::string actor_kind;
  reader.Field("actor_kind", actor_kind, true);
  reader.Field("actor_id", envelope.actor_id, true);
  reader.Field("occurred_at_us", envelope.occurred_at_us, true);
  reader.Field("recorded_at_us", envelope.recorded_at_us, false);
  reader.Field("correlation_id", envelope.correlation_id, false);
  reader.Field("idempotency_key", envelope.idempotency_key, false);
  PALAVER_RETURN_IF_ERROR(reader.status);
  const std::optional<EventType> type = EventTypeFromName(type_name);
  if (!type)
    return Violation("/type", "names no event type known to this build: \"" + type_name + "\"");
  envelope.type = *type;
  const std::optional<ActorKind> kind = ActorKindFromName(actor_kind);
  if (!kind)
    return Violation("/actor_kind", "must be one of: shopper, agent, storefront, system, bot");
  envelope.actor_kind = *kind;
  auto body_json = j.find("body");
  if (body_json == j.end()) return Violation("/body", "is required");

  return DispatchType<Result<Event>>(envelope.type, [&](auto tag) -> Result<Event> {
    using T = typename decltype(tag)::type;
    Result<T> body = DecodeVersion<T>(envelope.schema_version, [&](auto layout_tag) {
      using L = typename decltype(layout_tag)::type;
      L layout;
      Status status = FromJson(*body_json, layout, "/body");
      if (!status.ok()) return Result<L>(status);
      return Result<L>(std::move(layout));
    });
    if (!body.ok()) return body.status();
    PALAVER_RETURN_IF_ERROR(CheckFields(*body, ErrorCode::kSchemaViolation, "/body"));
    envelope.schema_version = T::kVersion;
    return Event{envelope, std::move(body).value()};
  });
}

}  // namespace

json EventToJson(const Event& event) {
  const Envelope& e = event.envelope;
  json j = json::object();
  j["event_id"] = e.event_id;
  j["type"] = std::string(EventTypeName(TypeOf(event.body)));
  j["schema_version"] = CurrentVersion(TypeOf(event.body));
  j["tenant"] = e.tenant;
  j["conversation_id"] = e.conversation_id;
  const std::string_view actor = ActorKindName(e.actor_kind);
  if (actor.empty()) {
    j["actor_kind"] = static_cast<int>(e.actor_kind);
  } else {
    j["actor_kind"] = std::string(actor);
  }
  j["actor_id"] = e.actor_id;
  j["occurred_at_us"] = e.occurred_at_us;
  j["recorded_at_us"] = e.recorded_at_us;
  j["correlation_id"] = e.correlation_id;
  j["idempotency_key"] = e.idempotency_key;
  j["body"] = std::visit([](const auto& body) { return ToJson(body); }, event.body);
  return j;
}

Result<Event> EventFromJson(const json& json_event) {
  try {
    return FromJsonOrStatus(json_event);
  } catch (const std::exception& e) {
    return Status::Error(ErrorCode::kSchemaViolation,
                         std::string("event JSON could not be read: ") + e.what());
  }
}

Result<Event> EventFromJsonText(std::string_view text) {
  json parsed = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    return Status::Error(ErrorCode::kInvalidArgument, "event is not valid JSON text");
  }
  return EventFromJson(parsed);
}

std::string EscapePointerToken(std::string_view token) {
  std::string out;
  for (char c : token) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace palaver
