// server_main.cpp: gives any implementation of the course's server.h isolab's
// server command line, so the lab and the conformance harness can run it where
// they run isolab's own server:
//
//   server -port P -shm-path PATH -proj-id N -info-dir DIR -info-name NAME
//          -shm-msg M -socket-msg M [-ip ADDR] [-accept-timeout 120s] [-grace 10s] [-q]
//
// It is written against the course headers alone and calls the spec's run.
// The course API has no parameter for -ip, -accept-timeout or -grace: they are
// set as ISOLAB_IP, ISOLAB_ACCEPT_TIMEOUT and ISOLAB_GRACE, which isolab's own
// libserver.a honours and other implementations ignore (they pick their own
// address; run them where only loopback exists). The info directory is passed
// with a trailing '/'. Exit status: 2 on a usage error, else what the
// implementation does (0 after run returns; the exercise's 1 on a system error).
#include <arpa/inet.h>

#include <cstdlib>
#include <string>

#include "flags.h"
#include "globals.h"
#include "server.h"

static const char* usage =
    "usage: server -port P -shm-path PATH -proj-id N -info-dir DIR -info-name NAME -shm-msg M -socket-msg M "
    "[-ip ADDR] [-accept-timeout 120s] [-grace 10s] [-q]";

int main(int argc, char** argv) {
    adapter::Flags f = adapter::parse(
        argc, argv,
        {"port", "shm-path", "proj-id", "info-dir", "info-name", "shm-msg", "socket-msg", "ip", "accept-timeout", "grace"},
        {"q"}, usage);
    auto fail = [&](const std::string& why) {
        std::cerr << "server: " << why << std::endl;
        return 2;
    };
    if (!f.args.empty()) return fail("unexpected argument \"" + f.args[0] + "\"");
    for (const char* name : {"shm-path", "info-dir", "info-name", "shm-msg", "socket-msg"})
        if (f.values[name].empty()) return fail(std::string("flag -") + name + " is required");
    char* end = nullptr;
    long port = std::strtol(f.values["port"].c_str(), &end, 10);
    if (f.values["port"].empty() || *end != '\0' || port < 1 || port > 65535)
        return fail("flag -port: want a port in 1..65535");
    long proj = std::strtol(f.values["proj-id"].c_str(), &end, 10);
    if (f.values["proj-id"].empty() || *end != '\0' || proj == 0) return fail("flag -proj-id is required");
    if (f.values.count("ip")) {
        in_addr a{};
        if (inet_pton(AF_INET, f.values["ip"].c_str(), &a) != 1)
            return fail("flag -ip: \"" + f.values["ip"] + "\" is not an IPv4 address");
        setenv("ISOLAB_IP", f.values["ip"].c_str(), 1);
    }
    if (f.values.count("accept-timeout")) setenv("ISOLAB_ACCEPT_TIMEOUT", f.values["accept-timeout"].c_str(), 1);
    if (f.values.count("grace")) setenv("ISOLAB_GRACE", f.values["grace"].c_str(), 1);

    server_setup_information setup;
    setup.port = static_cast<unsigned short>(port);
    setup.shm_pathname = f.values["shm-path"];
    setup.shm_proj_id = static_cast<int>(proj);
    setup.info_file_name = f.values["info-name"];
    setup.info_file_directory = adapter::with_slash(f.values["info-dir"]);
    run(setup, f.values["shm-msg"], f.values["socket-msg"]);
    return 0;
}
