package scenario

// Allocate fills in what the scenario leaves out, in file order: a port for every
// server without one, counting up from PortBase (DefaultPortBase when unset) and
// skipping every port any server sets itself; a proj_id likewise from 1 up to
// MaxProjID; shm_path (ShmFile); and a container's or unshare server's ipc and network (EffectiveIPC,
// EffectiveNetwork). Every value it hands out differs from every other port or
// proj_id in the scenario, so allocation never makes a collision, whatever
// namespaces the servers share, and distinct proj_ids give distinct ftok keys
// whatever the files' inodes. It is idempotent. Call it after Validate; it fails
// only when the ports above PortBase or the 255 proj_ids run out.
func (sc *Scenario) Allocate() error {
	if sc.PortBase == 0 {
		sc.PortBase = DefaultPortBase
	}
	usedPorts := map[int]bool{}
	usedIDs := map[int]bool{}
	for _, s := range sc.Servers {
		usedPorts[s.Port] = true
		usedIDs[s.ProjID] = true
	}
	nextPort, nextID := sc.PortBase, 1
	for i := range sc.Servers {
		s := &sc.Servers[i]
		if s.Port == 0 {
			for nextPort <= 65535 && usedPorts[nextPort] {
				nextPort++
			}
			if nextPort > 65535 {
				return sc.at(i, problemf(ErrExhausted, "no port left between port_base %d and 65535", sc.PortBase))
			}
			s.Port = nextPort
			usedPorts[nextPort] = true
		}
		if s.ProjID == 0 {
			for nextID <= MaxProjID && usedIDs[nextID] {
				nextID++
			}
			if nextID > MaxProjID {
				return sc.at(i, problemf(ErrExhausted, "no proj_id left: all of 1..%d are taken", MaxProjID))
			}
			s.ProjID = nextID
			usedIDs[nextID] = true
		}
		s.ShmPath = s.ShmFile()
		if s.Env.Namespaced() {
			s.IPC = s.EffectiveIPC()
			s.Network = s.EffectiveNetwork()
		}
	}
	return nil
}
