package scenario

import "fmt"

// Dropped is a server Filter left out, with the reason its environment cannot run.
type Dropped struct {
	Server Server
	Reason string
}

// String returns the line a lab prints for it: `vm1 (vm) left out: VM not requested`.
func (d Dropped) String() string {
	return fmt.Sprintf("%s left out: %s", d.Server, d.Reason)
}

// Filter splits servers into those that can run here and those that cannot, in
// their original order. unavailable maps each environment that cannot run to the
// reason, e.g. EnvApptainer: "apptainer not found (try: apt-get install
// apptainer)"; an environment it does not name is kept. The caller runs kept,
// derives the expected report from kept alone, and tells the user about dropped.
func Filter(servers []Server, unavailable map[Env]string) (kept []Server, dropped []Dropped) {
	for _, s := range servers {
		if reason, ok := unavailable[s.Env]; ok {
			dropped = append(dropped, Dropped{Server: s, Reason: reason})
			continue
		}
		kept = append(kept, s)
	}
	return kept, dropped
}
