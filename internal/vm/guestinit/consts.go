package guestinit

// ModulesFile lists, one a line, the kernel modules the guest loads (their
// dependencies come from modules.dep). The image's recipe puts it there.
const ModulesFile = "/etc/isolab/modules"

// Prefix starts every line the init writes to the console; the host tells
// them from the kernel's and the server's by it.
const Prefix = "lab-init: "

// StartLine is the start of the line written just before the server starts:
// what follows on the console is the server's own output.
const StartLine = Prefix + "starting server"
