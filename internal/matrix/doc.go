// Package matrix runs one isolab server in each isolation variant the exercise
// asks about (host; Docker with its defaults, --ipc=host, --network=host,
// --network=none and both; rootful Podman; Apptainer with its defaults and
// --containall; a QEMU VM; a host process under unshare --ipc and --ipc --net),
// records what the client on the host saw of each, and renders that as a
// table: shared memory and socket seen or not, the class the client gave, the
// class a reader would expect, and why the rule misleads where it does. The
// rendering is a pure function of the measurements, so the table in
// docs/ANSWERS.md is regenerated from docs/matrix.json and checked by a test.
//
// Environment variables it reads:
//
//	LAB_MATRIX_DOCS  1 also writes docs/matrix.json and the table in docs/ANSWERS.md
//
// and, through internal/lab, LAB_DIR, LAB_ACCEL and LAB_APPTAINER_FLAGS
// (LAB_SCENARIO and LAB_ENGINE do not apply: the matrix brings its own
// scenario and runs Docker and Podman rows each with its engine).
package matrix
