// server.h: the course's server API, as the exercise gives it.
// A failed system call prints "system error: ..." on stderr and exits 1.
#ifndef SERVER_H
#define SERVER_H

#include <string>
#include "globals.h"

struct server_setup_information {
    unsigned short port;
    std::string shm_pathname;
    int shm_proj_id;
    std::string info_file_name;
    std::string info_file_directory;
};

void start_communication(const server_setup_information& setup_info, live_server_info& server);
void create_info_file(const server_setup_information& setup_info, live_server_info& server);
void get_connection(live_server_info& server);
void write_to_socket(const live_server_info& server, const std::string& msg);
void write_to_shm(const live_server_info& server, const std::string& msg);
void shutdown(const live_server_info& server);
void run(const server_setup_information& setup_info, const std::string& shm_msg, const std::string& socket_msg);

#endif
