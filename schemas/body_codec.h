// Internal to schemas/ and its tests: generic machinery over the `Fields`
// visitors of event bodies (schemas/events.h) — cereal encoding of a layout's
// body and personal parts, field checks, and decoding any version of a body
// followed by upcasting. Other components use schemas/codec.h instead.
#pragma once

#include <cmath>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include <cereal/types/optional.hpp>
#include <cereal/types/variant.hpp>

#include "schemas/archive_streams.h"
#include "schemas/bounded_archive.h"
#include "schemas/event_versions.h"
#include "schemas/events.h"
#include "schemas/frame.h"
#include "schemas/status.h"

namespace palaver {

// A struct that lists its fields with `static void Fields(auto& self, auto&& visit)`.
template <class T>
concept HasFields = std::is_class_v<T> && requires(T& t) {
  T::Fields(t, [](std::string_view, auto&) {});
};

// cereal finds this through argument-dependent lookup: a struct with Fields is
// encoded as its fields in order, nothing else (no names, no length, no
// version; the frame's schema_version says which layout it is).
template <class Archive, HasFields T>
void serialize(Archive& ar, T& value) {
  T::Fields(value, [&ar](std::string_view, auto& field) { ar(field); });
}

// True when `bytes` is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
bool IsValidUtf8(std::string_view bytes);
// The length of the well-formed UTF-8 sequence starting at bytes[i] (1 for
// ASCII), or 0 when none starts there. Requires i < bytes.size().
size_t Utf8SequenceLength(std::string_view bytes, size_t i);

namespace body_codec_internal {

template <class T>
struct IsOptional : std::false_type {};
template <class T>
struct IsOptional<std::optional<T>> : std::true_type {};
template <class T>
struct IsVector : std::false_type {};
template <class T>
struct IsVector<std::vector<T>> : std::true_type {};
template <class T>
struct IsVariant : std::false_type {};
template <class... T>
struct IsVariant<std::variant<T...>> : std::true_type {};

// A JSON pointer not spelled out: FieldChecker's first walk, which finds
// whether a value has a bad field without building a path per field.
struct NoPath {};

// Walks a value and reports the first enum value without a name or string that
// is not UTF-8, as `code` with the field's JSON pointer. Doubles must be finite.
class FieldChecker {
 public:
  explicit FieldChecker(ErrorCode code) : code_(code) {}

  // Walks once without paths (decoding checks every event; almost all are
  // good), and again with them only to name the bad field.
  template <class V>
  Status Check(const V& value, const std::string& path) {
    if (Walk(value, NoPath{}).ok()) return Status::Ok();
    return Walk(value, path);
  }

 private:
  template <class V, class Path>
  Status Walk(const V& value, const Path& path) {
    if constexpr (std::is_same_v<V, std::string>) {
      if (!IsValidUtf8(value)) return Fail(path, "is not valid UTF-8");
    } else if constexpr (std::is_same_v<V, double>) {
      if (!std::isfinite(value)) {
        return Fail(path, "is not a finite number");
      }
    } else if constexpr (NamedEnum<V>) {
      if (EnumName(value).empty()) {
        return Fail(path, "has the unknown value " + std::to_string(static_cast<int>(value)));
      }
    } else if constexpr (IsOptional<V>::value) {
      if (value) return Walk(*value, path);
    } else if constexpr (IsVector<V>::value) {
      for (size_t i = 0; i < value.size(); ++i) {
        PALAVER_RETURN_IF_ERROR(Walk(value[i], Child(path, i)));
      }
    } else if constexpr (IsVariant<V>::value) {
      return std::visit([&](const auto& alt) { return Walk(alt, path); }, value);
    } else if constexpr (HasFields<V>) {
      Status status;
      V::Fields(value, [&](std::string_view name, const auto& field) {
        if (status.ok()) status = Walk(field, Child(path, name));
      });
      return status;
    }
    return Status::Ok();
  }

  Status Fail(const std::string& path, const std::string& what) const {
    return Status::Error(code_, "field " + path + " " + what, path);
  }
  Status Fail(NoPath, std::string_view) const { return Status::Error(code_, ""); }

  // `path` extended by one token, a field name or an array index (no string
  // is built on the first walk).
  static std::string Child(const std::string& path, std::string_view token) {
    std::string child = path;
    child += '/';
    child += token;
    return child;
  }
  static std::string Child(const std::string& path, size_t index) {
    return Child(path, std::to_string(index));
  }
  static NoPath Child(NoPath, std::string_view) { return {}; }
  static NoPath Child(NoPath, size_t) { return {}; }
  ErrorCode code_;
};

}  // namespace body_codec_internal

// Checks every field of `value` (and its personal part) as FieldChecker does;
// `path` is the JSON pointer of `value`, e.g. "/body".
template <class T>
Status CheckFields(const T& value, ErrorCode code, const std::string& path) {
  body_codec_internal::FieldChecker checker(code);
  PALAVER_RETURN_IF_ERROR(checker.Check(value, path));
  if constexpr (HasPersonal<T>) {
    PALAVER_RETURN_IF_ERROR(checker.Check(value.personal, path + "/personal"));
  }
  return Status::Ok();
}

// The cereal portable-binary encoding of the fields of `value`.
template <HasFields T>
std::string EncodeFields(const T& value) {
  StringStream stream;
  {
    cereal::PortableBinaryOutputArchive ar(stream.out());
    ar(value);
  }
  return stream.Take();
}

// Decodes what EncodeFields wrote; kCorruption (naming "<type> <part>", e.g.
// "message.posted body") when the bytes do not decode or have bytes left
// over. The name is built only on error: this runs for every event read.
template <HasFields T>
Status DecodeFields(std::string_view bytes, T& value, std::string_view type,
                    std::string_view part) {
  auto what = [&] { return std::string(type) + " " + std::string(part); };
  ViewStream stream(bytes);
  try {
    cereal::PortableBinaryInputArchive ar(stream.in());
    ar(value);
  } catch (const std::exception& e) {
    return Status::Error(ErrorCode::kCorruption, what() + " does not decode: " + e.what());
  }
  if (!stream.AtEnd()) {
    return Status::Error(ErrorCode::kCorruption,
                         what() + " has trailing bytes after its last field");
  }
  return Status::Ok();
}

// The frame of `body` (any layout, current or older): envelope.type and
// envelope.schema_version are taken from the layout.
template <class Layout>
Frame MakeFrame(Envelope envelope, const Layout& body) {
  Frame frame;
  envelope.type = Layout::kType;
  envelope.schema_version = Layout::kVersion;
  frame.envelope = std::move(envelope);
  frame.body = EncodeFields(body);
  if constexpr (HasPersonal<Layout>) frame.personal = EncodeFields(body.personal);
  return frame;
}

// Decodes the body and personal parts of `frame` as `Layout`.
template <class Layout>
Result<Layout> DecodeLayout(const FrameView& frame) {
  Layout body;
  const std::string_view name = EventTypeName(Layout::kType);
  PALAVER_RETURN_IF_ERROR(DecodeFields(frame.body, body, name, "body"));
  if constexpr (HasPersonal<Layout>) {
    PALAVER_RETURN_IF_ERROR(DecodeFields(frame.personal, body.personal, name, "personal part"));
  } else if (!frame.personal.empty()) {
    return Status::Error(
        ErrorCode::kCorruption,
        std::string(name) + " has no personal fields but its frame carries personal bytes");
  }
  return body;
}

// Applies upcasters until `layout` is the current version of its body.
template <class Layout>
auto UpcastToCurrent(Layout layout) {
  if constexpr (requires { typename Layout::Next; }) {
    return UpcastToCurrent(Upcast(std::move(layout)));
  } else {
    return layout;
  }
}

// Decodes body T stored at `version`: finds the layout with that version,
// calls `decode(std::type_identity<Layout>{})` -> Result<Layout>, and upcasts
// the result to T. kUnsupportedVersion for a version this build does not know.
template <class T, class Decode>
Result<T> DecodeVersion(uint16_t version, Decode&& decode) {
  if (version == T::kVersion) return decode(std::type_identity<T>{});
  std::optional<Result<T>> result;
  std::apply(
      [&](auto... layouts) {
        (
            [&](auto layout) {
              using L = decltype(layout);
              if (result || L::kVersion != version) return;
              Result<L> old = decode(std::type_identity<L>{});
              if (!old.ok()) {
                result.emplace(old.status());
              } else {
                result.emplace(UpcastToCurrent(std::move(old).value()));
              }
            }(layouts),
            ...);
      },
      typename OlderVersions<T>::Layouts{});
  if (result) return std::move(*result);
  return Status::Error(ErrorCode::kUnsupportedVersion,
                       std::string(EventTypeName(T::kType)) + " schema version " +
                           std::to_string(version) + " is unknown to this build (it reads up to " +
                           std::to_string(T::kVersion) + "); upgrade palaver to read it",
                       "/schema_version");
}

// Calls `fn(std::type_identity<T>{})` for the body type T of `type`; returns
// kUnsupportedVersion when this build does not know `type`.
template <class R, class Fn, size_t I = 0>
R DispatchType(EventType type, Fn&& fn) {
  if constexpr (I == std::variant_size_v<EventBody>) {
    return Status::Error(ErrorCode::kUnsupportedVersion,
                         "event type " + std::to_string(static_cast<int>(type)) +
                             " is unknown to this build of palaver; upgrade to read it",
                         "/type");
  } else {
    using T = std::variant_alternative_t<I, EventBody>;
    if (T::kType == type) return fn(std::type_identity<T>{});
    return DispatchType<R, Fn, I + 1>(type, std::forward<Fn>(fn));
  }
}

}  // namespace palaver
