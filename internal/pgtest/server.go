package pgtest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// Server is a PostgreSQL server of a test's own — a fresh cluster in a
// temporary directory, on a loopback port — that the test may stop and
// start again, as an operator would.
type Server struct {
	tb      testing.TB
	bin     string   // the directory of initdb, pg_ctl, postgres
	dir     string   // the cluster's data directory
	port    int      // where it listens on 127.0.0.1
	asUser  []string // the command prefix that runs a program as the postgres user; empty when not root
	running bool
}

// NewServer initialises a cluster and starts it; it is stopped and removed
// when tb ends. The test is skipped when PostgreSQL's server programs are
// not installed (under CI=true it fails: scripts/postgres-for-tests
// installs them). As root, the server runs as the postgres user.
func NewServer(tb testing.TB) *Server {
	tb.Helper()
	bin := serverBin()
	if bin == "" {
		if os.Getenv("CI") == "true" {
			tb.Fatal("PostgreSQL's server programs (initdb, pg_ctl) are not installed and CI=true")
		}
		tb.Skip("PostgreSQL's server programs (initdb, pg_ctl) are not installed")
	}
	s := &Server{tb: tb, bin: bin}
	// Not t.TempDir: its parents are private to root, and the server may
	// run as another user.
	root, err := os.MkdirTemp("", "understudy-pg-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = os.RemoveAll(root) })
	if err := os.Chmod(root, 0o755); err != nil {
		tb.Fatal(err)
	}
	s.dir = filepath.Join(root, "data")
	if err := os.Mkdir(s.dir, 0o700); err != nil {
		tb.Fatal(err)
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			tb.Skipf("running as root without a postgres user to run the server as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(s.dir, uid, gid); err != nil {
			tb.Fatal(err)
		}
		s.asUser = []string{"runuser", "-u", "postgres", "--"}
	}
	s.port = freePort(tb)
	s.run("initdb", "-D", s.dir, "-U", "understudy", "--auth=trust", "-E", "UTF8", "--no-sync")
	s.Start()
	tb.Cleanup(func() {
		if s.running {
			_ = s.pgCtl("stop", "-m", "immediate")
		}
	})
	return s
}

// DSN is the server's postgres database, as the trusted superuser.
func (s *Server) DSN() string {
	return fmt.Sprintf("postgres://understudy@127.0.0.1:%d/postgres?sslmode=disable", s.port)
}

// Stop stops the server the way an operator does ("fast": sessions are
// ended, the server shuts down cleanly) and waits for it.
func (s *Server) Stop() {
	s.tb.Helper()
	if err := s.pgCtl("stop", "-m", "fast"); err != nil {
		s.tb.Fatalf("pg_ctl stop: %v", err)
	}
	s.running = false
}

// Start starts the server (again) on the same port and waits until it
// accepts connections.
func (s *Server) Start() {
	s.tb.Helper()
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off", s.port, s.dir)
	if err := s.pgCtl("start", "-o", opts, "-l", filepath.Join(s.dir, "server.log")); err != nil {
		log, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
		s.tb.Fatalf("pg_ctl start: %v\n%s", err, log)
	}
	s.running = true
}

func (s *Server) pgCtl(args ...string) error {
	all := append([]string{"-D", s.dir, "-w", "-t", "30"}, args...)
	cmd := s.command("pg_ctl", all...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

func (s *Server) run(prog string, args ...string) {
	s.tb.Helper()
	if out, err := s.command(prog, args...).CombinedOutput(); err != nil {
		s.tb.Fatalf("%s: %v\n%s", prog, err, out)
	}
}

func (s *Server) command(prog string, args ...string) *exec.Cmd {
	argv := append(append([]string{}, s.asUser...), filepath.Join(s.bin, prog))
	argv = append(argv, args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = filepath.Dir(s.dir) // a directory the postgres user may enter
	return cmd
}

// serverBin finds the directory of initdb and pg_ctl: Debian's versioned
// directory (the newest), else PATH; "" when none.
func serverBin() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi > vj
	})
	for _, d := range dirs {
		if isFile(filepath.Join(d, "initdb")) && isFile(filepath.Join(d, "pg_ctl")) {
			return d
		}
	}
	initdb, err1 := exec.LookPath("initdb")
	_, err2 := exec.LookPath("pg_ctl")
	if err1 == nil && err2 == nil {
		return filepath.Dir(initdb)
	}
	return ""
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// freePort is a loopback port free now.
func freePort(tb testing.TB) int {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
