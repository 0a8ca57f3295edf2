package daemon

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"strings"

	"github.com/sftpwatchd/sftpwatchd/internal/actions"
	"github.com/sftpwatchd/sftpwatchd/internal/config"
	"github.com/sftpwatchd/sftpwatchd/internal/sftpconn"
)

// HostError is a failure to connect to a host told in the config's terms,
// as config errors are: the key at fault, what went wrong and the fix
// ("hosts.partner.private_key_file: open /x: no such file or directory;
// …"). It wraps the *sftpconn.DialError, so errors.As and the sftpconn
// classifiers keep working on it.
type HostError struct {
	Key  string // config key path: "hosts.partner" or "hosts.partner.private_key_file"
	Addr string // the address dialled, shown for network failures ("" otherwise)
	Msg  string // what went wrong
	Fix  string // what to do about it ("" when there is nothing to say)
	Err  error  // the error explained
}

func (e *HostError) Error() string {
	var b strings.Builder
	if e.Key != "" {
		b.WriteString(e.Key)
		if e.Addr != "" {
			b.WriteString(" (" + e.Addr + ")")
		}
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	if e.Fix != "" {
		b.WriteString("; " + e.Fix)
	}
	return b.String()
}

func (e *HostError) Unwrap() error { return e.Err }

// ExplainDial turns a dial failure of host h into a *HostError naming the
// config key at fault and the fix. Errors that are not dial failures, and
// ones already explained, are returned as they are.
func ExplainDial(h config.Host, err error) error {
	var he *HostError
	var de *sftpconn.DialError
	if err == nil || errors.As(err, &he) || !errors.As(err, &de) {
		return err
	}
	if len(de.Via) > 0 {
		return explainJumped(h, de, err)
	}
	key := "hosts." + h.Name
	out := &HostError{Key: key, Msg: de.Err.Error(), Err: err}
	var pe *fs.PathError
	var hk *sftpconn.HostKeyError
	var dns *net.DNSError
	switch {
	case errors.As(de.Err, &pe) && pe.Path == h.PrivateKeyFile:
		out.Key, out.Msg = key+".private_key_file", pe.Error()
		out.Fix = "fix the path, or make the file readable by the user sftpwatchd runs as"
	case errors.As(de.Err, &pe) && pe.Path == h.KnownHostsFile:
		out.Key, out.Msg = key+".known_hosts_file", pe.Error()
		out.Fix = fmt.Sprintf("create it with the server's key (ssh-keyscan %s >> %s, then compare the fingerprint), or set %s.host_key_fingerprint",
			keyscanTarget(de.Addr), h.KnownHostsFile, key)
	case errors.Is(de.Err, x509.IncorrectPasswordError):
		out.Key = key + ".private_key_passphrase"
		out.Fix = "set the passphrase of " + h.PrivateKeyFile
	case errors.As(de.Err, &hk) && hk.Changed && hk.Pinned != "":
		out.Addr = de.Addr
		out.Fix = fmt.Sprintf("if the server's key was changed on purpose, set %s.host_key_fingerprint to the new fingerprint", key)
	case errors.As(de.Err, &hk) && hk.Changed:
		out.Addr = de.Addr
		out.Fix = fmt.Sprintf("if the server's key was changed on purpose, remove the old entry with ssh-keygen -R %s -f %s and add the new key (ssh-keyscan %s >> %s)",
			knownHostsName(de.Addr), h.KnownHostsFile, keyscanTarget(de.Addr), h.KnownHostsFile)
	case de.Op == sftpconn.OpConnect && errors.As(de.Err, &dns):
		out.Addr = de.Addr
		out.Fix = fmt.Sprintf("check %s.address: the name does not resolve", key)
	case de.Op == sftpconn.OpConnect && errors.Is(de.Err, context.DeadlineExceeded):
		out.Addr = de.Addr
		out.Fix = fmt.Sprintf("check %s.address and that a firewall lets the connection through, or raise %s.connect_timeout", key, key)
	case de.Op == sftpconn.OpConnect:
		out.Addr = de.Addr
		out.Fix = fmt.Sprintf("check %s.address and that the SSH server runs there", key)
	case de.Op == sftpconn.OpAuth:
		out.Fix = fmt.Sprintf("check %s.user and its password, private_key_file or agent", key)
	default:
		out.Addr = de.Addr
	}
	return out
}

// explainJumped explains a dial through jump hosts: the route and the
// failing hop as the DialError tells them (`hosts.inner via hosts.bastion:
// jump host hosts.bastion (addr) failed: …`), with the fix of the host whose
// step failed, in that host's keys.
func explainJumped(h config.Host, de *sftpconn.DialError, err error) error {
	hop := &h
	if de.Hop != "" {
		for hop = h.JumpHost; hop != nil && hop.Name != de.Hop; hop = hop.JumpHost {
		}
	}
	out := &HostError{Msg: de.Error(), Err: err}
	if hop == nil {
		return out
	}
	direct := ExplainDial(*hop, &sftpconn.DialError{Host: hop.Name, Addr: de.Addr, Op: de.Op, Err: de.Err})
	var he *HostError
	if errors.As(direct, &he) {
		out.Key = ""
		out.Fix = he.Fix
		if strings.Contains(he.Key, ".") && he.Key != "hosts."+hop.Name {
			out.Msg = he.Key + ": " + out.Msg // the file key at fault
		}
	}
	return out
}

// knownHostsName is how known_hosts (and ssh-keygen -R) name addr:
// "host" for port 22, "[host]:port" otherwise (quoted for a shell).
func knownHostsName(addr string) string {
	host, port, ok := nonDefaultPort(addr)
	if !ok {
		return host
	}
	return "'[" + host + "]:" + port + "'"
}

// keyscanTarget is the ssh-keyscan arguments for addr.
func keyscanTarget(addr string) string {
	host, port, ok := nonDefaultPort(addr)
	if !ok {
		return host
	}
	return "-p " + port + " " + host
}

// nonDefaultPort splits addr; ok is false when it has no port or port 22
// (then host is the whole name to use).
func nonDefaultPort(addr string) (host, port string, ok bool) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, "", false
	}
	return host, port, port != config.DefaultSSHPort
}

// explainingDoer is a host's pool whose dial failures are explained in the
// config's terms (ExplainDial) for whoever logs or shows them.
type explainingDoer struct {
	sftpconn.Doer
	host config.Host
}

func (d explainingDoer) Do(ctx context.Context, fn func(*sftpconn.Client) error) error {
	return ExplainDial(d.host, d.Doer.Do(ctx, fn))
}

// ExplainingDoer wraps a host's pool so that its dial failures name the
// config key at fault and the fix (see ExplainDial).
func ExplainingDoer(d sftpconn.Doer, h config.Host) sftpconn.Doer {
	return explainingDoer{Doer: d, host: h}
}

// explainingRemote is a host's pool as the actions use it, its dial
// failures explained in the config's terms (ExplainDial), so that a step's
// error, its retries' log lines and a dead letter's reason name the key at
// fault.
type explainingRemote struct {
	r    actions.Remote
	host config.Host
}

var _ actions.Remote = explainingRemote{}

func (e explainingRemote) Stat(ctx context.Context, p string) (os.FileInfo, error) {
	fi, err := e.r.Stat(ctx, p)
	return fi, ExplainDial(e.host, err)
}

func (e explainingRemote) Lstat(ctx context.Context, p string) (os.FileInfo, error) {
	fi, err := e.r.Lstat(ctx, p)
	return fi, ExplainDial(e.host, err)
}

func (e explainingRemote) GetTo(ctx context.Context, p string, w io.Writer, progress func(int64)) (int64, error) {
	n, err := e.r.GetTo(ctx, p, w, progress)
	return n, ExplainDial(e.host, err)
}

func (e explainingRemote) Rename(ctx context.Context, oldpath, newpath string) error {
	return ExplainDial(e.host, e.r.Rename(ctx, oldpath, newpath))
}

func (e explainingRemote) MakeDirs(ctx context.Context, p string, mode os.FileMode) error {
	return ExplainDial(e.host, e.r.MakeDirs(ctx, p, mode))
}

func (e explainingRemote) Remove(ctx context.Context, p string) error {
	return ExplainDial(e.host, e.r.Remove(ctx, p))
}

// fetcher is the download's fast path (actions' fetcher: copy and Lstat in
// fewer round trips), which sftpconn.Pool offers. The wrappers of the pool
// must offer it too, or every download of the daemon takes the slow path.
type fetcher interface {
	FetchTo(ctx context.Context, p string, size int64, w io.Writer, progress func(written int64)) (int64, os.FileInfo, error)
}

// fetchVia is r's FetchTo when it has one, else a GetTo followed by an Lstat
// sent once every read was answered, which is what FetchTo promises.
func fetchVia(ctx context.Context, r actions.Remote, p string, size int64, w io.Writer, progress func(int64)) (int64, os.FileInfo, error) {
	if f, ok := r.(fetcher); ok {
		return f.FetchTo(ctx, p, size, w, progress)
	}
	n, err := r.GetTo(ctx, p, w, progress)
	if err != nil {
		return n, nil, err
	}
	fi, err := r.Lstat(ctx, p)
	return n, fi, err
}

func (e explainingRemote) FetchTo(ctx context.Context, p string, size int64, w io.Writer, progress func(int64)) (int64, os.FileInfo, error) {
	n, fi, err := fetchVia(ctx, e.r, p, size, w, progress)
	return n, fi, ExplainDial(e.host, err)
}
