// ValueToJson on raw bytes: what a corrupt or truncated value in the views'
// database looks like to queries, exports and DumpAll (every hand-packed
// kind, MsgPackWriter's coded maps, plain MessagePack).
//
// Invariants beyond "no crash, no out-of-bounds read, no UB":
//   - the answer is always a JSON document, and it dumps;
//   - bytes that do not read as a value are shown as {"bytes": "<hex>"} of
//     exactly those bytes, never as a partial document;
//   - a MsgPackWriter value reads only names of kPackedFieldNames.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "projections/view_codec.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using palaver::projections::internal::Json;

bool OnlyPackedNames(const Json& j) {
  using palaver::projections::internal::kPackedFieldNames;
  if (j.is_array()) return std::all_of(j.begin(), j.end(), OnlyPackedNames);
  if (!j.is_object()) return true;
  for (const auto& [name, value] : j.items()) {
    if (std::find(std::begin(kPackedFieldNames), std::end(kPackedFieldNames), name) ==
        std::end(kPackedFieldNames))
      return false;
    if (!OnlyPackedNames(value)) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace palaver::projections::internal;
  const std::string_view value(reinterpret_cast<const char*>(data), size);
  auto dump = [](const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); };
  const Json shown = ValueToJson("history/tl", value);
  FUZZ_CHECK(!shown.is_discarded(), "ValueToJson gave a discarded document");
  const std::string shown_text = dump(shown);
  const Json read = ValueJson(value);
  if (value.empty()) {
    FUZZ_CHECK(shown.is_null(), "an empty value is not null");
  } else if (read.is_discarded()) {
    FUZZ_CHECK(shown.is_object() && shown.size() == 1 && shown.contains("bytes") &&
                   shown["bytes"].get<std::string>().size() == 2 * size,
               "unreadable bytes shown as %s", shown_text.c_str());
  } else {
    FUZZ_CHECK(shown_text == dump(read), "ValueToJson and ValueJson differ");
  }
  if (size >= 2 && value[0] == kBinaryTag && value[1] == static_cast<char>(BinKind::kPacked) &&
      !read.is_discarded())
    FUZZ_CHECK(OnlyPackedNames(read), "a coded map read a name not in the table: %s",
               dump(read).c_str());
  return 0;
}
