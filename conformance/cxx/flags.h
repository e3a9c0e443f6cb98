// flags.h: the little flag parser the adapter mains share. It takes the Go
// flag package's spellings: -name value, -name=value, --name value,
// --name=value, and -name alone for a boolean.
#ifndef ISOLAB_ADAPTER_FLAGS_H
#define ISOLAB_ADAPTER_FLAGS_H

#include <cstdlib>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace adapter {

struct Flags {
    std::map<std::string, std::string> values;
    std::set<std::string> bools;
    std::vector<std::string> args;  // positional arguments
};

// parse fills f from argv. valued and boolean list the known flags; an unknown
// flag or a missing value prints usage on stderr and exits 2, as cmd/server does.
inline Flags parse(int argc, char** argv, const std::set<std::string>& valued, const std::set<std::string>& boolean,
                   const char* usage) {
    Flags f;
    auto bad = [&](const std::string& why) {
        std::cerr << argv[0] << ": " << why << "\n" << usage << std::endl;
        std::exit(2);
    };
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        if (a == "--") {
            for (i++; i < argc; i++) f.args.push_back(argv[i]);
            break;
        }
        if (a.size() < 2 || a[0] != '-') {
            f.args.push_back(a);
            continue;
        }
        std::string name = a.substr(a[1] == '-' ? 2 : 1), value;
        bool has_value = false;
        if (auto eq = name.find('='); eq != std::string::npos) {
            value = name.substr(eq + 1);
            name = name.substr(0, eq);
            has_value = true;
        }
        if (boolean.count(name)) {
            if (!has_value || value == "true" || value == "1") f.bools.insert(name);
            continue;
        }
        if (!valued.count(name)) bad("flag provided but not defined: -" + name);
        if (!has_value) {
            if (i + 1 >= argc) bad("flag needs an argument: -" + name);
            value = argv[++i];
        }
        f.values[name] = value;
    }
    return f;
}

// with_slash makes sure a directory ends in '/', for implementations that join
// a directory and a file name without one.
inline std::string with_slash(std::string dir) {
    if (dir.empty() || dir.back() != '/') dir += '/';
    return dir;
}

}  // namespace adapter

#endif
