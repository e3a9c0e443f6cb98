// Package stress makes the machine busy for the length of a test binary:
// the tests that wait on other programs (servers, containers, guests) must
// pass on a busy machine too, where everything takes longer, and this is
// how they are tried there:
//
//	ISOLAB_TEST_HOG=2 go test -run 'Integration(Envs|Lab)' -count 3 ./internal/conformance ./internal/lab
//
// runs two CPU-bound loops (each `sh -c 'while :; do :; done'`, as CI's
// busy loops are) beside the tests, and stops them when the tests end.
//
// Environment variables it reads:
//
//	ISOLAB_TEST_HOG  how many CPU-bound loops to run beside the tests (default 0)
package stress
