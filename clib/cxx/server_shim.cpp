// server_shim.cpp: the course's server.h over clib's Go exports. Each
// live_server_info is tied to its Go server.Live by its listening socket,
// which stays unique while the server lives, whatever copies the program makes.
#include <map>
#include <mutex>

#include "server.h"
#include "shim.h"

namespace {

std::mutex mu;
std::map<int, uintptr_t> servers;  // server_fd -> handle of server.Live

isolab_setup setup_of(const server_setup_information& s) {
    return isolab_setup{s.port, isolab::str(s.shm_pathname), s.shm_proj_id, isolab::str(s.info_file_name),
                        isolab::str(s.info_file_directory)};
}

// handle_of returns the handle of server, or 0 when the library does not know
// it (never started, or already shut down).
uintptr_t handle_of(const live_server_info& server) {
    std::lock_guard<std::mutex> lock(mu);
    auto it = servers.find(server.server_fd);
    return it == servers.end() ? 0 : it->second;
}

// forget drops server's handle before a call that ends it (shutdown, or a
// failure, after which the process exits).
void forget(const live_server_info& server) {
    std::lock_guard<std::mutex> lock(mu);
    servers.erase(server.server_fd);
}

void not_started(const char* what) {
    std::cout << std::flush;
    std::cerr << "system error: " << what << ": server not started (call start_communication first)" << std::endl;
    std::exit(1);
}

}  // namespace

void start_communication(const server_setup_information& setup_info, live_server_info& server) {
    isolab_setup s = setup_of(setup_info);
    isolab_live out{};
    isolab::check(isolab_start_communication(&s, &out));
    server.server_fd = out.server_fd;
    server.client_fd = out.client_fd;
    server.shmid = out.shmid;
    server.info_file_path.clear();
    std::lock_guard<std::mutex> lock(mu);
    servers[out.server_fd] = out.handle;
}

void create_info_file(const server_setup_information&, live_server_info& server) {
    uintptr_t h = handle_of(server);
    if (h == 0) not_started("create_info_file");
    isolab_live out{};
    char* err = isolab_create_info_file(h, &out);
    if (err) forget(server);
    isolab::check(err);
    server.info_file_path = isolab::take(out.info_file_path);
}

void get_connection(live_server_info& server) {
    uintptr_t h = handle_of(server);
    if (h == 0) not_started("get_connection");
    isolab_live out{};
    char* err = isolab_get_connection(h, &out);
    if (err) forget(server);
    isolab::check(err);
    server.client_fd = out.client_fd;
}

void write_to_socket(const live_server_info& server, const std::string& msg) {
    uintptr_t h = handle_of(server);
    if (h == 0) not_started("write_to_socket");
    char* err = isolab_write_to_socket(h, isolab::str(msg));
    if (err) forget(server);
    isolab::check(err);
}

void write_to_shm(const live_server_info& server, const std::string& msg) {
    uintptr_t h = handle_of(server);
    if (h == 0) not_started("write_to_shm");
    char* err = isolab_write_to_shm(h, isolab::str(msg));
    if (err) forget(server);
    isolab::check(err);
}

void shutdown(const live_server_info& server) {
    uintptr_t h = handle_of(server);
    if (h == 0) return;  // shut down already
    forget(server);
    isolab::check(isolab_shutdown(h));
}

void run(const server_setup_information& setup_info, const std::string& shm_msg, const std::string& socket_msg) {
    isolab_setup s = setup_of(setup_info);
    isolab::check(isolab_server_run(&s, isolab::str(shm_msg), isolab::str(socket_msg)));
}
