// server.cpp: the exercise's server, correct in every respect isolab's
// conformance harness checks, and slow the way course code can be: it
// writes its info file in place, as the exercise shows (create the file,
// then its lines), in two steps with a pause of PAUSE_MS between them, so
// that for that long a reader finds the file there but half written.
// Testdata for isolab's conformance harness, which must start a client only
// once every server's info file is complete: a client that reads this one
// early leaves the server out (or reports the file malformed). Its address
// comes from gethostname(2) and gethostbyname(3), as in
// conformance/testdata/hostname-lookup, so it works in every column.
//
// What it does right, where the flawed servers of conformance/testdata do not:
//  - write_to_shm writes the message with its NUL
//  - write_to_socket closes the connection right after the message
//  - shutdown keeps the segment until a client attached it (IPC_STAT
//    shm_nattch > 0 or shm_lpid not its own pid) or 10 s after the socket
//    message, and removes it at once when no client came
//  - shutdown removes the info file
//  - SIGTERM and SIGINT end the wait for a client (and for a late one) and
//    everything is still released; the process exits 0
//  - a failed system call releases everything taken, then prints one
//    "system error: ..." line and exits 1
//  - a segment left by a server that died (creator gone, nobody attached) is
//    taken back instead of read over
#include "server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/ipc.h>
#include <sys/select.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iostream>
#include <map>
#include <set>

namespace {

const int ACCEPT_TIMEOUT_SEC = 120;  // get_connection waits this long for a client
const int GRACE_SEC = 10;            // shutdown keeps an unattached segment this long after the message
const int SEND_TIMEOUT_SEC = 5;      // a client that never reads cannot hold the server longer
const int POLL_MS = 20;              // how often shutdown looks for a late client
const int PAUSE_MS = 3000;           // between the two halves of the info file

// held is everything this process has taken and must give back, so that a
// failure anywhere releases all of it before the process exits.
struct {
    std::set<int> fds;
    std::set<int> shmids;
    std::set<std::string> files;
} held;

// server_state is what a server needs beyond the course's live_server_info,
// keyed by its server_fd (write_to_socket and shutdown get the struct const).
struct server_state {
    std::string ip;              // the address it listens on and advertises
    bool connected = false;      // a client was accepted
    bool client_closed = false;  // write_to_socket closed client_fd
    timespec sent{};             // when the socket message went out
};
std::map<int, server_state> states;

// The self-pipe that SIGTERM and SIGINT write to: every wait selects on its
// read end, so a signal ends it even when it arrives just before select. It
// lives as long as the process, so the handler never writes to a closed or
// reused descriptor.
int wake[2] = {-1, -1};
volatile sig_atomic_t stop_requested = 0;

void on_signal(int) {
    int saved = errno;
    stop_requested = 1;
    if (wake[1] >= 0) {
        ssize_t n = write(wake[1], "x", 1);
        (void)n;
    }
    errno = saved;
}

void release_all() {
    for (int fd : held.fds) close(fd);
    for (int id : held.shmids) shmctl(id, IPC_RMID, nullptr);
    for (const std::string& f : held.files) unlink(f.c_str());
    held.fds.clear();
    held.shmids.clear();
    held.files.clear();
}

// fail releases everything taken, then prints the exercise's one line and exits 1.
[[noreturn]] void fail(const std::string& what, int err) {
    release_all();
    std::cerr << "system error: " << what << ": " << std::strerror(err) << std::endl;
    std::exit(1);
}

[[noreturn]] void fail(const std::string& what) { fail(what, errno); }

void install_signal_handlers() {
    static bool installed = false;
    if (installed) return;
    if (pipe2(wake, O_CLOEXEC | O_NONBLOCK) < 0) fail("pipe2");
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: a wait sees EINTR, and the pipe besides
    if (sigaction(SIGTERM, &sa, nullptr) < 0 || sigaction(SIGINT, &sa, nullptr) < 0) fail("sigaction");
    installed = true;
}

timespec now() {
    timespec t{};
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t;
}

// ms_until is the time from now to t in milliseconds, 0 once t has passed.
long ms_until(const timespec& t) {
    timespec n = now();
    long ms = (t.tv_sec - n.tv_sec) * 1000 + (t.tv_nsec - n.tv_nsec) / 1000000;
    return ms > 0 ? ms : 0;
}

timespec after(const timespec& t, int sec) {
    timespec r = t;
    r.tv_sec += sec;
    return r;
}

// wait_readable waits with select(2) until fd is readable, the wake pipe is
// (a signal came), or ms milliseconds pass. It returns 1, -1 (woken) or 0.
int wait_readable(int fd, long ms) {
    if (stop_requested) return -1;
    if (fd >= FD_SETSIZE || wake[0] >= FD_SETSIZE) {
        errno = EMFILE;
        fail("select");
    }
    fd_set r;
    FD_ZERO(&r);
    FD_SET(wake[0], &r);
    if (fd >= 0) FD_SET(fd, &r);
    timeval tv{ms / 1000, (ms % 1000) * 1000};
    int n = select(std::max(fd, wake[0]) + 1, &r, nullptr, nullptr, &tv);
    if (n < 0 && errno == EINTR) return stop_requested ? -1 : 0;
    if (n < 0) fail("select");
    if (n == 0) return 0;
    if (FD_ISSET(wake[0], &r) || stop_requested) return -1;
    return 1;
}

// host_ip is the course's way to find the server's address: the first IPv4
// address of the machine's own host name.
std::string host_ip() {
    char name[HOST_NAME_MAX + 1] = {};
    if (gethostname(name, sizeof name - 1) < 0) fail("gethostname");
    h_errno = 0;
    hostent* h = gethostbyname(name);
    if (!h) {
        std::cerr << "system error: host lookup failed: " << name << ": " << hstrerror(h_errno) << std::endl;
        std::exit(1);
    }
    if (h->h_addrtype != AF_INET || h->h_length != 4 || !h->h_addr_list[0]) {
        std::cerr << "system error: host lookup failed: " << name << ": no IPv4 address" << std::endl;
        std::exit(1);
    }
    char buf[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, h->h_addr_list[0], buf, sizeof buf);
    return buf;
}

bool process_alive(pid_t pid) {
    if (pid <= 0) return true;  // a creator in another pid namespace: it may well be alive
    return kill(pid, 0) == 0 || errno == EPERM;
}

// create_segment makes a new segment for key. One that already exists and
// was left by a server that died (its creator is gone and nobody is attached)
// is removed first, so the message never lands over what a crashed run left;
// one still in use is refused with EEXIST.
int create_segment(key_t key) {
    int id = shmget(key, SHARED_MEMORY_SIZE, IPC_CREAT | IPC_EXCL | 0644);
    if (id >= 0 || errno != EEXIST) return id;
    int old = shmget(key, 0, 0);
    shmid_ds ds{};
    if (old < 0 || shmctl(old, IPC_STAT, &ds) < 0 || ds.shm_nattch > 0 || process_alive(ds.shm_cpid)) {
        errno = EEXIST;
        return -1;
    }
    if (shmctl(old, IPC_RMID, nullptr) < 0) return -1;
    return shmget(key, SHARED_MEMORY_SIZE, IPC_CREAT | IPC_EXCL | 0644);
}

std::string join(const std::string& dir, const std::string& name) {
    return !dir.empty() && dir.back() == '/' ? dir + name : dir + "/" + name;
}

void write_all(int fd, const std::string& data, const std::string& what) {
    for (size_t off = 0; off < data.size();) {
        ssize_t n = write(fd, data.data() + off, data.size() - off);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fail(what);
        off += n;
    }
}

}  // namespace

void start_communication(const server_setup_information& setup_info, live_server_info& server) {
    server.server_fd = server.client_fd = server.shmid = -1;
    server.info_file_path.clear();
    install_signal_handlers();
    std::string ip = host_ip();
    key_t key = ftok(setup_info.shm_pathname.c_str(), setup_info.shm_proj_id);
    if (key == -1) fail("ftok " + setup_info.shm_pathname);

    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) fail("socket");
    held.fds.insert(fd);
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) fail("setsockopt SO_REUSEADDR");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(setup_info.port);
    inet_pton(AF_INET, ip.c_str(), &addr.sin_addr);
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0)
        fail("bind " + ip + ":" + std::to_string(setup_info.port));
    if (listen(fd, 5) < 0) fail("listen");
    // Non-blocking, so that accept after select never blocks on a client that
    // went away in between.
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) fail("fcntl");

    int id = create_segment(key);
    if (id < 0) fail("shmget " + setup_info.shm_pathname);
    held.shmids.insert(id);

    server.server_fd = fd;
    server.shmid = id;
    states[fd] = server_state{};
    states[fd].ip = ip;
}

void create_info_file(const server_setup_information& setup_info, live_server_info& server) {
    std::string path = join(setup_info.info_file_directory, setup_info.info_file_name);
    // In place, not atomically: first the address, then, after a pause, the
    // segment's key. Readable by clients of any uid, whatever the umask.
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) fail("open " + path);
    held.fds.insert(fd);
    held.files.insert(path);
    if (fchmod(fd, 0644) < 0) fail("fchmod " + path);
    write_all(fd, states[server.server_fd].ip + "\n" + std::to_string(setup_info.port) + "\n", "write " + path);
    timespec pause = {PAUSE_MS / 1000, (PAUSE_MS % 1000) * 1000000L};
    while (nanosleep(&pause, &pause) < 0 && errno == EINTR && !stop_requested) {
    }
    write_all(fd, setup_info.shm_pathname + "\n" + std::to_string(setup_info.shm_proj_id) + "\n", "write " + path);
    held.fds.erase(fd);
    if (close(fd) < 0) fail("close " + path);
    server.info_file_path = path;
}

void get_connection(live_server_info& server) {
    timespec deadline = after(now(), ACCEPT_TIMEOUT_SEC);
    for (;;) {
        long left = ms_until(deadline);
        if (left == 0) return;  // no client: write_to_socket sends nothing
        int r = wait_readable(server.server_fd, left);
        if (r < 0) return;  // SIGTERM or SIGINT: stop waiting, shutdown releases everything
        if (r == 0) continue;
        int fd = accept4(server.server_fd, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ECONNABORTED || errno == EINTR)) continue;
        if (fd < 0) fail("accept");
        held.fds.insert(fd);
        timeval tv{SEND_TIMEOUT_SEC, 0};
        if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0) fail("setsockopt SO_SNDTIMEO");
        server.client_fd = fd;
        states[server.server_fd].connected = true;
        return;
    }
}

void write_to_socket(const live_server_info& server, const std::string& msg) {
    server_state& st = states[server.server_fd];
    if (server.client_fd < 0 || st.client_closed) return;  // no client came
    // The message's bytes alone: no NUL, no newline.
    for (size_t off = 0; off < msg.size();) {
        ssize_t n = send(server.client_fd, msg.data() + off, msg.size() - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fail("send");
        off += n;
    }
    // Close right away: a client reading until EOF has the whole message now.
    held.fds.erase(server.client_fd);
    st.client_closed = true;
    st.sent = now();
    if (close(server.client_fd) < 0) fail("close");
}

void write_to_shm(const live_server_info& server, const std::string& msg) {
    if (msg.size() + 1 > SHARED_MEMORY_SIZE) fail("write_to_shm: message of " + std::to_string(msg.size()) + " bytes", EMSGSIZE);
    void* p = shmat(server.shmid, nullptr, 0);
    if (p == reinterpret_cast<void*>(-1)) fail("shmat");
    std::memcpy(p, msg.c_str(), msg.size() + 1);  // with its NUL
    // Detach at once: from now on an attach is a client's (shutdown relies on it).
    if (shmdt(p) < 0) fail("shmdt");
}

void shutdown(const live_server_info& server) {
    server_state st = states[server.server_fd];
    states.erase(server.server_fd);
    if (server.client_fd >= 0 && !st.client_closed) {
        held.fds.erase(server.client_fd);
        if (close(server.client_fd) < 0) fail("close");
    }
    if (server.server_fd >= 0) {
        held.fds.erase(server.server_fd);
        if (close(server.server_fd) < 0) fail("close");
    }
    // The info file goes first, so that no new client finds a closed server.
    if (!server.info_file_path.empty()) {
        held.files.erase(server.info_file_path);
        if (unlink(server.info_file_path.c_str()) < 0) fail("unlink " + server.info_file_path);
    }
    if (server.shmid < 0) return;
    // A client that connected may attach the segment after it read the socket:
    // keep the segment until some process other than this one attached it, or
    // for GRACE_SEC after the message. With no client, it goes at once.
    if (st.connected) {
        timespec deadline = after(st.client_closed ? st.sent : now(), GRACE_SEC);
        for (;;) {
            shmid_ds ds{};
            if (shmctl(server.shmid, IPC_STAT, &ds) < 0) fail("shmctl IPC_STAT");
            if (ds.shm_nattch > 0 || ds.shm_lpid != getpid()) break;
            long left = ms_until(deadline);
            if (left == 0 || wait_readable(-1, std::min<long>(left, POLL_MS)) < 0) break;
        }
    }
    held.shmids.erase(server.shmid);
    if (shmctl(server.shmid, IPC_RMID, nullptr) < 0) fail("shmctl IPC_RMID");
}

void run(const server_setup_information& setup_info, const std::string& shm_msg, const std::string& socket_msg) {
    live_server_info server{-1, -1, -1, ""};
    start_communication(setup_info, server);
    // The segment is written before the info file, so no client attaches it empty.
    write_to_shm(server, shm_msg);
    create_info_file(setup_info, server);
    get_connection(server);
    write_to_socket(server, socket_msg);
    shutdown(server);
}
