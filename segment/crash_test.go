package segment

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// crashChildEnv names the directory a re-executed test binary appends to until
// it is killed.
const crashChildEnv = "TRACED_SEGMENT_CRASH_CHILD"

// TestCrashKill9 re-executes the test binary as a writer, kills it with SIGKILL
// at a random moment, and checks on reopen that the records read back are a
// prefix of those appended, and include every record a Flush had confirmed.
func TestCrashKill9(t *testing.T) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(dir)
		return
	}
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for run := range 5 {
		dir := t.TempDir()
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashKill9$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		killAfter := 1 + rng.IntN(30)
		durable := 0
		sc := bufio.NewScanner(out)
		for lines := 0; lines < killAfter && sc.Scan(); {
			if n, ok := strings.CutPrefix(sc.Text(), "durable "); ok {
				durable, _ = strconv.Atoi(n)
				lines++
			}
		}
		time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		if durable == 0 {
			t.Fatalf("run %d: the writer confirmed nothing before it was killed", run)
		}

		d := mustOpen(t, dir, Options{})
		got := readAll(t, d)
		if len(got) < durable {
			t.Fatalf("run %d: %d records back, %d were confirmed durable", run, len(got), durable)
		}
		sameRecords(t, got, testRecords(0, len(got)))
		st := d.Stats()
		t.Logf("run %d: killed after %d confirmed, %d records back, lost tail %+v", run, durable, len(got), st.Recovered)
		mustClose(t, d)
	}
}

// crashChild appends testRecord(0), testRecord(1)... to dir, flushing every 50
// records and printing how many are durable, until it is killed.
func crashChild(dir string) {
	d, err := Open(dir, Options{BlockSize: 8 << 10, FlushInterval: 2 * time.Millisecond})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(1)
	}
	for i := 0; ; i++ {
		if err := d.Append(testRecord(i)); err != nil {
			fmt.Println("append:", err)
			os.Exit(1)
		}
		if (i+1)%50 == 0 {
			if err := d.Flush(); err != nil {
				fmt.Println("flush:", err)
				os.Exit(1)
			}
			fmt.Printf("durable %d\n", i+1)
		}
	}
}
