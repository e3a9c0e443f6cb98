// globals.h: the course's shared declarations, as the exercise gives them.
// (testdata: a correct implementation, whose server resolves its own host name, for isolab's conformance harness)
#ifndef GLOBALS_H
#define GLOBALS_H

#include <string>

#define SHARED_MEMORY_SIZE 4096

struct live_server_info {
    int server_fd;
    int client_fd;
    int shmid;
    std::string info_file_path;
};

#endif
