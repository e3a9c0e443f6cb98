// Package testnet gives tests loopback endpoints with a known behaviour: a free
// port on 127.0.0.1, and a listener whose accept queue is full, so that every
// new connect(2) to it hangs until the caller's timeout (the kernel drops the
// SYNs). Nothing here leaves 127.0.0.1.
//
// It reads no environment variables.
package testnet
