package poller_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sftpwatchd/sftpwatchd/internal/config"
	"github.com/sftpwatchd/sftpwatchd/internal/diff"
	"github.com/sftpwatchd/sftpwatchd/internal/poller"
	"github.com/sftpwatchd/sftpwatchd/internal/sftpconn"
)

// weird is a hostile name: a newline, shell syntax and glob metacharacters.
const weird = "we\nird $(touch PWNED) [*.csv"

// buildScanTree creates:
//
//	a.csv  b.txt  link -> a.csv  <weird>
//	sub/c.csv  sub/deep/d.csv  sub/deep/deeper/e.csv
//	.hidden/x.csv
func buildScanTree(t *testing.T, f *fixture) {
	t.Helper()
	f.write(t, "a.csv", "12345", baseTime)
	f.write(t, "b.txt", "b", baseTime)
	f.write(t, weird, "w", baseTime)
	f.write(t, "sub/c.csv", "cc", baseTime)
	f.write(t, "sub/deep/d.csv", "ddd", baseTime)
	f.write(t, "sub/deep/deeper/e.csv", "eeee", baseTime)
	f.write(t, ".hidden/x.csv", "x", baseTime)
	if err := os.Symlink("a.csv", f.path("link")); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"sub/deep/deeper", "sub/deep", "sub", ".hidden"} {
		f.mkdir(t, d, baseTime)
	}
}

func keys(s diff.Snapshot) []string { return slices.Sorted(maps.Keys(s)) }

func TestScanFilters(t *testing.T) {
	f := newFixture(t)
	buildScanTree(t, f)
	all := []string{".hidden", ".hidden/x.csv", "a.csv", "b.txt", "link", "sub", "sub/c.csv", "sub/deep",
		"sub/deep/d.csv", "sub/deep/deeper", "sub/deep/deeper/e.csv", weird}
	rootOnly := []string{".hidden", "a.csv", "b.txt", "link", "sub", weird}

	for _, tc := range []struct {
		name  string
		edit  func(*config.Watch)
		want  []string
		dirs  int // directories listed
		block string
	}{
		{name: "everything", edit: func(*config.Watch) {}, want: all, dirs: 5},
		{name: "max_depth 1", edit: func(w *config.Watch) { w.MaxDepth = 1 }, want: rootOnly, dirs: 1},
		{name: "max_depth 2", edit: func(w *config.Watch) { w.MaxDepth = 2 },
			want: []string{".hidden", ".hidden/x.csv", "a.csv", "b.txt", "link", "sub", "sub/c.csv", "sub/deep", weird}, dirs: 3},
		{name: "recursive false", edit: func(w *config.Watch) { w.Recursive = false }, want: rootOnly, dirs: 1},
		{name: "types file", edit: func(w *config.Watch) { w.Types = []string{"file"} },
			want: []string{".hidden/x.csv", "a.csv", "b.txt", "sub/c.csv", "sub/deep/d.csv", "sub/deep/deeper/e.csv", weird}, dirs: 5},
		{name: "types dir", edit: func(w *config.Watch) { w.Types = []string{"dir"} },
			want: []string{".hidden", "sub", "sub/deep", "sub/deep/deeper"}, dirs: 5},
		{name: "include csv, exclude hidden", edit: func(w *config.Watch) {
			w.Include = []string{"**/*.csv"}
			w.Exclude = []string{"**/.*"}
		}, want: []string{"a.csv", "sub/c.csv", "sub/deep/d.csv", "sub/deep/deeper/e.csv", weird}, dirs: 4},
		{
			// The excluded directory is pruned: it is never listed, so a
			// fault on it cannot make the scan partial.
			name: "exclude prunes", edit: func(w *config.Watch) { w.Exclude = []string{"sub/deep"} },
			want: []string{".hidden", ".hidden/x.csv", "a.csv", "b.txt", "link", "sub", "sub/c.csv", weird}, dirs: 3,
			block: fxRoot + "/sub/deep",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.block != "" {
				f.srv.FailPath(tc.block, fs.ErrPermission)
				defer f.srv.FailPath(tc.block, nil)
			}
			w := baseWatch()
			tc.edit(&w)
			out, err := poller.Scan(context.Background(), f.lister(), w, nil)
			if err != nil {
				t.Fatalf("Scan: %v", err)
			}
			if out.Result != poller.ResultOK || len(out.DirErrors) != 0 || len(out.Scan.Failed) != 0 {
				t.Errorf("Result %q, DirErrors %v, Failed %q; want ok with none", out.Result, out.DirErrors, out.Scan.Failed)
			}
			if got := keys(out.Scan.Entries); !slices.Equal(got, tc.want) {
				t.Errorf("entries\n got %q\nwant %q", got, tc.want)
			}
			if out.Dirs != tc.dirs {
				t.Errorf("Dirs = %d, want %d", out.Dirs, tc.dirs)
			}
		})
	}

	t.Run("attributes", func(t *testing.T) {
		out, err := poller.Scan(context.Background(), f.lister(), baseWatch(), nil)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]diff.Entry{
			"a.csv":          {Type: diff.File, Size: 5, MTime: baseTime.Unix(), Mode: 0o644},
			weird:            {Type: diff.File, Size: 1, MTime: baseTime.Unix(), Mode: 0o644},
			"sub/deep":       {Type: diff.Dir, Size: out.Scan.Entries["sub/deep"].Size, MTime: baseTime.Unix(), Mode: 0o755},
			"sub/deep/d.csv": {Type: diff.File, Size: 3, MTime: baseTime.Unix(), Mode: 0o644},
		}
		for rel, we := range want {
			if got := out.Scan.Entries[rel]; got != we {
				t.Errorf("%q = %+v, want %+v", rel, got, we)
			}
		}
		l := out.Scan.Entries["link"]
		if l.Type != diff.Symlink || l.Link != "a.csv" {
			t.Errorf("link = %+v, want a symlink to a.csv", l)
		}
	})
}

func TestScanPermissionDeniedIsPartial(t *testing.T) {
	f := newFixture(t)
	buildScanTree(t, f)
	f.srv.FailPath(fxRoot+"/sub/deep", fs.ErrPermission)
	out, err := poller.Scan(context.Background(), f.lister(), baseWatch(), nil)
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	if out.Result != poller.ResultPartial {
		t.Errorf("Result = %q, want partial", out.Result)
	}
	if !slices.Equal(out.Scan.Failed, []string{"sub/deep"}) {
		t.Errorf("Failed = %q, want [sub/deep]", out.Scan.Failed)
	}
	if len(out.DirErrors) != 1 || out.DirErrors[0].Dir != "sub/deep" || !errors.Is(out.DirErrors[0].Err, fs.ErrPermission) {
		t.Errorf("DirErrors = %v, want one permission error for sub/deep", out.DirErrors)
	}
	// Everything else is listed, including the failed directory itself (its
	// parent was listed); nothing beneath it.
	want := []string{".hidden", ".hidden/x.csv", "a.csv", "b.txt", "link", "sub", "sub/c.csv", "sub/deep", weird}
	if got := keys(out.Scan.Entries); !slices.Equal(got, want) {
		t.Errorf("entries\n got %q\nwant %q", got, want)
	}
}

func TestScanRootUnlistableIsError(t *testing.T) {
	f := newFixture(t)
	buildScanTree(t, f)
	for _, tc := range []struct {
		name string
		path string
		fail error
		is   error
	}{
		{"permission denied", fxRoot, fs.ErrPermission, fs.ErrPermission},
		{"missing", "/nope", nil, fs.ErrNotExist},
		{"i/o error", fxRoot, errors.New("disk on fire"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.fail != nil {
				f.srv.FailPath(tc.path, tc.fail)
				defer f.srv.FailPath(tc.path, nil)
			}
			w := baseWatch()
			w.Path = tc.path
			out, err := poller.Scan(context.Background(), f.lister(), w, nil)
			if err == nil {
				t.Fatalf("Scan succeeded (%q, %d entries); want an error", out.Result, len(out.Scan.Entries))
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("%q", tc.path)) {
				t.Errorf("error %q does not name the root %q", err, tc.path)
			}
			if len(out.Scan.Entries) != 0 || out.Result != "" {
				t.Errorf("a failed scan returned a listing: %q with %d entries", out.Result, len(out.Scan.Entries))
			}
		})
	}
}

// TestScanConnectionLostIsError cuts the connection at many points of a
// scan: the result is an error, or (when the cut came after the last
// request) the complete listing — never a shorter ok or partial one.
func TestScanConnectionLostIsError(t *testing.T) {
	build := func(t *testing.T, f *fixture) {
		for d := range 12 {
			for i := range 8 {
				f.write(t, fmt.Sprintf("d%02d/f%d", d, i), "x", baseTime)
			}
			f.write(t, fmt.Sprintf("d%02d/sub/g", d), "y", baseTime)
		}
	}
	// Reference run, without faults: the full listing and its request count.
	ref := newFixture(t)
	build(t, ref)
	connect := func(t *testing.T, f *fixture) { // so that request counts are the scan's only
		t.Helper()
		if _, err := f.pool.Stat(context.Background(), fxRoot); err != nil {
			t.Fatal(err)
		}
	}
	connect(t, ref)
	before := ref.srv.Requests()
	full, err := poller.Scan(context.Background(), ref.lister(), baseWatch(), nil)
	if err != nil || full.Result != poller.ResultOK {
		t.Fatalf("reference scan: %v %q", err, full.Result)
	}
	total := int(ref.srv.Requests() - before)
	if total < 40 {
		t.Fatalf("a full scan takes only %d requests; the cut points would miss it", total)
	}
	wantKeys := keys(full.Scan.Entries)

	errs := 0
	for _, n := range []int{0, 1, 2, 5, 9, 14, total / 3, total / 2, total - 5, total - 1, total + 50} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			f := newFixture(t)
			build(t, f)
			connect(t, f)
			f.srv.DropAfter(n)
			defer f.srv.DropAfter(-1)
			out, err := poller.Scan(context.Background(), f.lister(), baseWatch(), nil)
			if err != nil {
				errs++
				if !sftpconn.IsConnectionError(err) {
					t.Errorf("cut after %d: error %v is not classified as a lost connection", n, err)
				}
				if len(out.Scan.Entries) != 0 {
					t.Errorf("error %v came with %d entries", err, len(out.Scan.Entries))
				}
				return
			}
			// A cut that lost only a directory handle's CLOSE (after the
			// listing completed) or came after the scan leaves the listing
			// complete; anything else must have been an error.
			t.Logf("cut after %d of %d requests: scan completed", n, total)
			if n <= 2 {
				t.Errorf("cut after %d requests (the root's own reads) completed the scan", n)
			}
			if out.Result != poller.ResultOK || !slices.Equal(keys(out.Scan.Entries), wantKeys) {
				t.Errorf("cut after %d: %q with %d entries (want ok with %d): a connection loss gave a shorter listing",
					n, out.Result, len(out.Scan.Entries), len(wantKeys))
			}
		})
	}
	if errs < 3 {
		t.Errorf("only %d of 11 cuts produced an error: the fault hook missed", errs)
	}
	t.Logf("%d of 11 cuts gave an error, the rest a complete listing", errs)
}

func TestScanProgress(t *testing.T) {
	f := newFixture(t)
	buildScanTree(t, f)
	var calls [][2]int
	out, err := poller.Scan(context.Background(), f.lister(), baseWatch(), func(dirs, entries int) {
		calls = append(calls, [2]int{dirs, entries})
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) != out.Dirs {
		t.Fatalf("progress called %d times for %d directories", len(calls), out.Dirs)
	}
	for i, c := range calls {
		if c[0] != i+1 || (i > 0 && c[1] < calls[i-1][1]) {
			t.Errorf("call %d = %v: dirs must count up by one, entries never shrink (%v)", i, c, calls)
		}
	}
	if last := calls[len(calls)-1]; last != [2]int{out.Dirs, len(out.Scan.Entries)} {
		t.Errorf("last progress %v, want [%d %d]", last, out.Dirs, len(out.Scan.Entries))
	}
}

func TestScanCancelled(t *testing.T) {
	f := newFixture(t)
	buildScanTree(t, f)
	f.srv.SetLatency(200 * time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, err := poller.Scan(ctx, f.lister(), baseWatch(), nil)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Scan after cancel = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Scan took %v to notice the cancel", d)
	}
}
