// Package shm wraps System V shared memory as the exercise uses it: ftok(3)
// computed in Go exactly as glibc does, and shmget(2), shmat(2), shmdt(2) and
// shmctl(2) with errors that name the call. Segments are the exercise's fixed
// 4096 bytes, with the message at offset 0 followed by a NUL byte.
//
// It reads no environment variables.
package shm
