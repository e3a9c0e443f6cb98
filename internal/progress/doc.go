// Package progress waits for something that another program does, for as
// long as that program still makes progress: a guest whose console still
// advances, a server that still uses CPU time, a daemon whose log still
// grows. It fails at once when the program is gone, and after a stall (no
// progress at all for a while), never after a fixed time: on a busy machine
// everything is slower, and a limit that holds on a fast one breaks there.
// Every wait of isolab on another program goes through Wait.
//
// It reads no environment variables; callers pass their stall limits
// (internal/vm reads LAB_VM_STALL for its guests).
package progress
