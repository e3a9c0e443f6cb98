// Command clib is isolab's server and client packages exported through cgo, for
// the course's C++ API: built with -buildmode=c-archive and joined with the C++
// shims in cxx/ (which convert std::string and std::vector and call the
// exports declared in capi.h), it becomes libserver.a and libclient.a behind
// the exercise's headers in include/. internal/submission.BuildCLib does that;
// the Go state of each server and client entry lives behind a cgo handle.
//
// The course API has no parameter for the server's address or the timeouts, so
// the exports read them from the environment (with getenv(3), so that a C++
// main may setenv(3) them before the first call):
//
//	ISOLAB_IP               IPv4 address servers listen on (default: the default route's interface, else the first up non-loopback, else 127.0.0.1)
//	ISOLAB_ACCEPT_TIMEOUT   how long get_connection waits for a client (default 120s)
//	ISOLAB_GRACE            how long shutdown keeps an unattached segment for a late client (default 10s)
//	ISOLAB_CONNECT_TIMEOUT  bound on each connect of count_servers (default 5s)
//	ISOLAB_READ_TIMEOUT     bound on reading each socket message (default 5s)
package main
