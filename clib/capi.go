//go:build cgo

package main

/*
#include <stdlib.h>
#include <string.h>
#include "capi.h"
*/
import "C"

import (
	"fmt"
	"net/netip"
	"time"
	"unsafe"
)

// goString copies an isolab_str into Go memory.
func goString(s C.isolab_str) string {
	if s.n == 0 {
		return ""
	}
	return C.GoStringN(s.p, C.int(s.n))
}

// cError returns err's text malloc'd for C, or NULL for nil.
func cError(err error) *C.char {
	if err == nil {
		return nil
	}
	return C.CString(oneLine(err.Error()))
}

// oneLine joins the lines of an errors.Join result, so stderr gets exactly one.
func oneLine(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c == '\n' {
			b[i] = ';'
		}
	}
	return string(b)
}

// cBytes returns s malloc'd with a NUL after it (s itself may hold NULs).
func cBytes(s string) (*C.char, C.size_t) {
	p := (*C.char)(C.malloc(C.size_t(len(s) + 1)))
	if len(s) > 0 {
		C.memcpy(unsafe.Pointer(p), unsafe.Pointer(unsafe.StringData(s)), C.size_t(len(s)))
	}
	*(*byte)(unsafe.Add(unsafe.Pointer(p), len(s))) = 0
	return p, C.size_t(len(s))
}

// getenv wraps getenv(3): unlike os.Getenv, it sees what the C++ program set
// after the Go runtime started.
func getenv(name string) string {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	v := C.getenv(cname)
	if v == nil {
		return ""
	}
	return C.GoString(v)
}

// envIP reads ISOLAB_IP; the zero Addr means the server's default choice.
func envIP() (netip.Addr, error) {
	v := getenv("ISOLAB_IP")
	if v == "" {
		return netip.Addr{}, nil
	}
	a, err := netip.ParseAddr(v)
	if err != nil || !a.Is4() {
		return netip.Addr{}, fmt.Errorf("ISOLAB_IP=%q is not an IPv4 address", v)
	}
	return a, nil
}

// envDuration reads a duration variable; 0 means the default.
func envDuration(name string) (time.Duration, error) {
	v := getenv(name)
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s=%q is not a positive duration (e.g. 5s)", name, v)
	}
	return d, nil
}
