// Command lab-init is PID 1 of isolab's VM guest: it sets the guest up, runs
// the server from the lab's shared directory and powers off when it exits.
// scripts/vm-image.sh puts it at /init in the guest's initramfs; see
// internal/vm/guestinit.
package main

import "github.com/isolab/isolab/internal/vm/guestinit"

func main() { guestinit.Main() }
