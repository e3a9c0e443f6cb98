// client_main.cpp: gives any implementation of the course's client.h isolab's
// client command line:
//
//   client [-connect-timeout 5s] [-read-timeout 5s] DIR
//
// It is written against the course headers alone and calls the spec's run.
// The timeouts are set as ISOLAB_CONNECT_TIMEOUT and ISOLAB_READ_TIMEOUT,
// which isolab's own libclient.a honours and other implementations ignore.
// -explain and -json are isolab's own and not part of the course API: they are
// refused. The directory is passed with a trailing '/'. Exit status: 2 on a
// usage error, else what the implementation does (0 after run returns).
#include <cstdlib>
#include <string>

#include "client.h"
#include "flags.h"
#include "globals.h"

static const char* usage = "usage: client [-connect-timeout 5s] [-read-timeout 5s] DIR";

int main(int argc, char** argv) {
    adapter::Flags f = adapter::parse(argc, argv, {"connect-timeout", "read-timeout"}, {"explain", "json"}, usage);
    if (!f.bools.empty()) {
        std::cerr << "client: -" << *f.bools.begin() << " is isolab's own, not part of the course API" << std::endl;
        return 2;
    }
    if (f.args.size() != 1) {
        std::cerr << usage << std::endl;
        return 2;
    }
    if (f.values.count("connect-timeout")) setenv("ISOLAB_CONNECT_TIMEOUT", f.values["connect-timeout"].c_str(), 1);
    if (f.values.count("read-timeout")) setenv("ISOLAB_READ_TIMEOUT", f.values["read-timeout"].c_str(), 1);
    run(adapter::with_slash(f.args[0]));
    return 0;
}
