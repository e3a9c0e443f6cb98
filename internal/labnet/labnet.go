package labnet

import (
	"path/filepath"

	"github.com/isolab/isolab/internal/netns"
)

// Config names a lab network and where its dockerd keeps its files.
type Config struct {
	Name string // the namespace's name (netns.CheckName)
	// RunDir holds dockerd's socket, pid file, exec root and configuration;
	// "" means /run/isolab/NAME (short: a socket path is limited to 108
	// bytes, and /run is emptied by a reboot, as the namespace is).
	RunDir string
	// DataRoot is dockerd's data root (images, containers), kept between
	// runs so that images stay cached; "" means /var/lib/isolab/NAME/docker.
	DataRoot string
	// Log is dockerd's log file; "" means RunDir/dockerd.log.
	Log string
}

func (c Config) withDefaults() Config {
	if c.RunDir == "" {
		c.RunDir = filepath.Join("/run/isolab", c.Name)
	}
	if c.DataRoot == "" {
		c.DataRoot = filepath.Join("/var/lib/isolab", c.Name, "docker")
	}
	if c.Log == "" {
		c.Log = filepath.Join(c.RunDir, "dockerd.log")
	}
	return c
}

// Net is a lab network that is up.
type Net struct {
	Config
	// Dockerd is the pid of its dockerd, 0 when it has none.
	Dockerd int
}

// Path is the namespace's file, for nsenter and runenv.Config.NetNS.
func (n *Net) Path() string { return netns.Path(n.Name) }

// DockerHost is the address of its dockerd, for DOCKER_HOST; "" without one.
func (n *Net) DockerHost() string {
	if n.Dockerd == 0 {
		return ""
	}
	return "unix://" + n.socket()
}

func (c Config) socket() string  { return filepath.Join(c.RunDir, "docker.sock") }
func (c Config) pidFile() string { return filepath.Join(c.RunDir, "docker.pid") }
func (c Config) execRoot() string {
	return filepath.Join(c.RunDir, "exec")
}
