package client

import (
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/isolab/isolab/internal/report"
)

// Result is what one run learned: the report, each server's detail, and the
// files left out.
type Result struct {
	report.Report
	Servers []ServerResult `json:"servers"`
	Skipped []SkippedFile  `json:"skipped"`
}

// ServerResult is one row of -explain and -json.
type ServerResult struct {
	File    string        `json:"file"`
	Address string        `json:"address"`
	ShmPath string        `json:"shm_path"`
	ProjID  int           `json:"proj_id"`
	Key     string        `json:"key,omitempty"` // ftok key in hex, when the path exists
	Socket  ChannelResult `json:"socket"`
	Shm     ChannelResult `json:"shm"`
	Class   report.Class  `json:"class"`
	Note    string        `json:"note,omitempty"`
}

// ChannelResult is the outcome of one channel.
type ChannelResult struct {
	OK        bool    `json:"ok"`        // the channel works (counts for the class)
	Outcome   string  `json:"outcome"`   // connected, refused, unreachable, timed out; attached, not found, no such path, permission denied
	Millis    float64 `json:"ms"`        // time the attempt took
	Delivered bool    `json:"delivered"` // a message arrived on it
	Message   string  `json:"message"`
	Error     string  `json:"error,omitempty"`
}

// SkippedFile is an info file left out of the report.
type SkippedFile struct {
	File  string `json:"file"`
	Error string `json:"error"`
}

// Probe runs count_servers, collects the messages and disconnects, returning the
// whole result without printing.
func Probe(dir string, opt Options) (Result, error) {
	servers, skipped, err := CountServers(dir, opt)
	if err != nil {
		return Result{}, err
	}
	res := Result{Report: Summarize(servers), Servers: []ServerResult{}, Skipped: []SkippedFile{}}
	for _, s := range servers {
		res.Servers = append(res.Servers, s.result())
	}
	for _, sk := range skipped {
		res.Skipped = append(res.Skipped, SkippedFile{File: sk.File, Error: sk.Err.Error()})
	}
	if err := Disconnect(servers); err != nil {
		return res, fmt.Errorf("disconnect: %w", err)
	}
	return res, nil
}

func (s *Server) result() ServerResult {
	r := ServerResult{
		File:    s.File,
		Address: s.Address().String(),
		ShmPath: s.Info.ShmPath,
		ProjID:  s.Info.ProjID,
		Socket:  channel(s.Socket),
		Shm:     channel(s.Shm),
		Class:   s.Class(),
	}
	if s.Key != 0 {
		r.Key = s.Key.String()
	}
	r.Shm.Message, r.Shm.Delivered = GetMessageFromShm(s)
	r.Socket.Message, r.Socket.Delivered = GetMessageFromSocket(s, 0)
	if s.Socket.OK && !r.Socket.Delivered {
		r.Note = "connected, but nothing answered like a server"
		if s.socketErr != nil {
			r.Note += fmt.Sprintf(" (%v after %s)", s.socketErr, s.readTime.Round(time.Millisecond))
		}
	}
	return r
}

func channel(p Attempt) ChannelResult {
	c := ChannelResult{OK: p.OK, Outcome: p.Outcome, Millis: float64(p.Elapsed.Microseconds()) / 1000}
	if p.Err != nil {
		c.Error = p.Err.Error()
	}
	return c
}

// Run is run: it probes every server advertised in dir and writes the exercise's
// five lines to w. Files left out are in the result's Skipped.
func Run(w io.Writer, dir string, opt Options) (Result, error) {
	res, err := Probe(dir, opt)
	if err != nil && res.Servers == nil {
		return res, err
	}
	_, werr := io.WriteString(w, res.Report.String())
	return res, errors.Join(err, werr)
}

// WriteExplain writes the -explain table: one row per server with each
// channel's outcome and timing, whether a message arrived, and the class.
func WriteExplain(w io.Writer, res Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FILE\tADDRESS\tSOCKET\tSHM\tSOCKET MSG\tSHM MSG\tCLASS\tNOTE")
	for _, s := range res.Servers {
		shmCol := s.Shm.Outcome
		if s.Key != "" {
			shmCol = s.Key + " " + shmCol
		}
		fmt.Fprintf(tw, "%s\t%s\t%s (%.1fms)\t%s\t%s\t%s\t%s\t%s\n",
			s.File, s.Address, s.Socket.Outcome, s.Socket.Millis, shmCol,
			yesNo(s.Socket.Delivered), yesNo(s.Shm.Delivered), s.Class, s.Note)
	}
	for _, s := range res.Skipped {
		fmt.Fprintf(tw, "%s\t-\tskipped\t\t\t\t\t%s\n", s.File, s.Error)
	}
	return tw.Flush()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
