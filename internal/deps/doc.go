// Package deps installs the Debian packages isolab needs on a machine: the
// container engines, QEMU and the tools that build the VM image, the
// namespace tools, and the compilers that build C++ submissions; and
// Apptainer, which Debian 12 lacks, from a relocatable build beside the
// checkout (../shared/apptainer) where there is one. The
// magefile's deps target, which every lab and conformance target runs
// first, calls it; .ci/run does too, on a fresh machine.
//
// It reads no environment variables; it runs apt-get with
// DEBIAN_FRONTEND=noninteractive.
package deps
