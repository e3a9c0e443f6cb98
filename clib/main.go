package main

// main is required by -buildmode=c-archive and never runs: the C++ program has
// its own.
func main() {}
