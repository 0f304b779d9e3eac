// Bounded decoding for cereal's portable binary archive.
//
// cereal reads a container's length and resizes before reading its elements,
// so a corrupt length could ask for gigabytes. Include this header (before
// decoding) in every translation unit that loads palaver data: the overloads
// below are preferred over cereal's generic ones and refuse any length that
// cannot fit inside one event, turning corruption into a cereal::Exception
// that the decoder reports as kCorruption.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <cereal/archives/portable_binary.hpp>
#include <cereal/types/string.hpp>
#include <cereal/types/vector.hpp>

#include "schemas/frame.h"

namespace cereal {

inline void CheckedLength(PortableBinaryInputArchive& ar, size_type& n, size_t element_size) {
  ar(make_size_tag(n));
  if (n > palaver::kMaxEventBytes / (element_size == 0 ? 1 : element_size)) {
    throw Exception("length " + std::to_string(n) + " cannot fit in one event");
  }
}

// cereal copies a raw byte into a bool; any byte but 0 or 1 would be undefined
// behaviour when read, so it is refused as corruption.
inline void load(PortableBinaryInputArchive& ar, bool& b) {
  std::uint8_t byte = 0;
  ar(byte);
  if (byte > 1) throw Exception("a boolean holds the byte " + std::to_string(byte));
  b = byte == 1;
}

inline void load(PortableBinaryInputArchive& ar, std::string& s) {
  size_type n = 0;
  CheckedLength(ar, n, 1);
  s.resize(static_cast<size_t>(n));
  if (n > 0) ar(binary_data(s.data(), static_cast<size_t>(n)));
}

template <class T, class A>
void load(PortableBinaryInputArchive& ar, std::vector<T, A>& v) {
  size_type n = 0;
  CheckedLength(ar, n, 1);  // every element takes at least one byte on the wire
  v.clear();
  v.reserve(static_cast<size_t>(n));
  for (size_type i = 0; i < n; ++i) {
    T item{};
    ar(item);
    v.push_back(std::move(item));
  }
}

}  // namespace cereal
