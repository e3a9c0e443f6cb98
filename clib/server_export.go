//go:build cgo

package main

/*
#include "capi.h"
*/
import "C"

import (
	"context"
	"errors"
	"os/signal"
	"runtime/cgo"
	"syscall"

	"github.com/isolab/isolab/server"
)

// setupFrom converts the C setup and applies ISOLAB_IP, ISOLAB_ACCEPT_TIMEOUT
// and ISOLAB_GRACE.
func setupFrom(s *C.isolab_setup) (server.Setup, error) {
	setup := server.Setup{
		Port:              int(s.port),
		ShmPathname:       goString(s.shm_pathname),
		ShmProjID:         int(s.shm_proj_id),
		InfoFileName:      goString(s.info_file_name),
		InfoFileDirectory: goString(s.info_file_directory),
	}
	var err, e error
	setup.IP, err = envIP()
	setup.AcceptTimeout, e = envDuration("ISOLAB_ACCEPT_TIMEOUT")
	err = errors.Join(err, e)
	setup.Grace, e = envDuration("ISOLAB_GRACE")
	return setup, errors.Join(err, e)
}

func live(h C.uintptr_t) *server.Live { return cgo.Handle(h).Value().(*server.Live) }

// fill copies the descriptors the course's live_server_info shows.
func fill(out *C.isolab_live, h cgo.Handle, l *server.Live) {
	out.handle = C.uintptr_t(h)
	out.server_fd = C.int(l.ServerFD)
	out.client_fd = C.int(l.ClientFD)
	out.shmid = C.int(l.ShmID)
}

// release is the error path of every step: the shim exits 1 after it, so the
// server gives back its socket, segment and info file first.
func release(h C.uintptr_t, err error) *C.char {
	l := live(h)
	cgo.Handle(h).Delete()
	return cError(errors.Join(err, server.Shutdown(l)))
}

// onSignal makes SIGINT and SIGTERM interrupt l's waits (for a client, for a
// late attach) for as long as the returned stop is not called.
func onSignal(l *server.Live) (stop func()) {
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	after := context.AfterFunc(ctx, l.Interrupt)
	return func() { after(); cancel() }
}

// isolab_start_communication is start_communication: server.StartCommunication.
//
//export isolab_start_communication
func isolab_start_communication(s *C.isolab_setup, out *C.isolab_live) *C.char {
	setup, err := setupFrom(s)
	if err != nil {
		return cError(err)
	}
	l, err := server.StartCommunication(setup)
	if err != nil {
		return cError(err) // StartCommunication released what it took
	}
	fill(out, cgo.NewHandle(l), l)
	return nil
}

// isolab_create_info_file is create_info_file: server.CreateInfoFile.
//
//export isolab_create_info_file
func isolab_create_info_file(h C.uintptr_t, out *C.isolab_live) *C.char {
	l := live(h)
	if err := server.CreateInfoFile(l); err != nil {
		return release(h, err)
	}
	out.info_file_path, _ = cBytes(l.InfoFilePath)
	return nil
}

// isolab_get_connection is get_connection: server.GetConnection. No client
// before the accept timeout, or SIGINT/SIGTERM while waiting, leaves client_fd
// at -1 and is no error: write_to_socket then sends nothing.
//
//export isolab_get_connection
func isolab_get_connection(h C.uintptr_t, out *C.isolab_live) *C.char {
	l := live(h)
	stop := onSignal(l)
	err := server.GetConnection(l)
	stop()
	if err != nil && !errors.Is(err, server.ErrNoClient) && !errors.Is(err, server.ErrInterrupted) {
		return release(h, err)
	}
	out.client_fd = C.int(l.ClientFD)
	return nil
}

// isolab_write_to_socket is write_to_socket: server.WriteToSocket, or nothing
// when no client connected.
//
//export isolab_write_to_socket
func isolab_write_to_socket(h C.uintptr_t, msg C.isolab_str) *C.char {
	l := live(h)
	if l.ClientFD < 0 {
		return nil
	}
	if err := server.WriteToSocket(l, goString(msg)); err != nil {
		return release(h, err)
	}
	return nil
}

// isolab_write_to_shm is write_to_shm: server.WriteToShm.
//
//export isolab_write_to_shm
func isolab_write_to_shm(h C.uintptr_t, msg C.isolab_str) *C.char {
	if err := server.WriteToShm(live(h), goString(msg)); err != nil {
		return release(h, err)
	}
	return nil
}

// isolab_shutdown is shutdown: server.Shutdown. The handle is gone afterwards.
//
//export isolab_shutdown
func isolab_shutdown(h C.uintptr_t) *C.char {
	l := live(h)
	cgo.Handle(h).Delete()
	stop := onSignal(l)
	defer stop()
	return cError(server.Shutdown(l))
}

// isolab_server_run is the server's run: server.Run, which SIGINT and SIGTERM
// end early (everything is still released).
//
//export isolab_server_run
func isolab_server_run(s *C.isolab_setup, shmMsg, socketMsg C.isolab_str) *C.char {
	setup, err := setupFrom(s)
	if err != nil {
		return cError(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return cError(server.Run(ctx, setup, goString(shmMsg), goString(socketMsg)))
}
