//go:build cgo

package main

/*
#include <stdlib.h>
#include "capi.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime/cgo"
	"strings"
	"unsafe"

	"github.com/isolab/isolab/client"
)

// options reads ISOLAB_CONNECT_TIMEOUT and ISOLAB_READ_TIMEOUT.
func options() (client.Options, error) {
	var opt client.Options
	var err, e error
	opt.ConnectTimeout, err = envDuration("ISOLAB_CONNECT_TIMEOUT")
	opt.ReadTimeout, e = envDuration("ISOLAB_READ_TIMEOUT")
	return opt, errors.Join(err, e)
}

// skippedText is one stderr line per info file left out, as cmd/client prints.
func skippedText(skipped []client.Skipped) *C.char {
	if len(skipped) == 0 {
		return nil
	}
	var b strings.Builder
	for _, s := range skipped {
		fmt.Fprintf(&b, "client: skipped info file %s: %v\n", s.File, s.Err)
	}
	return C.CString(b.String())
}

// handles reads n handles from C; 0 stands for an entry the library never made.
func handles(hs *C.uintptr_t, n C.int) []*client.Server {
	if n <= 0 {
		return nil
	}
	out := make([]*client.Server, 0, int(n))
	for _, h := range unsafe.Slice(hs, int(n)) {
		if h == 0 {
			out = append(out, &client.Server{ClientFD: -1, ShmID: -1})
			continue
		}
		out = append(out, cgo.Handle(h).Value().(*client.Server))
	}
	return out
}

// isolab_count_servers is count_servers: client.CountServers, which probes
// every server at once and reads each socket message (then closes the socket,
// so client_fd is -1). out gets one malloc'd entry per server, sorted by file
// name; skipped gets the stderr lines for malformed info files.
//
//export isolab_count_servers
func isolab_count_servers(dir C.isolab_str, out **C.isolab_live, n *C.int, skipped **C.char) *C.char {
	opt, err := options()
	if err != nil {
		return cError(err)
	}
	d := goString(dir)
	servers, sk, err := client.CountServers(d, opt)
	if err != nil {
		return cError(err)
	}
	*skipped = skippedText(sk)
	*n = C.int(len(servers))
	*out = nil
	if len(servers) == 0 {
		return nil
	}
	*out = (*C.isolab_live)(C.calloc(C.size_t(len(servers)), C.size_t(unsafe.Sizeof(C.isolab_live{}))))
	entries := unsafe.Slice(*out, len(servers))
	for i, s := range servers {
		entries[i].handle = C.uintptr_t(cgo.NewHandle(s))
		entries[i].server_fd = -1
		entries[i].client_fd = C.int(s.ClientFD)
		entries[i].shmid = C.int(s.ShmID)
		entries[i].info_file_path, _ = cBytes(strings.TrimSuffix(d, "/") + "/" + s.File)
	}
	return nil
}

// isolab_get_message_from_socket is get_message_from_socket:
// client.GetMessageFromSocket. It returns 1 and a malloc'd message when one
// arrived, else 0.
//
//export isolab_get_message_from_socket
func isolab_get_message_from_socket(h C.uintptr_t, msg **C.char, n *C.size_t) C.int {
	if h == 0 {
		return 0
	}
	m, ok := client.GetMessageFromSocket(cgo.Handle(h).Value().(*client.Server), 0)
	if !ok {
		return 0
	}
	*msg, *n = cBytes(m)
	return 1
}

// isolab_get_message_from_shm is get_message_from_shm: client.GetMessageFromShm.
//
//export isolab_get_message_from_shm
func isolab_get_message_from_shm(h C.uintptr_t, msg **C.char, n *C.size_t) C.int {
	if h == 0 {
		return 0
	}
	m, ok := client.GetMessageFromShm(cgo.Handle(h).Value().(*client.Server))
	if !ok {
		return 0
	}
	*msg, *n = cBytes(m)
	return 1
}

// isolab_print_server_infos is print_server_infos: it returns the five lines
// (malloc'd) for the shim to write on std::cout, so they keep their place
// among the program's own output.
//
//export isolab_print_server_infos
func isolab_print_server_infos(hs *C.uintptr_t, n C.int) *C.char {
	return C.CString(client.Summarize(handles(hs, n)).String())
}

// isolab_disconnect is disconnect: client.Disconnect. The handles are gone
// afterwards.
//
//export isolab_disconnect
func isolab_disconnect(hs *C.uintptr_t, n C.int) *C.char {
	servers := handles(hs, n)
	err := client.Disconnect(servers)
	if n > 0 {
		for _, h := range unsafe.Slice(hs, int(n)) {
			if h != 0 {
				cgo.Handle(h).Delete()
			}
		}
	}
	if err != nil {
		return cError(fmt.Errorf("disconnect: %w", err))
	}
	return nil
}

// isolab_client_run is the client's run: client.Run, returning the five lines
// and the skipped-file lines (both malloc'd) for the shim to print.
//
//export isolab_client_run
func isolab_client_run(dir C.isolab_str, text **C.char, skipped **C.char) *C.char {
	opt, err := options()
	if err != nil {
		return cError(err)
	}
	var b strings.Builder
	res, err := client.Run(&b, goString(dir), opt)
	*text = C.CString(b.String())
	sk := make([]client.Skipped, 0, len(res.Skipped))
	for _, s := range res.Skipped {
		sk = append(sk, client.Skipped{File: s.File, Err: errors.New(s.Error)})
	}
	*skipped = skippedText(sk)
	return cError(err)
}
