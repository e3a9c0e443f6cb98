// main.cpp: a C++ program written against the course headers alone, as a
// student's test program would be. The clib test links it with isolab's
// libserver.a, libclient.a or both, and runs a host scenario with it.
//
//   main server PORT SHM_PATH PROJ_ID INFO_DIR INFO_NAME SHM_MSG SOCKET_MSG   (one spec function at a time)
//   main run-server PORT SHM_PATH PROJ_ID INFO_DIR INFO_NAME SHM_MSG SOCKET_MSG
//   main client DIR       (count_servers, get_message_*, print_server_infos, disconnect)
//   main run-client DIR
//
// Diagnostics go to stderr; stdout holds only what the library prints.
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "client.h"
#include "globals.h"
#include "server.h"

static int usage() {
    std::cerr << "usage: main server|run-server PORT SHM_PATH PROJ_ID INFO_DIR INFO_NAME SHM_MSG SOCKET_MSG | client|run-client DIR"
              << std::endl;
    return 2;
}

static int fail(const std::string& what) {
    std::cerr << "main: " << what << std::endl;
    return 3;
}

int main(int argc, char** argv) {
    if (argc < 2) return usage();
    std::string mode = argv[1];
    if ((mode == "server" || mode == "run-server") && argc == 9) {
        server_setup_information setup{static_cast<unsigned short>(std::atoi(argv[2])), argv[3], std::atoi(argv[4]),
                                       argv[6], argv[5]};
        if (mode == "run-server") {
            run(setup, argv[7], argv[8]);
            return 0;
        }
        live_server_info server{-1, -1, -1, ""};
        start_communication(setup, server);
        if (server.server_fd < 0 || server.shmid < 0 || server.client_fd != -1)
            return fail("start_communication left server_fd " + std::to_string(server.server_fd) + ", shmid " +
                        std::to_string(server.shmid));
        write_to_shm(server, argv[7]);
        create_info_file(setup, server);
        if (server.info_file_path != std::string(argv[5]) + "/" + argv[6])
            return fail("create_info_file set info_file_path " + server.info_file_path);
        live_server_info copy = server;  // copies keep working
        get_connection(copy);            // no client (timeout, SIGTERM): client_fd -1
        write_to_socket(copy, argv[8]);  // ... and then this sends nothing
        shutdown(copy);
        shutdown(server);  // a second shutdown is harmless
        return 0;
    }
    if (mode == "client" && argc == 3) {
        std::vector<live_server_info> servers;
        int n = count_servers(argv[2], servers);
        if (n != static_cast<int>(servers.size()))
            return fail("count_servers returned " + std::to_string(n) + " for " + std::to_string(servers.size()));
        for (auto& s : servers) {
            std::string shm_msg, socket_msg;
            get_message_from_shm(s, shm_msg);
            get_message_from_socket(s, socket_msg);
            std::cerr << "main: " << s.info_file_path << " shmid " << s.shmid << " shm \"" << shm_msg
                      << "\" socket \"" << socket_msg << "\"" << std::endl;
        }
        print_server_infos(servers);
        disconnect(servers);
        return 0;
    }
    if (mode == "run-client" && argc == 3) {
        run(std::string(argv[2]));
        return 0;
    }
    return usage();
}
