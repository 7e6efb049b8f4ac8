package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSettingsSet(t *testing.T) {
	for _, c := range []struct {
		name, in, key, val, want string
	}{
		{"after the documented default", "# Days.\n#TRACED_RETENTION_DAYS=5\n\n# Other.\n#TRACED_X=1\n", "TRACED_RETENTION_DAYS", "9",
			"# Days.\n#TRACED_RETENTION_DAYS=5\nTRACED_RETENTION_DAYS=9\n\n# Other.\n#TRACED_X=1\n"},
		{"replaces the setting in effect", "A=1\nTRACED_WEB_PORT=9080\nB=2\n", "TRACED_WEB_PORT", "8080",
			"A=1\nTRACED_WEB_PORT=8080\nB=2\n"},
		{"earlier duplicates commented out", "TRACED_WEB_PORT=1\nTRACED_WEB_PORT=2\n", "TRACED_WEB_PORT", "3",
			"#TRACED_WEB_PORT=1\nTRACED_WEB_PORT=3\n"},
		{"appended when absent", "# nothing\nA=1", "TRACED_DATA", "/srv/traced",
			"# nothing\nA=1\nTRACED_DATA=/srv/traced\n"},
		{"empty file", "", "TRACED_DATA", "/srv/traced", "TRACED_DATA=/srv/traced\n"},
		{"a similar key is not touched", "TRACED_WEB_PORTS=1\n#TRACED_WEB_PORT_X=2\n", "TRACED_WEB_PORT", "3",
			"TRACED_WEB_PORTS=1\n#TRACED_WEB_PORT_X=2\nTRACED_WEB_PORT=3\n"},
		{"quoted when needed", "", "TRACED_DATA", "/srv/my traces", "TRACED_DATA='/srv/my traces'\n"},
		{"CRLF kept", "A=1\r\n#TRACED_DATA=/x\r\n", "TRACED_DATA", "/y", "A=1\r\n#TRACED_DATA=/x\r\nTRACED_DATA=/y\r\n"},
		{"export and spaces", "  export TRACED_DATA = /a\n", "TRACED_DATA", "/b", "TRACED_DATA=/b\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := parseSettings([]byte(c.in))
			s.Set(c.key, c.val)
			if got := string(s.bytes()); got != c.want {
				t.Errorf("Set(%s=%s) on\n%q\ngave\n%q\nwant\n%q", c.key, c.val, c.in, got, c.want)
			}
			if v, ok := parseSettings(s.bytes()).Get(c.key); !ok || v != c.val {
				t.Errorf("read back %s = %q, %v; want %q", c.key, v, ok, c.val)
			}
		})
	}
}

func TestSettingsGet(t *testing.T) {
	s := parseSettings([]byte("#TRACED_DATA=/commented\nTRACED_DATA='/first'\nTRACED_DATA=\"/second\"\nTRACED_HEP_ADDR=:9060,:9063\n"))
	if v, _ := s.Get("TRACED_DATA"); v != "/second" {
		t.Errorf("TRACED_DATA = %q, want the last uncommented value /second", v)
	}
	if _, ok := s.Get("TRACED_WEB_PORT"); ok {
		t.Error("an absent key was found")
	}
	web, hep := effectivePorts(s)
	if web != 9080 || joinPorts(hep) != "9060, 9063" {
		t.Errorf("effective ports %d %v", web, hep)
	}
	s.Set("TRACED_HEP_PORT", "9100")
	s.Set("TRACED_WEB_ADDR", "127.0.0.1:8000")
	if web, hep := effectivePorts(s); web != 8000 || joinPorts(hep) != "9060, 9100" {
		t.Errorf("effective ports after the edit %d %v", web, hep)
	}
}

// TestShippedSettingsFileEdit edits the settings file the package ships, as
// tracectl run does, and checks that only the four lines it sets were added.
func TestShippedSettingsFileEdit(t *testing.T) {
	orig, err := os.ReadFile(filepath.Join("..", "..", "packaging", "default", "traced"))
	if err != nil {
		t.Fatal(err)
	}
	s := parseSettings(orig)
	p := runPlan{dir: "/srv/traced", days: 9, web: 8080, hep: 9070}
	for _, kv := range p.assignments() {
		s.Set(kv[0], kv[1])
	}
	got := strings.Split(string(s.bytes()), "\n")
	old := strings.Split(string(orig), "\n")
	var added []string
	j := 0
	for _, l := range got {
		if j < len(old) && l == old[j] {
			j++
			continue
		}
		added = append(added, l)
	}
	if j != len(old) {
		t.Errorf("lines of the shipped file were changed or lost: matched %d of %d", j, len(old))
	}
	want := "TRACED_DATA=/srv/traced|TRACED_RETENTION_DAYS=9|TRACED_HEP_PORT=9070|TRACED_WEB_PORT=8080"
	if strings.Join(added, "|") != want {
		t.Errorf("added lines %q, want %q", added, want)
	}
}
