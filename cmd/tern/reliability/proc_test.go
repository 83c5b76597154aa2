package reliability

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ternmq/tern/core/broker/brokertest"
	"github.com/ternmq/tern/sdk/client"
)

// startLimit bounds a broker's start, recovery included.
const startLimit = 60 * time.Second

// devProc is one `tern dev` process: a NameServer and a broker on fixed addresses over one data
// directory, so that it can be killed and started again on the same data.
type devProc struct {
	t       testing.TB
	bin     string
	dir     string   // data directory
	logPath string   // stdout and stderr of every start, appended
	ns, br  string   // NameServer and broker addresses
	sets    []string // --set key=value
	kind    string   // dev (the default), broker or namesrv
	extra   []string // more flags
	cmd     *exec.Cmd
	exited  chan struct{} // closed when cmd has been waited for
	peakKB  int64         // the highest VmHWM seen over every start
}

// newDev returns a devProc over data dir with the given --set options; Start starts it. The
// test's cleanup kills it if it still runs.
func newDev(t testing.TB, dir string, sets ...string) *devProc {
	t.Helper()
	d := &devProc{t: t, bin: ternBinary(t), dir: dir, logPath: filepath.Join(t.TempDir(), "dev.log"),
		ns: freeAddr(t), br: freeAddr(t), sets: sets}
	t.Cleanup(func() {
		if d.running() {
			d.kill()
		}
	})
	return d
}

func (d *devProc) running() bool {
	if d.cmd == nil {
		return false
	}
	select {
	case <-d.exited:
		return false
	default:
		return true
	}
}

// newBroker returns a `tern broker` process over data dir that registers with the NameServer
// at ns, with more flags and --set options.
func newBroker(t testing.TB, dir, ns string, extra []string, sets ...string) *devProc {
	d := newDev(t, dir, sets...)
	d.kind, d.ns, d.extra = "broker", ns, extra
	return d
}

// newNamesrv returns a `tern namesrv` process.
func newNamesrv(t testing.TB) *devProc {
	d := newDev(t, "")
	d.kind, d.br = "namesrv", ""
	return d
}

// start starts the process and waits until its ports accept connections.
func (d *devProc) start() {
	d.t.Helper()
	var args []string
	ports := []string{d.ns, d.br}
	switch d.kind {
	case "broker":
		args = []string{"broker", "--data", d.dir, "--namesrv-addr", d.ns, "--broker-addr", d.br, "--http-addr", "off", "--log-level", procLogLevel()}
		ports = []string{d.br}
	case "namesrv":
		args = []string{"namesrv", "--namesrv-addr", d.ns, "--log-level", procLogLevel()}
		ports = []string{d.ns}
	default:
		args = []string{"dev", "--data", d.dir, "--namesrv-addr", d.ns, "--broker-addr", d.br, "--http-addr", "off", "--log-level", procLogLevel()}
	}
	args = append(args, d.extra...)
	for _, s := range d.sets {
		args = append(args, "--set", s)
	}
	logf, err := os.OpenFile(d.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		d.t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(d.bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	d.cmd, d.exited = cmd, make(chan struct{})
	go func(exited chan struct{}) { cmd.Wait(); close(exited) }(d.exited)
	deadline := time.Now().Add(startLimit)
	for _, addr := range ports {
		for {
			if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
				c.Close()
				break
			}
			select {
			case <-d.exited:
				d.t.Fatalf("tern %s exited while starting: %s\n%s", args[0], cmd.ProcessState, d.logTail())
			case <-time.After(50 * time.Millisecond): // polling a port: there is nothing to wait on
			}
			if time.Now().After(deadline) {
				d.t.Fatalf("tern %s does not listen on %s after %v\n%s", args[0], addr, startLimit, d.logTail())
			}
		}
	}
	if d.kind == "" { // tern dev: tests go on with `tern admin`, which needs the broker in the routes
		brokertest.WaitRegistered(d.t, time.Until(deadline), d.ns, d.br)
	}
}

// kill records the process's peak RSS, SIGKILLs it and waits for it.
func (d *devProc) kill() {
	d.t.Helper()
	d.sampleRSS()
	d.cmd.Process.Signal(syscall.SIGKILL)
	<-d.exited
}

// stop asks the process to stop (SIGTERM) and waits for it, for at most limit.
func (d *devProc) stop(limit time.Duration) error {
	d.sampleRSS()
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
		if st := d.cmd.ProcessState; !st.Success() {
			return fmt.Errorf("tern dev: %s", st)
		}
		return nil
	case <-time.After(limit):
		d.kill()
		return fmt.Errorf("tern dev did not stop within %v", limit)
	}
}

// sampleRSS folds the process's VmHWM (its peak resident set so far) into peakKB.
func (d *devProc) sampleRSS() int64 {
	if kb, err := vmHWM(d.cmd.Process.Pid); err == nil && kb > d.peakKB {
		d.peakKB = kb
	}
	return d.peakKB
}

// logTail returns the last lines of the process's log.
func (d *devProc) logTail() string {
	b, _ := os.ReadFile(d.logPath)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-30):], "\n")
}

// logOnFailure has the tails of the brokers' logs written to the test's output if it fails,
// and their whole logs to $TERN_TEST_LOGDIR when that is set.
func logOnFailure(t *testing.T, brokers ...*devProc) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, p := range brokers {
			t.Logf("log of the broker at %s:\n%s", p.br, p.logTail())
			if dir := os.Getenv("TERN_TEST_LOGDIR"); dir != "" {
				b, _ := os.ReadFile(p.logPath)
				os.WriteFile(filepath.Join(dir, "broker-"+strings.ReplaceAll(p.br, ":", "_")+".log"), b, 0o644)
			}
		}
	})
}

// crashReport returns the start of the Go runtime's crash report in the process's log (the
// fatal error and the first goroutine's stack), or the log's tail when there is none.
func (d *devProc) crashReport() string {
	b, _ := os.ReadFile(d.logPath)
	lines := strings.Split(string(b), "\n")
	for i, line := range lines {
		if strings.HasPrefix(line, "fatal error:") || strings.HasPrefix(line, "panic:") || strings.HasPrefix(line, "unexpected fault") {
			return strings.Join(lines[i:min(len(lines), i+24)], "\n")
		}
	}
	return d.logTail()
}

// admin runs `tern admin --namesrv NS args...`.
func (d *devProc) admin(args ...string) {
	d.t.Helper()
	out, err := exec.Command(d.bin, append([]string{"admin", "--namesrv", d.ns}, args...)...).CombinedOutput()
	if err != nil {
		d.t.Fatalf("tern admin %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// vmHWM returns the peak resident set size of process pid in KiB, from /proc/PID/status.
func vmHWM(pid int) (int64, error) { return procStatus(pid, "VmHWM") }

// procStatus returns a "key: N kB" field of /proc/PID/status, in KiB.
func procStatus(pid int, key string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key+":"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", key, pid)
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// closeClient closes a producer or consumer within 30 s, reporting a failure as a log line
// (closing after the broker died commits offsets that cannot be committed).
func closeClient(t testing.TB, c interface{ Close(context.Context) error }) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Close(ctx); err != nil {
		t.Logf("close client: %v", err)
	}
}

// clientOpts are the options of every client of d: short route refresh and heartbeat periods,
// so that clients find a restarted broker (and its NameServer) again quickly.
func (d *devProc) clientOpts(name string) []client.Option {
	return []client.Option{client.WithNameServers(d.ns), client.WithInstanceName(name),
		client.WithRouteRefresh(time.Second), client.WithHeartbeatInterval(time.Second)}
}

// withClient appends push-consumer or producer options to common ones.
func withClient[O any](common []client.Option, more ...O) []O {
	out := make([]O, 0, len(common)+len(more))
	for _, o := range common {
		out = append(out, any(o).(O))
	}
	return append(out, more...)
}

// procLogLevel is the processes' --log-level: TERN_TEST_LOG, or warn.
func procLogLevel() string {
	if l := os.Getenv("TERN_TEST_LOG"); l != "" {
		return l
	}
	return "warn"
}
