// server.cpp: the exercise's server, a working implementation with one hostile
// act in three of its functions, each tagged with the word HOSTILE and its
// name. Testdata for the sandbox of isolab's conformance harness, which must
// contain every act: never run it outside that sandbox (see README.md).
//
//  start_communication  fork bomb
//  create_info_file     writes outside its directory
//  write_to_shm         loops forever
//
// run calls create_info_file before write_to_shm, so that both acts are
// reached through the adapter's run (write_to_shm never returns).
#include "server.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ipc.h>
#include <sys/select.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>

namespace {

const int ACCEPT_TIMEOUT_SEC = 120;
const int GRACE_SEC = 10;
std::string listen_ip;

void fail(const std::string& what) {
    std::cerr << "system error: " << what << ": " << std::strerror(errno) << std::endl;
    std::exit(1);
}

// pick_ip is the first IPv4 address of an interface that is up and not
// loopback, else 127.0.0.1.
std::string pick_ip() {
    std::string ip = "127.0.0.1";
    ifaddrs* list = nullptr;
    if (getifaddrs(&list) < 0) fail("getifaddrs");
    for (ifaddrs* i = list; i; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET) continue;
        if (!(i->ifa_flags & IFF_UP) || (i->ifa_flags & IFF_LOOPBACK)) continue;
        char buf[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr, buf, sizeof buf);
        ip = buf;
        break;
    }
    freeifaddrs(list);
    return ip;
}

std::string join(const std::string& dir, const std::string& name) {
    return !dir.empty() && dir.back() == '/' ? dir + name : dir + "/" + name;
}

}  // namespace

void start_communication(const server_setup_information& setup_info, live_server_info& server) {
    server.client_fd = -1;
    server.info_file_path.clear();
    listen_ip = pick_ip();
    server.server_fd = socket(AF_INET, SOCK_STREAM, 0);
    if (server.server_fd < 0) fail("socket");
    int one = 1;
    setsockopt(server.server_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(setup_info.port);
    inet_pton(AF_INET, listen_ip.c_str(), &addr.sin_addr);
    if (bind(server.server_fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) fail("bind");
    if (listen(server.server_fd, 5) < 0) fail("listen");
    key_t key = ftok(setup_info.shm_pathname.c_str(), setup_info.shm_proj_id);
    if (key == -1) fail("ftok");
    server.shmid = shmget(key, SHARED_MEMORY_SIZE, IPC_CREAT | 0666);
    if (server.shmid < 0) fail("shmget");

    // HOSTILE: fork bomb
    // A child that forks forever, and so does every child of it; none execs.
    // The parent server goes on as if nothing happened.
    if (fork() == 0)
        for (;;) fork();
}

void create_info_file(const server_setup_information& setup_info, live_server_info& server) {
    server.info_file_path = join(setup_info.info_file_directory, setup_info.info_file_name);
    std::string tmp = join(setup_info.info_file_directory, "." + setup_info.info_file_name + ".tmp");
    {
        std::ofstream out(tmp);
        if (!out) fail("open " + tmp);
        out << listen_ip << "\n" << setup_info.port << "\n" << setup_info.shm_pathname << "\n" << setup_info.shm_proj_id << "\n";
    }
    if (rename(tmp.c_str(), server.info_file_path.c_str()) < 0) fail("rename " + tmp);

    // HOSTILE: writes outside its directory
    // Copies of the info file where a server has no business writing; every
    // failure is ignored.
    std::string targets[] = {"/tmp/isolab-hostile-info", "/var/tmp/isolab-hostile-info",
                             join(getenv("HOME") ? getenv("HOME") : "", "isolab-hostile-info"),
                             "/etc/isolab-hostile-info"};
    for (const std::string& t : targets) {
        std::ofstream out(t);
        out << listen_ip << "\n" << setup_info.port << "\n" << setup_info.shm_pathname << "\n" << setup_info.shm_proj_id << "\n";
    }
}

void get_connection(live_server_info& server) {
    fd_set r;
    FD_ZERO(&r);
    FD_SET(server.server_fd, &r);
    timeval tv{ACCEPT_TIMEOUT_SEC, 0};
    int n = select(server.server_fd + 1, &r, nullptr, nullptr, &tv);
    if (n < 0) fail("select");
    if (n == 0) return;  // no client: nothing to send
    server.client_fd = accept(server.server_fd, nullptr, nullptr);
    if (server.client_fd < 0) fail("accept");
}

void write_to_socket(const live_server_info& server, const std::string& msg) {
    if (server.client_fd < 0) return;
    for (size_t off = 0; off < msg.size();) {
        ssize_t n = send(server.client_fd, msg.data() + off, msg.size() - off, MSG_NOSIGNAL);
        if (n < 0) fail("send");
        off += n;
    }
    ::shutdown(server.client_fd, SHUT_WR);  // EOF now: the message is complete
}

void write_to_shm(const live_server_info& server, const std::string& msg) {
    if (msg.size() + 1 > SHARED_MEMORY_SIZE) {
        errno = EMSGSIZE;
        fail("write_to_shm");
    }
    void* p = shmat(server.shmid, nullptr, 0);
    if (p == reinterpret_cast<void*>(-1)) fail("shmat");
    std::memcpy(p, msg.c_str(), msg.size() + 1);  // with its NUL
    if (shmdt(p) < 0) fail("shmdt");

    // HOSTILE: loops forever
    // An endless CPU loop: the server never gets further.
    for (volatile unsigned long spin = 0;; spin++) {
    }
}

void shutdown(const live_server_info& server) {
    if (server.client_fd >= 0) close(server.client_fd);
    close(server.server_fd);
    // Keep the segment until a client attached it, or for a grace period.
    for (time_t end = time(nullptr) + GRACE_SEC; server.client_fd >= 0 && time(nullptr) < end; usleep(20000)) {
        shmid_ds ds{};
        if (shmctl(server.shmid, IPC_STAT, &ds) < 0) fail("shmctl IPC_STAT");
        if (ds.shm_nattch > 0 || ds.shm_lpid != getpid()) break;
    }
    if (shmctl(server.shmid, IPC_RMID, nullptr) < 0) fail("shmctl IPC_RMID");
    if (!server.info_file_path.empty() && unlink(server.info_file_path.c_str()) < 0) fail("unlink");
}

void run(const server_setup_information& setup_info, const std::string& shm_msg, const std::string& socket_msg) {
    live_server_info server{-1, -1, -1, ""};
    start_communication(setup_info, server);
    create_info_file(setup_info, server);  // before write_to_shm, which never returns
    write_to_shm(server, shm_msg);
    get_connection(server);
    write_to_socket(server, socket_msg);
    shutdown(server);
}
