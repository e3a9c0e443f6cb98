// Package infofile reads and writes the exercise's server info file: four lines,
// IP, port, shm pathname and proj_id, each ending in a newline. Servers write it
// atomically into a shared directory; the client lists and parses every file there.
// The directory may be written by other machines, so the parser trusts nothing.
//
// It reads no environment variables.
package infofile
