// client.cpp: the exercise's client, correct in every respect isolab's
// conformance harness checks. It goes with server.cpp, whose server resolves
// its own host name for its address as course code does (the VM column needs
// the guest to resolve its name like a Debian install); the client itself
// only reads what the info files say. Testdata for isolab's conformance harness.
//
// What it does right, where the flawed client of conformance/testdata does not:
//  - every connect is bounded by 5 s: a non-blocking connect, select(2) on
//    writability, then SO_ERROR (select before a blocking connect bounds
//    nothing: an unconnected socket is writable at once)
//  - every server lands in exactly one bucket: Host when both channels work,
//    VM when neither does, Container otherwise
//  - segments are looked up with shmget size 0 and no IPC_CREAT, and attached
//    read-only: the client never makes a segment
//  - "Messages:" lists each message after one space: for each server (info
//    files sorted by name) its shm message, then its socket message
// Like isolab's client, count_servers probes every server at once and reads
// each socket message right away (until EOF, at most 5 s), so one slow server
// costs one timeout, not one per server; get_message_from_socket returns the
// message read.
#include "client.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
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
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <set>

namespace {

const int CONNECT_TIMEOUT_SEC = 5;             // bound on one connect
const int READ_TIMEOUT_SEC = 5;                // bound on reading one socket message
const size_t MAX_SOCKET_MESSAGE = 64 * 1024;   // bytes read from any socket at most
const size_t BATCH = 512;                      // servers probed at once: select watches fds below FD_SETSIZE

// state is what the client learned of one server, keyed by info_file_path.
struct state {
    const char* seg = nullptr;  // read-only attachment, until disconnect
    size_t seg_size = 0;
    bool connected = false;
    std::string socket_msg;
};
std::map<std::string, state> states;
std::set<int> held_fds;  // sockets open now, closed by fail before it exits

void release_all() {
    for (int fd : held_fds) close(fd);
    held_fds.clear();
    for (auto& kv : states) {
        if (kv.second.seg) shmdt(kv.second.seg);
        kv.second.seg = nullptr;
    }
}

// fail releases everything taken, then prints the exercise's one line and exits 1.
[[noreturn]] void fail(const std::string& what) {
    int err = errno;
    release_all();
    std::cerr << "system error: " << what << ": " << std::strerror(err) << std::endl;
    std::exit(1);
}

std::string join(const std::string& dir, const std::string& name) {
    return !dir.empty() && dir.back() == '/' ? dir + name : dir + "/" + name;
}

timespec now() {
    timespec t{};
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t;
}

long ms_until(const timespec& t) {
    timespec n = now();
    long ms = (t.tv_sec - n.tv_sec) * 1000 + (t.tv_nsec - n.tv_nsec) / 1000000;
    return ms > 0 ? ms : 0;
}

timespec after(int sec) {
    timespec t = now();
    t.tv_sec += sec;
    return t;
}

struct info {
    std::string ip;
    int port = 0;
    std::string shm_path;
    int proj_id = 0;
};

// parse_info reads the four lines of an info file: IP, port, shm pathname,
// proj_id. Lines may end in "\r\n". It says why a file is not one.
bool parse_info(const std::string& path, info& out, std::string& why) {
    std::ifstream in(path);
    if (!in) {
        why = std::strerror(errno);
        return false;
    }
    std::string lines[4];
    for (auto& l : lines) {
        if (!std::getline(in, l)) {
            why = "fewer than 4 lines (IP, port, shm pathname, proj_id)";
            return false;
        }
        if (!l.empty() && l.back() == '\r') l.pop_back();
    }
    in_addr a{};
    if (inet_pton(AF_INET, lines[0].c_str(), &a) != 1) {
        why = "line 1: \"" + lines[0] + "\" is not an IPv4 address";
        return false;
    }
    char* end = nullptr;
    long port = std::strtol(lines[1].c_str(), &end, 10);
    if (lines[1].empty() || *end != '\0' || port < 1 || port > 65535) {
        why = "line 2: \"" + lines[1] + "\" is not a port in 1..65535";
        return false;
    }
    if (lines[2].empty()) {
        why = "line 3: the shm pathname is empty";
        return false;
    }
    long proj = std::strtol(lines[3].c_str(), &end, 10);
    if (lines[3].empty() || *end != '\0') {
        why = "line 4: \"" + lines[3] + "\" is not a number";
        return false;
    }
    out = info{lines[0], static_cast<int>(port), lines[2], static_cast<int>(proj)};
    return true;
}

// attach finds the server's segment without ever making one (shmget with size
// 0 and no IPC_CREAT) and attaches it read-only.
void attach(const info& in, live_server_info& s, state& st) {
    key_t key = ftok(in.shm_path.c_str(), in.proj_id);
    if (key == -1) return;
    int id = shmget(key, 0, 0);
    if (id < 0) return;
    shmid_ds ds{};
    if (shmctl(id, IPC_STAT, &ds) < 0) return;
    void* p = shmat(id, nullptr, SHM_RDONLY);
    if (p == reinterpret_cast<void*>(-1)) return;
    s.shmid = id;
    st.seg = static_cast<const char*>(p);
    st.seg_size = std::min<size_t>(ds.shm_segsz, SHARED_MEMORY_SIZE);
}

// probe is one server's socket while count_servers talks to it.
struct probe {
    live_server_info* server;
    state* st;
    int fd = -1;
    bool connecting = false;  // else reading
    timespec deadline{};
};

void close_probe(probe& p) {
    held_fds.erase(p.fd);
    close(p.fd);
    p.fd = -1;
    p.server->client_fd = -1;
}

// start_connect starts a non-blocking connect to ip:port.
void start_connect(const info& in, probe& p) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(in.port);
    inet_pton(AF_INET, in.ip.c_str(), &addr.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) fail("socket");
    held_fds.insert(fd);
    p.fd = fd;
    if (fd >= FD_SETSIZE) {  // select cannot watch it: count the server unreachable
        close_probe(p);
        return;
    }
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
        p.st->connected = true;
        p.server->client_fd = fd;
        p.deadline = after(READ_TIMEOUT_SEC);
    } else if (errno == EINPROGRESS) {
        p.connecting = true;
        p.deadline = after(CONNECT_TIMEOUT_SEC);
    } else {
        close_probe(p);  // refused, unreachable: no socket channel
    }
}

// run_probes drives the connects and then the reads of a batch with select(2):
// a connect ends when the socket is writable (SO_ERROR says how) or after
// CONNECT_TIMEOUT_SEC; a read ends at EOF, after MAX_SOCKET_MESSAGE bytes or
// after READ_TIMEOUT_SEC.
void run_probes(std::vector<probe>& probes) {
    for (;;) {
        fd_set r, w;
        FD_ZERO(&r);
        FD_ZERO(&w);
        int nfds = 0;
        long wait_ms = -1;
        for (auto& p : probes) {
            if (p.fd < 0) continue;
            long left = ms_until(p.deadline);
            if (left == 0) {  // timed out: a connect counts as failed, a read keeps what came
                close_probe(p);
                continue;
            }
            FD_SET(p.fd, p.connecting ? &w : &r);
            nfds = std::max(nfds, p.fd + 1);
            wait_ms = wait_ms < 0 ? left : std::min(wait_ms, left);
        }
        if (nfds == 0) return;
        timeval tv{wait_ms / 1000, (wait_ms % 1000) * 1000};
        int n = select(nfds, &r, &w, nullptr, &tv);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fail("select");
        for (auto& p : probes) {
            if (p.fd < 0) continue;
            if (p.connecting && FD_ISSET(p.fd, &w)) {
                int err = 0;
                socklen_t len = sizeof err;
                if (getsockopt(p.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0) {
                    close_probe(p);
                    continue;
                }
                p.connecting = false;
                p.st->connected = true;
                p.server->client_fd = p.fd;
                p.deadline = after(READ_TIMEOUT_SEC);
            } else if (!p.connecting && FD_ISSET(p.fd, &r)) {
                char buf[4096];
                size_t room = MAX_SOCKET_MESSAGE - p.st->socket_msg.size();
                ssize_t got = recv(p.fd, buf, std::min(room, sizeof buf), 0);
                if (got < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
                if (got > 0) p.st->socket_msg.append(buf, got);
                if (got <= 0 || p.st->socket_msg.size() >= MAX_SOCKET_MESSAGE) close_probe(p);  // EOF, reset or full
            }
        }
    }
}

std::string shm_message(const state& st) {
    return st.seg ? std::string(st.seg, strnlen(st.seg, st.seg_size)) : "";
}

}  // namespace

int count_servers(const std::string& client_files_directory, std::vector<live_server_info>& servers) {
    DIR* d = opendir(client_files_directory.c_str());
    if (!d) fail("opendir " + client_files_directory);
    std::vector<std::string> names;
    errno = 0;
    while (dirent* e = readdir(d)) {
        struct stat st;
        std::string path = join(client_files_directory, e->d_name);
        if (e->d_name[0] != '.' && lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) names.push_back(e->d_name);
        errno = 0;
    }
    if (errno != 0) {
        int err = errno;
        closedir(d);
        errno = err;
        fail("readdir " + client_files_directory);
    }
    closedir(d);
    std::sort(names.begin(), names.end());

    size_t first = servers.size();
    std::vector<info> infos;
    for (const auto& name : names) {
        live_server_info s{-1, -1, -1, join(client_files_directory, name)};
        info in;
        std::string why;
        if (!parse_info(s.info_file_path, in, why)) {
            struct stat st;
            if (lstat(s.info_file_path.c_str(), &st) == 0)  // not a server that just finished and removed it
                std::cerr << "client: skipping info file " << s.info_file_path << ": " << why << std::endl;
            continue;
        }
        states[s.info_file_path] = state{};
        attach(in, s, states[s.info_file_path]);  // before connecting: the server may finish right after its message
        servers.push_back(s);
        infos.push_back(in);
    }
    for (size_t b = 0; b < infos.size(); b += BATCH) {
        std::vector<probe> probes;
        for (size_t i = b; i < std::min(infos.size(), b + BATCH); i++) {
            live_server_info& s = servers[first + i];
            probes.push_back(probe{&s, &states[s.info_file_path]});
            start_connect(infos[i], probes.back());
        }
        run_probes(probes);
    }
    return static_cast<int>(servers.size() - first);
}

void get_message_from_socket(live_server_info& server, std::string& msg) {
    msg = states[server.info_file_path].socket_msg;  // read by count_servers
}

void get_message_from_shm(live_server_info& server, std::string& msg) {
    msg = shm_message(states[server.info_file_path]);
}

void print_server_infos(const std::vector<live_server_info>& servers) {
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
        for (const std::string& m : {shm_message(st), st.socket_msg})
            if (!m.empty()) messages += " " + m;
    }
    std::cout << "Total Servers: " << servers.size() << "\nHost: " << host << "\nContainer: " << container
              << "\nVM: " << vm << "\nMessages:" << messages << std::endl;
}

void disconnect(std::vector<live_server_info>& servers) {
    for (auto& s : servers) {
        state& st = states[s.info_file_path];
        const char* seg = st.seg;
        st.seg = nullptr;
        if (seg && shmdt(seg) < 0) fail("shmdt");
        if (s.client_fd >= 0) {
            held_fds.erase(s.client_fd);
            close(s.client_fd);
        }
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
