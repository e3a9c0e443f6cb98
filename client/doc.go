// Package client is the exercise's client library in Go: count_servers,
// print_server_infos, get_message_from_socket, get_message_from_shm, disconnect
// and run. It reads every info file in a shared directory, tries each server's
// shared-memory segment (never creating one) and TCP socket, all servers at
// once, and classes each server by what worked: both channels, Host; neither,
// VM; exactly one, Container.
//
// It reads no environment variables.
package client
