// Package server is the exercise's server library in Go: one function per spec
// function (start_communication, create_info_file, get_connection,
// write_to_socket, write_to_shm, shutdown, run) over Setup
// (server_setup_information) and Live (live_server_info). A server offers one
// message over System V shared memory and another over a TCP socket, and
// advertises both through an info file in a shared directory; a client that
// reaches both runs on the same host.
//
// Functions return errors and never exit. It reads no environment variables.
package server
