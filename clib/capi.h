/*
 * capi.h: the C functions that clib exports from Go, for the C++ shims in
 * cxx/ that implement the course's server.h and client.h. cgo checks these
 * prototypes against the Go exports when it builds the archive.
 *
 * Strings go in as (pointer, length) and come out malloc'd: the caller frees
 * them. A function that can fail returns NULL, or a malloc'd error text that
 * the shim prints as "system error: <text>" before it exits 1. Go state lives
 * behind cgo handles (uintptr_t); 0 is no handle.
 */
#ifndef ISOLAB_CAPI_H
#define ISOLAB_CAPI_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
	const char *p;
	size_t n;
} isolab_str;

typedef struct {
	int port;
	isolab_str shm_pathname;
	int shm_proj_id;
	isolab_str info_file_name;
	isolab_str info_file_directory;
} isolab_setup;

typedef struct {
	uintptr_t handle;
	int server_fd;
	int client_fd;
	int shmid;
	char *info_file_path; /* malloc'd, or NULL */
} isolab_live;

#ifdef __cplusplus
extern "C" {
#endif

/* Server: server.Live behind a handle. */
extern char *isolab_start_communication(isolab_setup *setup, isolab_live *out);
extern char *isolab_create_info_file(uintptr_t h, isolab_live *out);
extern char *isolab_get_connection(uintptr_t h, isolab_live *out);
extern char *isolab_write_to_socket(uintptr_t h, isolab_str msg);
extern char *isolab_write_to_shm(uintptr_t h, isolab_str msg);
extern char *isolab_shutdown(uintptr_t h);
extern char *isolab_server_run(isolab_setup *setup, isolab_str shm_msg, isolab_str socket_msg);

/* Client: one client.Server behind each handle. */
extern char *isolab_count_servers(isolab_str dir, isolab_live **out, int *n, char **skipped);
extern int isolab_get_message_from_socket(uintptr_t h, char **msg, size_t *n);
extern int isolab_get_message_from_shm(uintptr_t h, char **msg, size_t *n);
extern char *isolab_print_server_infos(uintptr_t *hs, int n);
extern char *isolab_disconnect(uintptr_t *hs, int n);
extern char *isolab_client_run(isolab_str dir, char **text, char **skipped);

#ifdef __cplusplus
}
#endif

#endif
