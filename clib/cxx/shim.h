// shim.h: what the two C++ shims share: string conversion and the error exit.
#ifndef ISOLAB_SHIM_H
#define ISOLAB_SHIM_H

#include <cstdlib>
#include <iostream>
#include <string>

#include "capi.h"

namespace isolab {

inline isolab_str str(const std::string& s) { return isolab_str{s.data(), s.size()}; }

// take moves a malloc'd C string into a std::string and frees it.
inline std::string take(char* p, size_t n) {
    std::string s(p ? p : "", p ? n : 0);
    std::free(p);
    return s;
}

inline std::string take(char* p) { return p ? take(p, std::char_traits<char>::length(p)) : std::string(); }

// check is the exercise's error rule: a failed system call prints
// "system error: ..." and exits 1. The Go side has released everything first.
inline void check(char* err) {
    if (err == nullptr) return;
    std::cout << std::flush;
    std::cerr << "system error: " << take(err) << std::endl;
    std::exit(1);
}

}  // namespace isolab

#endif
