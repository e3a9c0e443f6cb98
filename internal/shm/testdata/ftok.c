/* ftok prints the C library's ftok(3) key for each PATH PROJ_ID pair, one
 * decimal key_t per line, so that shm's Go ftok can be checked against it. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/ipc.h>

int main(int argc, char **argv)
{
	if (argc < 3 || argc % 2 != 1) {
		fprintf(stderr, "usage: ftok PATH PROJ_ID [PATH PROJ_ID...]\n");
		return 2;
	}
	for (int i = 1; i + 1 < argc; i += 2) {
		key_t k = ftok(argv[i], atoi(argv[i + 1]));
		if (k == -1) {
			perror(argv[i]);
			return 1;
		}
		printf("%d\n", (int)k);
	}
	return 0;
}
