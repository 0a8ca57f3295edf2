package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/sftpwatchd/sftpwatchd/internal/admin"
)

func newStatusCommand() *cobra.Command {
	var f adminFlags
	cmd := &cobra.Command{
		Use:   "status [--watch NAME] [--json]",
		Short: "Show every watch's last scan, next scan, settling, pending and dead letters, and every host",
		Long: `status shows, per watch: the last scan (time, result, duration, entries, the
error text), the next scan, entries settling, events pending, dead letters and
owner; per host: open connections and the last dial error.

With a running daemon it asks the daemon (admin socket state_dir/admin.sock);
without one it shows what the state dir holds (the last scan the daemon
recorded when it stopped; no next scan, no connections).

--json prints one object per line: a line per watch, then one per host.

Exit codes: 0 shown; 1 runtime failure; 2 usage or configuration error.`,
		Args: cobra.NoArgs,
		RunE: adminRun(&f, func(cmd *cobra.Command, s *adminSession, _ []string) error {
			st, err := s.ops.Status(cmd.Context(), f.watch)
			if err != nil {
				return adminErr(err)
			}
			if f.json {
				return printStatusJSON(cmd.OutOrStdout(), st)
			}
			printStatus(cmd.OutOrStdout(), s, st)
			return nil
		}),
	}
	f.add(cmd, "show only this watch", true)
	return cmd
}

func printStatusJSON(w io.Writer, st admin.Status) error {
	enc := json.NewEncoder(w)
	for _, ws := range st.Watches {
		if err := enc.Encode(ws); err != nil {
			return err
		}
	}
	for _, h := range st.Hosts {
		if err := enc.Encode(h); err != nil {
			return err
		}
	}
	return nil
}

func printStatus(w io.Writer, s *adminSession, st admin.Status) {
	if s.running {
		fmt.Fprintf(w, "daemon: running (admin socket %s)\n\n", s.socket)
	} else {
		fmt.Fprintf(w, "daemon: not running; what the state dir %s holds\n\n", s.cfg.StateDir)
	}
	tw := table(w)
	fmt.Fprintln(tw, "WATCH\tHOST\tPATH\tLAST SCAN\tRESULT\tTOOK\tENTRIES\tSETTLING\tPENDING\tDEAD\tNEXT SCAN\tERROR")
	for _, ws := range st.Watches {
		last, result, took, entries, errText := "never", "-", "-", "-", "-"
		if ls := ws.LastScan; ls != nil {
			last, result = timeCell(&ls.Time), ls.Result
			took = strconv.FormatFloat(ls.DurationSeconds, 'f', 1, 64) + "s"
			entries, errText = strconv.Itoa(ls.Entries), textCell(ls.Error)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\n", displayPath(ws.Watch), ws.Host,
			displayPath(ws.Path), last, result, took, entries, ws.Settling, ws.Pending, ws.DeadLetters,
			timeCell(ws.NextScan), errText)
	}
	_ = tw.Flush()
	if len(st.Hosts) == 0 {
		return
	}
	fmt.Fprintln(w)
	tw = table(w)
	fmt.Fprintln(tw, "HOST\tCONNECTIONS\tLAST DIAL ERROR")
	for _, h := range st.Hosts {
		conns := strconv.Itoa(h.Connections)
		if !s.running {
			conns = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", h.Host, conns, textCell(h.LastDialError))
	}
	_ = tw.Flush()
}
