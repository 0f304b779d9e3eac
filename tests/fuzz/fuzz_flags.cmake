# Compiler flags of the fuzz build (-DPALAVER_FUZZ=ON), included by the root
# CMakeLists.txt before any library, so that palaver's own code is built with
# libFuzzer coverage, AddressSanitizer and UndefinedBehaviorSanitizer.
if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR
    "PALAVER_FUZZ=ON needs clang (libFuzzer); configure a separate build:\n"
    "  CC=clang CXX=clang++ cmake -S . -B build/fuzz -G Ninja -DPALAVER_FUZZ=ON "
    "-DPALAVER_BUILD_TESTS=OFF -DPALAVER_BUILD_BENCHMARKS=OFF")
endif()
if(PALAVER_SANITIZE)
  message(FATAL_ERROR "PALAVER_FUZZ=ON sets its own sanitizers; leave PALAVER_SANITIZE off")
endif()
add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
                    -fno-sanitize-recover=undefined -g1)
add_link_options(-fsanitize=address,undefined)
