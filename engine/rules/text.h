// Chat message text: what a shopper or an agent may send, and how to shorten
// it for display.
//
// "Characters" here are Unicode code points: an emoji such as U+1F600 is one,
// a skin-toned emoji is two, a ZWJ family emoji several. All functions are
// pure and safe to call from any thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "schemas/status.h"

namespace palaver::rules {

// Limits of one message. The byte limit is checked first, so an oversized
// payload is refused without being decoded; it admits any text within the
// code point limit (4 bytes per code point at most).
inline constexpr size_t kMaxMessageChars = 5000;
inline constexpr size_t kMaxMessageBytes = 4 * kMaxMessageChars;

// Accepts `text` as the body of a chat message, or says why not (field
// "text" on every error):
//   kTooLarge        more than kMaxMessageBytes bytes, or more than
//                    kMaxMessageChars code points; the message gives both the
//                    size and the limit;
//   kInvalidArgument "the message is empty" (zero bytes);
//   kInvalidArgument not well-formed UTF-8 (RFC 3629: no overlong forms, no
//                    surrogates U+D800..U+DFFF, nothing above U+10FFFF, no
//                    truncated sequence); the message names the byte offset
//                    of the first bad sequence;
//   kInvalidArgument only whitespace: Unicode White_Space characters and the
//                    invisible U+200B, U+200C, U+200D, U+2060, U+FEFF.
// Emoji of every kind (4-byte, ZWJ sequences, skin tones, variation
// selectors, flags) are ordinary text.
Status ValidateMessageText(std::string_view text);

// The number of code points in `text` when it is well-formed UTF-8; each
// byte of a malformed sequence counts as one.
size_t CountCodePoints(std::string_view text);

// The first `max_code_points` code points of `text`, for inbox previews.
// Never cuts inside a UTF-8 sequence and never ends on a dangling U+200D
// (zero-width joiner) of a cut emoji sequence. The result is always
// well-formed UTF-8: malformed bytes in `text` come out as U+FFFD. No
// ellipsis is added; the caller may add one when the result is shorter.
std::string Preview(std::string_view text, size_t max_code_points);

// Whether a cart event shows the product's name: true when `name` is
// well-formed UTF-8, not empty, and shorter than 41 code points.
inline constexpr size_t kMaxCartProductNameChars = 40;
bool ShowProductNameInCartEvent(std::string_view name);

}  // namespace palaver::rules
