#include "engine/rules/text.h"

#include <cstdint>
#include <cstdio>

namespace palaver::rules {
namespace {

constexpr char32_t kReplacementCharacter = 0xFFFD;
constexpr char32_t kZeroWidthJoiner = 0x200D;

enum class Utf8Error {
  kNone,
  kInvalidLeadByte,  // 0x80..0xC1 or 0xF5..0xFF where a sequence starts
  kTruncated,        // a continuation byte is missing
  kOverlong,         // a shorter encoding exists
  kSurrogate,        // U+D800..U+DFFF
  kAboveMaximum,     // above U+10FFFF
};

struct Decoded {
  char32_t code_point = 0;
  size_t length = 1;  // bytes consumed; 1 on error so the caller can resync
  Utf8Error error = Utf8Error::kNone;
};

bool IsContinuation(unsigned char byte) { return (byte & 0xC0) == 0x80; }

// Decodes the sequence starting at text[at], following the well-formed byte
// sequences of Unicode table 3-7.
Decoded DecodeAt(std::string_view text, size_t at) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[at + i]); };
  const unsigned char lead = byte(0);
  if (lead < 0x80) return Decoded{lead, 1, Utf8Error::kNone};
  size_t length = 0;
  char32_t value = 0;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
    value = lead & 0x1F;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    value = lead & 0x0F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    value = lead & 0x07;
  } else if (lead == 0xC0 || lead == 0xC1) {
    return Decoded{0, 1, Utf8Error::kOverlong};
  } else if (lead >= 0xF5) {
    return Decoded{0, 1, Utf8Error::kAboveMaximum};
  } else {
    return Decoded{0, 1, Utf8Error::kInvalidLeadByte};
  }
  for (size_t i = 1; i < length; ++i) {
    if (at + i >= text.size() || !IsContinuation(byte(i))) {
      return Decoded{0, 1, Utf8Error::kTruncated};
    }
    value = (value << 6) | (byte(i) & 0x3F);
  }
  if ((length == 3 && value < 0x800) || (length == 4 && value < 0x10000)) {
    return Decoded{0, 1, Utf8Error::kOverlong};
  }
  if (value >= 0xD800 && value <= 0xDFFF) return Decoded{0, 1, Utf8Error::kSurrogate};
  if (value > 0x10FFFF) return Decoded{0, 1, Utf8Error::kAboveMaximum};
  return Decoded{value, length, Utf8Error::kNone};
}

const char* Describe(Utf8Error error) {
  switch (error) {
    case Utf8Error::kInvalidLeadByte:
      return "a continuation byte where a character should start";
    case Utf8Error::kTruncated:
      return "a truncated multi-byte sequence";
    case Utf8Error::kOverlong:
      return "an overlong encoding";
    case Utf8Error::kSurrogate:
      return "an encoded surrogate (U+D800..U+DFFF)";
    case Utf8Error::kAboveMaximum:
      return "a code point above U+10FFFF";
    case Utf8Error::kNone:
      break;
  }
  return "no error";
}

// Unicode White_Space, plus the invisible format characters a message made
// only of would look empty.
bool IsBlank(char32_t c) {
  switch (c) {
    case 0x0009:
    case 0x000A:
    case 0x000B:
    case 0x000C:
    case 0x000D:
    case 0x0020:
    case 0x0085:
    case 0x00A0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
    case 0x200B:
    case 0x200C:
    case 0x200D:
    case 0x2060:
    case 0xFEFF:
      return true;
    default:
      return c >= 0x2000 && c <= 0x200A;
  }
}

void AppendUtf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

Status TextError(ErrorCode code, std::string message) {
  return Status::Error(code, std::move(message), "text");
}

}  // namespace

Status ValidateMessageText(std::string_view text) {
  if (text.size() > kMaxMessageBytes) {
    return TextError(ErrorCode::kTooLarge, "the message is " + std::to_string(text.size()) +
                                               " bytes; the limit is " +
                                               std::to_string(kMaxMessageBytes) + " bytes");
  }
  if (text.empty()) return TextError(ErrorCode::kInvalidArgument, "the message is empty");
  size_t code_points = 0;
  bool blank = true;
  for (size_t at = 0; at < text.size();) {
    const Decoded d = DecodeAt(text, at);
    if (d.error != Utf8Error::kNone) {
      char byte[8];
      std::snprintf(byte, sizeof(byte), "0x%02X", static_cast<unsigned char>(text[at]));
      return TextError(ErrorCode::kInvalidArgument,
                       "the message is not valid UTF-8: " + std::string(Describe(d.error)) +
                           " at byte offset " + std::to_string(at) + " (byte " + byte + ")");
    }
    blank = blank && IsBlank(d.code_point);
    ++code_points;
    at += d.length;
  }
  if (code_points > kMaxMessageChars) {
    return TextError(ErrorCode::kTooLarge, "the message is " + std::to_string(code_points) +
                                               " characters; the limit is " +
                                               std::to_string(kMaxMessageChars) + " characters");
  }
  if (blank) {
    return TextError(ErrorCode::kInvalidArgument, "the message contains only whitespace");
  }
  return Status::Ok();
}

size_t CountCodePoints(std::string_view text) {
  size_t count = 0;
  for (size_t at = 0; at < text.size(); at += DecodeAt(text, at).length) ++count;
  return count;
}

std::string Preview(std::string_view text, size_t max_code_points) {
  std::string out;
  size_t count = 0;
  size_t last_code_point_start = 0;  // in `out`
  char32_t last = 0;
  size_t at = 0;
  while (at < text.size() && count < max_code_points) {
    const Decoded d = DecodeAt(text, at);
    last_code_point_start = out.size();
    if (d.error == Utf8Error::kNone) {
      out.append(text.substr(at, d.length));
      last = d.code_point;
    } else {
      AppendUtf8(out, kReplacementCharacter);
      last = kReplacementCharacter;
    }
    ++count;
    at += d.length;
  }
  // A joiner only means something before the next emoji, which was cut off.
  if (at < text.size() && last == kZeroWidthJoiner) {
    out.resize(last_code_point_start);
  }
  return out;
}

bool ShowProductNameInCartEvent(std::string_view name) {
  if (name.empty()) return false;
  size_t count = 0;
  for (size_t at = 0; at < name.size();) {
    const Decoded d = DecodeAt(name, at);
    if (d.error != Utf8Error::kNone) return false;
    if (++count > kMaxCartProductNameChars) return false;
    at += d.length;
  }
  return true;
}

}  // namespace palaver::rules
