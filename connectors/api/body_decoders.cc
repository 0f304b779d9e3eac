#include "connectors/api/body_decoders.h"

#include <limits>
#include <set>
#include <string>
#include <type_traits>

#include "schemas/body_codec.h"
#include "schemas/json_codec.h"

namespace palaver::api {
namespace {

using Json = nlohmann::json;

Status BodyError(std::string reason, std::string message, std::string field) {
  return Status::Error(ErrorCode::kInvalidArgument, std::move(message), std::move(field))
      .WithReason(std::move(reason));
}

// The deepest nesting of arrays/objects outside strings.
size_t NestingDepth(std::string_view s) {
  size_t depth = 0, deepest = 0;
  bool in_string = false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

std::string Pointer(std::string_view name) {
  std::string pointer = "/";  // appended: "/" + a temporary trips GCC 12's -Wrestrict at -O3
  pointer += EscapePointerToken(name);
  return pointer;
}

// Reads the members of one JSON object into C++ values, remembering the first
// error and every member it was asked about (the rest are unknown fields).
class ObjectReader {
 public:
  explicit ObjectReader(const Json& object, std::string path = {})
      : object_(object), path_(std::move(path)) {}

  const Json* Find(std::string_view name, bool required) {
    known_.insert(std::string(name));
    if (!status_.ok()) return nullptr;
    auto it = object_.find(name);
    if (it == object_.end() || it->is_null()) {
      if (required)
        status_ = BodyError("missing_field", Where(name) + " is required", path_ + Pointer(name));
      return nullptr;
    }
    return &*it;
  }

  void String(std::string_view name, std::string& out, bool required = false) {
    if (const Json* v = Find(name, required)) {
      if (!v->is_string()) return WrongType(name, "a string");
      out = v->get<std::string>();
    }
  }

  template <class I>
  void Integer(std::string_view name, I& out, bool required = false) {
    if (const Json* v = Find(name, required)) ReadInteger(*v, out, name);
  }
  template <class I>
  void Integer(std::string_view name, std::optional<I>& out) {
    if (const Json* v = Find(name, false)) {
      I value{};
      if (ReadInteger(*v, value, name)) out = value;
    }
  }

  template <NamedEnum E>
  void Enum(std::string_view name, E& out, bool required = false) {
    if (const Json* v = Find(name, required)) {
      if (!v->is_string()) return WrongType(name, "a string");
      auto value = EnumFromName<E>(v->get_ref<const std::string&>());
      if (!value) {
        std::string choices;
        for (const auto& [e, n] : EnumNames<E>::kValues) {
          choices += choices.empty() ? "" : ", ";
          choices += n;
        }
        status_ = BodyError("invalid_value", Where(name) + " must be one of: " + choices,
                            path_ + Pointer(name));
        return;
      }
      out = *value;
    }
  }

  void Strings(std::string_view name, std::vector<std::string>& out) {
    if (const Json* v = Find(name, false)) {
      if (!v->is_array()) return WrongType(name, "an array of strings");
      for (size_t i = 0; i < v->size(); ++i) {
        if (!(*v)[i].is_string()) {
          status_ =
              BodyError("wrong_type", Where(name) + "[" + std::to_string(i) + "] must be a string",
                        path_ + Pointer(name) + "/" + std::to_string(i));
          return;
        }
        out.push_back((*v)[i].get<std::string>());
      }
    }
  }

  // A nested object read by `read(ObjectReader&)`.
  template <class F>
  void Object(std::string_view name, bool required, F&& read) {
    if (const Json* v = Find(name, required)) {
      if (!v->is_object()) return WrongType(name, "an object");
      ObjectReader inner(*v, path_ + Pointer(name));
      read(inner);
      status_ = inner.Finish();
    }
  }

  // An array of objects, each read by `read(ObjectReader&, T&)`.
  template <class T, class F>
  void Objects(std::string_view name, std::vector<T>& out, bool required, F&& read) {
    if (const Json* v = Find(name, required)) {
      if (!v->is_array()) return WrongType(name, "an array of objects");
      for (size_t i = 0; i < v->size() && status_.ok(); ++i) {
        const std::string item_path = path_ + Pointer(name) + "/" + std::to_string(i);
        if (!(*v)[i].is_object()) {
          status_ = BodyError("wrong_type", item_path + " must be an object", item_path);
          return;
        }
        ObjectReader inner((*v)[i], item_path);
        T item{};
        read(inner, item);
        status_ = inner.Finish();
        out.push_back(std::move(item));
      }
    }
  }

  // The first error, or unknown_field for a member nobody asked about.
  Status Finish() const {
    if (!status_.ok()) return status_;
    for (const auto& item : object_.items()) {
      if (!known_.count(item.key())) {
        std::string expected;
        for (const std::string& k : known_) expected += (expected.empty() ? "" : ", ") + k;
        return BodyError(
            "unknown_field",
            Where(item.key()) + " is not a field of this request" +
                (expected.empty() ? " (it takes no body fields)" : " (expected: " + expected + ")"),
            path_ + Pointer(item.key()));
      }
    }
    return Status::Ok();
  }

 private:
  std::string Where(std::string_view name) const {
    return "\"" + (path_.empty() ? "" : path_.substr(1) + "/") + std::string(name) + "\"";
  }
  void WrongType(std::string_view name, std::string_view what) {
    status_ = BodyError("wrong_type", Where(name) + " must be " + std::string(what),
                        path_ + Pointer(name));
  }
  template <class I>
  bool ReadInteger(const Json& v, I& out, std::string_view name) {
    static_assert(std::is_integral_v<I>);
    const std::string range = std::to_string(std::numeric_limits<I>::min()) + ".." +
                              std::to_string(std::numeric_limits<I>::max());
    if (!v.is_number_integer()) {
      WrongType(name, "an integer in " + range);
      return false;
    }
    if (v.is_number_unsigned()) {
      const auto u = v.get<uint64_t>();
      if (u > static_cast<uint64_t>(std::numeric_limits<I>::max())) {
        WrongType(name, "an integer in " + range);
        return false;
      }
      out = static_cast<I>(u);
      return true;
    }
    const auto s = v.get<int64_t>();
    if (s < static_cast<int64_t>(std::numeric_limits<I>::min()) ||
        s > static_cast<int64_t>(std::numeric_limits<I>::max())) {
      WrongType(name, "an integer in " + range);
      return false;
    }
    out = static_cast<I>(s);
    return true;
  }

  const Json& object_;
  const std::string path_;
  std::set<std::string> known_;
  Status status_;
};

// Decodes an event body by the JSON codec (schemas/json_codec.h): the body is
// wrapped in an envelope, and the codec's "/body..." pointers are unwrapped.
template <class Body>
Result<Body> DecodeEventBody(const Json& body, std::string_view strip = "/body") {
  Json event = {{"type", std::string(EventTypeName(Body::kType))},
                {"schema_version", Body::kVersion},
                {"tenant", "api"},
                {"actor_kind", "system"},
                {"actor_id", "api"},
                {"occurred_at_us", 0},
                {"body", body}};
  auto decoded = EventFromJson(event);
  if (!decoded.ok()) {
    const Status& s = decoded.status();
    std::string field = s.field();
    if (field.rfind(strip, 0) == 0) field = field.substr(strip.size());
    std::string message = s.message();
    for (size_t at; (at = message.find(std::string(strip))) != std::string::npos;)
      message.erase(at, strip.size());
    std::string reason = "wrong_type";
    if (message.find("not a known field") != std::string::npos) {
      reason = "unknown_field";
    } else if (message.find("is required") != std::string::npos) {
      reason = "missing_field";
    } else if (message.find("must be one of") != std::string::npos) {
      reason = "invalid_value";
    }
    return BodyError(reason, message, field);
  }
  return std::get<Body>(std::move(decoded->body));
}

template <class C, class F>
Result<domain::Command> Read(const Json& body, F&& read) {
  C command{};
  ObjectReader r(body);
  read(r, command);
  Status s = r.Finish();
  if (!s.ok()) return s;
  return domain::Command(std::move(command));
}

void ReadLineItem(ObjectReader& r, LineItem& item) {
  r.String("product_id", item.product_id, true);
  r.String("variant_id", item.variant_id);
  r.String("name", item.name);
  r.Integer("quantity", item.quantity, true);
  r.Integer("unit_price_minor", item.unit_price_minor, true);
}

}  // namespace

Result<Json> ParseJsonBody(std::string_view body) {
  if (body.size() > kMaxJsonBodyBytes)
    return Status::Error(ErrorCode::kTooLarge, "the body is " + std::to_string(body.size()) +
                                                   " bytes; the limit is " +
                                                   std::to_string(kMaxJsonBodyBytes))
        .WithReason("too_large");
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return Json::object();
  if (!IsValidUtf8(body)) return BodyError("invalid_utf8", "the body is not valid UTF-8", "");
  if (NestingDepth(body) > kMaxJsonDepth)
    return BodyError("too_deep",
                     "the body nests arrays/objects deeper than " + std::to_string(kMaxJsonDepth),
                     "");
  Json parsed = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    std::string where;
    try {
      Json again = Json::parse(body);
      (void)again;
    } catch (const Json::exception& e) {
      where = std::string(": ") + e.what();
    } catch (...) {
    }
    return BodyError("malformed_json", "the body is not valid JSON" + where, "");
  }
  if (!parsed.is_object()) return BodyError("not_an_object", "the body must be a JSON object", "");
  return parsed;
}

Result<domain::Command> DecodeCommandBody(std::string_view name, const Json& body) {
  using namespace domain;
  if (!body.is_object()) return BodyError("not_an_object", "the body must be a JSON object", "");
  if (name == "start_web_chat")
    return Read<StartWebChat>(body, [](ObjectReader& r, StartWebChat& c) {
      r.String("platform", c.platform);
      r.String("email", c.email);
    });
  if (name == "post_shopper_message")
    return Read<PostShopperMessage>(body, [](ObjectReader& r, PostShopperMessage& c) {
      r.Enum("kind", c.kind);
      r.String("text", c.text, true);
    });
  if (name == "mark_read")
    return Read<MarkRead>(body, [](ObjectReader& r, MarkRead& c) {
      r.String("up_to_message_id", c.up_to_message_id, true);
    });
  if (name == "end_chat") return Read<EndChat>(body, [](ObjectReader&, EndChat&) {});
  if (name == "ask_for_human") return Read<AskForHuman>(body, [](ObjectReader&, AskForHuman&) {});
  if (name == "unassign") return Read<Unassign>(body, [](ObjectReader&, Unassign&) {});
  if (name == "delete_internal_note")
    return Read<DeleteInternalNote>(body, [](ObjectReader&, DeleteInternalNote&) {});
  if (name == "delete_customer_note")
    return Read<DeleteCustomerNote>(body, [](ObjectReader&, DeleteCustomerNote&) {});
  if (name == "take_faq_answer")
    return Read<TakeFaqAnswer>(
        body, [](ObjectReader& r, TakeFaqAnswer& c) { r.String("faq_id", c.faq_id, true); });
  if (name == "submit_csat")
    return Read<SubmitCsat>(body, [](ObjectReader& r, SubmitCsat& c) {
      r.Integer("rating", c.rating, true);
      r.String("comment", c.comment);
    });
  if (name == "request_transcript")
    return Read<RequestTranscript>(
        body, [](ObjectReader& r, RequestTranscript& c) { r.String("email", c.email); });
  if (name == "agent_reply")
    return Read<AgentReply>(body, [](ObjectReader& r, AgentReply& c) {
      r.Enum("kind", c.kind);
      r.String("text", c.text);
      r.Object("image", false, [&](ObjectReader& i) {
        ImageRef image;
        i.String("url", image.url, true);
        i.String("content_type", image.content_type);
        i.Integer("width", image.width);
        i.Integer("height", image.height);
        c.image = image;
      });
      r.String("macro_id", c.macro_id);
      r.Strings("product_ids", c.product_ids);
      r.String("discount_code", c.discount_code);
    });
  if (name == "add_internal_note")
    return Read<AddInternalNote>(
        body, [](ObjectReader& r, AddInternalNote& c) { r.String("text", c.text, true); });
  if (name == "edit_internal_note")
    return Read<EditInternalNote>(
        body, [](ObjectReader& r, EditInternalNote& c) { r.String("text", c.text, true); });
  if (name == "add_customer_note")
    return Read<AddCustomerNote>(
        body, [](ObjectReader& r, AddCustomerNote& c) { r.String("text", c.text, true); });
  if (name == "edit_customer_note")
    return Read<EditCustomerNote>(
        body, [](ObjectReader& r, EditCustomerNote& c) { r.String("text", c.text, true); });
  if (name == "mark_unread")
    return Read<MarkUnread>(body, [](ObjectReader& r, MarkUnread& c) {
      r.String("from_message_id", c.from_message_id);
    });
  if (name == "assign")
    return Read<Assign>(body,
                        [](ObjectReader& r, Assign& c) { r.String("agent_id", c.agent_id, true); });
  if (name == "change_status")
    return Read<ChangeStatus>(body, [](ObjectReader& r, ChangeStatus& c) {
      r.Enum("status", c.to, true);
      r.Integer("snoozed_until_us", c.snoozed_until_us);
      r.Enum("reason", c.reason);
    });
  if (name == "update_cart")
    return Read<UpdateCart>(body, [](ObjectReader& r, UpdateCart& c) {
      r.String("customer_id", c.customer_id, true);
      r.String("cart_id", c.cart_id, true);
      r.Enum("change", c.change, true);
      r.String("changed_product_id", c.changed_product_id);
      r.Objects("line_items", c.line_items, false, ReadLineItem);
      r.String("currency", c.currency, true);
    });
  if (name == "change_presence")
    return Read<ChangePresence>(body, [](ObjectReader& r, ChangePresence& c) {
      r.String("customer_id", c.customer_id, true);
      r.Enum("presence", c.presence, true);
      r.String("session_id", c.session_id);
    });
  if (name == "receive_inbound_message")
    return Read<ReceiveInboundMessage>(body, [](ObjectReader& r, ReceiveInboundMessage& c) {
      r.Enum("channel", c.channel, true);
      r.String("customer_id", c.customer_id, true);
      r.String("from_address", c.from_address, true);
      r.String("name", c.name);
      r.String("text", c.text, true);
    });
  if (name == "record_order_placed") {
    auto order = DecodeEventBody<OrderPlaced>(body);
    if (!order.ok()) return order.status();
    return Command(RecordOrderPlaced{{}, std::move(*order)});
  }
  if (name == "record_order_updated") {
    auto order = DecodeEventBody<OrderUpdated>(body);
    if (!order.ok()) return order.status();
    return Command(RecordOrderUpdated{{}, std::move(*order)});
  }
  if (name == "upsert_customer_profile") {
    auto profile = DecodeEventBody<CustomerProfileUpserted>(body);
    if (!profile.ok()) return profile.status();
    return Command(UpsertCustomerProfile{{}, std::move(*profile)});
  }
  if (name == "upsert_product") {
    auto product = DecodeEventBody<ProductUpserted>(body);
    if (!product.ok()) return product.status();
    return Command(UpsertProduct{{}, std::move(*product)});
  }
  if (name == "upsert_discount") {
    auto discount = DecodeEventBody<DiscountUpserted>(body);
    if (!discount.ok()) return discount.status();
    return Command(UpsertDiscount{{}, std::move(*discount)});
  }
  if (name == "erase_customer")
    return Read<EraseCustomer>(body, [](ObjectReader& r, EraseCustomer& c) {
      r.String("request_id", c.request_id, true);
      r.Enum("regulation", c.regulation);
    });
  if (name == "update_settings") {
    auto changed = DecodeEventBody<SettingsChanged>(Json{{"aspect", body}}, "/body/aspect");
    if (!changed.ok()) return changed.status();
    return Command(UpdateSettings{{}, std::move(changed->aspect)});
  }
  return Status::Error(ErrorCode::kNotFound, "no command named " + std::string(name))
      .WithReason("unknown_command");
}

}  // namespace palaver::api
