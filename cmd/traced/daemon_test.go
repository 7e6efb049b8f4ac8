package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"traced/httpui"
)

// The daemon tests run the real binaries: traced as a child process and tracectl
// as an admin would, both built once per test run.

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

func binaries(t testing.TB) (traced, tracectl string) {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "traced-bin-")
		if buildErr != nil {
			return
		}
		for _, c := range []string{"traced", "tracectl"} {
			out, err := exec.Command("go", "build", "-o", filepath.Join(binDir, c), "traced/cmd/"+c).CombinedOutput()
			if err != nil {
				buildErr = fmt.Errorf("build %s: %v\n%s", c, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, "traced"), filepath.Join(binDir, "tracectl")
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// freePort returns a loopback port free for both UDP and TCP.
func freePort(t testing.TB) int {
	t.Helper()
	for i := 0; i < 50; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err == nil {
			u.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// daemon is a traced child process.
type daemon struct {
	t       testing.TB
	data    string
	hepPort int
	webPort int
	args    []string
	client  *httpui.Client // reused, so polling does not open a connection per call
	cmd     *exec.Cmd
	log     *os.File
	done    chan error
}

// startTraced runs traced on data with HEP on a free loopback port (UDP and TCP)
// and waits until its control socket answers.
func startTraced(t testing.TB, data string, extra ...string) *daemon {
	t.Helper()
	d := &daemon{t: t, data: data, hepPort: freePort(t), webPort: freePort(t)}
	d.args = append([]string{"--data", data, "--hep-addr", fmt.Sprintf("127.0.0.1:%d", d.hepPort),
		"--web-addr", fmt.Sprintf("127.0.0.1:%d", d.webPort), "--log-level", "debug"}, extra...)
	d.start()
	t.Cleanup(func() { d.stop() })
	return d
}

func (d *daemon) start() {
	t := d.t
	t.Helper()
	bin, _ := binaries(t)
	var err error
	d.log, err = os.OpenFile(filepath.Join(filepath.Dir(d.data), filepath.Base(d.data)+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	d.cmd = exec.Command(bin, d.args...)
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d.done = make(chan error, 1)
	go func() { d.done <- d.cmd.Wait() }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := d.status(); err == nil {
			return
		}
		select {
		case err := <-d.done:
			t.Fatalf("traced exited at start: %v\n%s", err, d.logText())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("traced did not answer on its control socket\n%s", d.logText())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (d *daemon) stop() {
	if d.cmd == nil || d.cmd.ProcessState != nil {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.done:
		if err != nil {
			d.t.Errorf("traced exited with %v\n%s", err, d.logText())
		}
	case <-time.After(20 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.done
		d.t.Errorf("traced did not stop within 20 s of SIGTERM\n%s", d.logText())
	}
	d.log.Close()
}

func (d *daemon) restart() {
	d.stop()
	d.start()
}

func (d *daemon) logText() string {
	b, _ := os.ReadFile(d.log.Name())
	if len(b) > 8000 {
		b = b[len(b)-8000:]
	}
	return string(b)
}

func (d *daemon) status() (httpui.Status, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if d.client == nil {
		d.client = httpui.NewClient(httpui.SocketPath(d.data))
	}
	return d.client.Status(ctx)
}

// waitStored waits until traced has stored n packets and indexed them all.
func (d *daemon) waitStored(n uint64) httpui.Status {
	d.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s, err := d.status()
		if err == nil && s.Stored >= n && s.IndexBacklog.Blocks == 0 && s.IndexBacklog.Records == 0 {
			return s
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("waiting for %d stored and indexed: %+v (err %v)\n%s", n, s, err, d.logText())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// tracectl runs the tracectl binary against d and returns its standard output.
func (d *daemon) tracectl(args ...string) []byte {
	d.t.Helper()
	_, bin := binaries(d.t)
	cmd := exec.Command(bin, append([]string{"--data", d.data}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		d.t.Fatalf("tracectl %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return out
}

// searchJSON runs tracectl search --json with args and decodes its lines.
func (d *daemon) searchJSON(args ...string) []httpui.Message {
	d.t.Helper()
	out := d.tracectl(append([]string{"search", "--json"}, args...)...)
	var msgs []httpui.Message
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m httpui.Message
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			d.t.Fatalf("tracectl search line %q: %v", sc.Text(), err)
		}
		msgs = append(msgs, m)
	}
	return msgs
}

// kill stops traced with SIGKILL, as a crash would: nothing is flushed or sealed.
func (d *daemon) kill() {
	d.t.Helper()
	if err := d.cmd.Process.Kill(); err != nil {
		d.t.Fatal(err)
	}
	<-d.done
	d.log.Close()
}

// tracectlStreams runs tracectl against d and returns its standard output and
// standard error; it fails the test if tracectl fails.
func (d *daemon) tracectlStreams(args ...string) (stdout, stderr string) {
	d.t.Helper()
	_, bin := binaries(d.t)
	cmd := exec.Command(bin, append([]string{"--data", d.data}, args...)...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Run(); err != nil {
		d.t.Fatalf("tracectl %s: %v\n%s", strings.Join(args, " "), err, e.Bytes())
	}
	return o.String(), e.String()
}

// searchAPI runs a search through the control socket's JSON API (the
// parameters of /api/v1/search).
func (d *daemon) searchAPI(q url.Values) httpui.SearchResult {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := httpui.NewClient(httpui.SocketPath(d.data)).Search(ctx, q)
	if err != nil {
		d.t.Fatalf("search %v: %v", q, err)
	}
	return res
}

// sendUDP sends pkts to d's HEP port, paced so that the loopback never drops.
func (d *daemon) sendUDP(pkts [][]byte) {
	d.t.Helper()
	c, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", d.hepPort))
	if err != nil {
		d.t.Fatal(err)
	}
	defer c.Close()
	for i, p := range pkts {
		if _, err := c.Write(p); err != nil {
			d.t.Fatalf("send packet %d: %v", i, err)
		}
		if i%200 == 199 {
			time.Sleep(2 * time.Millisecond)
		}
	}
}

// webGet returns a function that GETs a path of d's web port with a viewer
// token of its own, failing t unless the answer is 200.
func webGet(t *testing.T, d *daemon) func(path string) []byte {
	t.Helper()
	token := strings.TrimSpace(string(d.tracectl("token", "create", "test-"+strconv.FormatInt(time.Now().UnixNano(), 36), "--role", "viewer")))
	return func(path string) []byte {
		t.Helper()
		return d.webGetWith(t, token, path)
	}
}

// webGetWith GETs a path of d's web port with token, failing t unless the
// answer is 200.
func (d *daemon) webGetWith(t testing.TB, token, path string) []byte {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d%s", d.webPort, path), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	return body
}
