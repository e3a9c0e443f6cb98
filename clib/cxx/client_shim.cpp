// client_shim.cpp: the course's client.h over clib's Go exports. Each
// live_server_info that count_servers fills is tied to its Go client.Server by
// its info_file_path, which copies of the entry keep.
#include <cstdlib>
#include <map>
#include <mutex>

#include "client.h"
#include "shim.h"

namespace {

std::mutex mu;
std::map<std::string, uintptr_t> entries;  // info_file_path -> handle of client.Server

uintptr_t handle_of(const live_server_info& server) {
    std::lock_guard<std::mutex> lock(mu);
    auto it = entries.find(server.info_file_path);
    return it == entries.end() ? 0 : it->second;
}

std::vector<uintptr_t> handles_of(const std::vector<live_server_info>& servers) {
    std::vector<uintptr_t> hs;
    hs.reserve(servers.size());
    for (const auto& s : servers) hs.push_back(handle_of(s));
    return hs;
}

void print_skipped(char* skipped) {
    if (skipped == nullptr) return;
    std::cout << std::flush;
    std::cerr << isolab::take(skipped) << std::flush;
}

}  // namespace

int count_servers(const std::string& client_files_directory, std::vector<live_server_info>& servers) {
    isolab_live* out = nullptr;
    int n = 0;
    char* skipped = nullptr;
    isolab::check(isolab_count_servers(isolab::str(client_files_directory), &out, &n, &skipped));
    print_skipped(skipped);
    std::vector<uintptr_t> stale;  // entries of an earlier count_servers never disconnected
    {
        std::lock_guard<std::mutex> lock(mu);
        for (int i = 0; i < n; i++) {
            live_server_info s{out[i].server_fd, out[i].client_fd, out[i].shmid, isolab::take(out[i].info_file_path)};
            auto it = entries.find(s.info_file_path);
            if (it != entries.end()) stale.push_back(it->second);
            entries[s.info_file_path] = out[i].handle;
            servers.push_back(s);
        }
    }
    std::free(out);
    if (!stale.empty()) isolab::check(isolab_disconnect(stale.data(), static_cast<int>(stale.size())));
    return n;
}

void print_server_infos(const std::vector<live_server_info>& servers) {
    std::vector<uintptr_t> hs = handles_of(servers);
    std::cout << isolab::take(isolab_print_server_infos(hs.data(), static_cast<int>(hs.size()))) << std::flush;
}

void get_message_from_socket(live_server_info& server, std::string& msg) {
    char* p = nullptr;
    size_t n = 0;
    msg = isolab_get_message_from_socket(handle_of(server), &p, &n) ? isolab::take(p, n) : std::string();
}

void get_message_from_shm(live_server_info& server, std::string& msg) {
    char* p = nullptr;
    size_t n = 0;
    msg = isolab_get_message_from_shm(handle_of(server), &p, &n) ? isolab::take(p, n) : std::string();
}

void disconnect(std::vector<live_server_info>& servers) {
    std::vector<uintptr_t> hs;
    {
        std::lock_guard<std::mutex> lock(mu);
        for (auto& s : servers) {
            auto it = entries.find(s.info_file_path);
            if (it != entries.end()) {
                hs.push_back(it->second);
                entries.erase(it);
            }
            s.server_fd = s.client_fd = s.shmid = -1;
        }
    }
    if (!hs.empty()) isolab::check(isolab_disconnect(hs.data(), static_cast<int>(hs.size())));
}

void run(const std::string& client_files_directory) {
    char* text = nullptr;
    char* skipped = nullptr;
    char* err = isolab_client_run(isolab::str(client_files_directory), &text, &skipped);
    std::cout << isolab::take(text) << std::flush;
    print_skipped(skipped);
    isolab::check(err);
}
