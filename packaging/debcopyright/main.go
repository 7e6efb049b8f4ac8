// Command debcopyright writes the Debian copyright file (machine-readable
// format 1.0) of the traced package: traced's own paragraph, then one
// paragraph per Go module linked into the given commands and one for the Go
// standard library, each with its copyright lines and license as found in the
// module's license files (and its NOTICE, which the Apache License asks to
// pass on).
//
//	go run ./packaging/debcopyright HEAD.txt ./cmd/traced ./cmd/tracectl > debian/copyright
//
// HEAD.txt holds the first paragraphs (traced's own), copied as they are.
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: debcopyright HEAD.txt PACKAGE...")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2:]); err != nil {
		fmt.Fprintln(os.Stderr, "debcopyright:", err)
		os.Exit(1)
	}
}

type module struct{ path, version, dir string }

func run(headPath string, pkgs []string) error {
	head, err := os.ReadFile(headPath)
	if err != nil {
		return err
	}
	mods, err := linkedModules(pkgs)
	if err != nil {
		return err
	}
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		return fmt.Errorf("go env GOROOT: %w", err)
	}
	goversion, err := exec.Command("go", "env", "GOVERSION").Output()
	if err != nil {
		return fmt.Errorf("go env GOVERSION: %w", err)
	}
	var b bytes.Buffer
	b.Write(bytes.TrimRight(head, "\n"))
	b.WriteString("\n")
	used := map[string]bool{}
	para := func(files, what, holder, dir string) error {
		text, lic, copyrights, err := licenseOf(dir, holder)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		fmt.Fprintf(&b, "\nFiles: %s\n", files)
		fmt.Fprintf(&b, "Copyright: %s\n", field(strings.Join(copyrights, "\n")))
		if common[lic] {
			used[lic] = true
			fmt.Fprintf(&b, "License: %s\n", lic)
		} else {
			if strings.Contains(lic, "Apache-2.0") {
				used["Apache-2.0"] = true
			}
			fmt.Fprintf(&b, "License: %s\n%s\n", lic, block(cutApache(text)))
		}
		comment := what + ", linked into traced and tracectl."
		if notice := readNotice(dir); notice != "" {
			comment += "\n\nIts NOTICE file:\n\n" + notice
		}
		fmt.Fprintf(&b, "Comment: %s\n", field(comment))
		return nil
	}
	if err := para("go/src/*", "The Go standard library and runtime ("+strings.TrimSpace(string(goversion))+")",
		"the Go authors", strings.TrimSpace(string(goroot))); err != nil {
		return err
	}
	for _, m := range mods {
		if err := para("go/pkg/mod/"+m.path+"/*", "Go module "+m.path+" "+m.version, "the "+m.path+" authors", m.dir); err != nil {
			return err
		}
	}
	names := make([]string, 0, len(used))
	for n := range used {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(&b, "\nLicense: %s\n On Debian systems, the full text of this license is in\n /usr/share/common-licenses/%s.\n", n, n)
	}
	_, err = os.Stdout.Write(b.Bytes())
	return err
}

// linkedModules lists the modules (not the main one) whose packages the
// commands import, directly or not.
func linkedModules(pkgs []string) ([]module, error) {
	args := append([]string{"list", "-deps", "-f", "{{with .Module}}{{if not .Main}}{{.Path}}\t{{.Version}}\t{{.Dir}}{{end}}{{end}}"}, pkgs...)
	out, err := exec.Command("go", args...).Output()
	if err != nil {
		return nil, fmt.Errorf("go list: %w", err)
	}
	seen := map[string]bool{}
	var mods []module
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) != 3 || seen[f[0]] {
			continue
		}
		seen[f[0]] = true
		mods = append(mods, module{f[0], f[1], f[2]})
	}
	sort.Slice(mods, func(i, j int) bool { return mods[i].path < mods[j].path })
	return mods, sc.Err()
}

// common are the licenses whose text Debian ships in /usr/share/common-licenses.
var common = map[string]bool{"Apache-2.0": true, "MPL-2.0": true}

// licenseOf reads the license files of a module directory and names the
// licenses they hold; holder stands for the copyright holders when the files
// name none.
func licenseOf(dir, holder string) (text, name string, copyrights []string, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", "", nil, err
	}
	var parts []string
	for _, e := range entries {
		n := strings.ToLower(e.Name())
		if e.IsDir() || !(strings.HasPrefix(n, "license") || strings.HasPrefix(n, "licence") || strings.HasPrefix(n, "copying")) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return "", "", nil, err
		}
		parts = append(parts, strings.TrimSpace(string(b)))
	}
	if len(parts) == 0 {
		return "", "", nil, fmt.Errorf("no license file in %s", dir)
	}
	text = strings.Join(parts, "\n\n")
	names := licenseNames(text)
	if len(names) == 0 {
		return "", "", nil, fmt.Errorf("license of %s not recognised", dir)
	}
	name = strings.Join(names, " and ")
	copyrights = copyrightLines(text)
	if len(copyrights) == 0 {
		copyrights = []string{holder}
	}
	return text, name, copyrights, nil
}

func licenseNames(text string) []string {
	var names []string
	has := func(s ...string) bool {
		for _, x := range s {
			if !strings.Contains(text, x) {
				return false
			}
		}
		return true
	}
	if has("Apache License", "Version 2.0") {
		names = append(names, "Apache-2.0")
	}
	if has("Redistribution and use in source and binary forms") {
		if has("Neither the name") || has("names of its") || has("name of the copyright holder") {
			names = append(names, "BSD-3-Clause")
		} else {
			names = append(names, "BSD-2-Clause")
		}
	}
	if has("Permission is hereby granted, free of charge") {
		names = append(names, "Expat")
	}
	if has("Permission to use, copy, modify, and") && has("distribute this software for any") {
		names = append(names, "ISC")
	}
	if has("Mozilla Public License", "2.0") {
		names = append(names, "MPL-2.0")
	}
	return names
}

var copyrightRE = regexp.MustCompile(`(?i)^\s*copyright\s*(\(c\)|©)?\s*(.+)$`)

// copyrightLines returns the holders named on "Copyright ..." lines, leaving
// out the license's own boilerplate.
func copyrightLines(text string) []string {
	seen := map[string]bool{}
	var out []string
	for _, line := range strings.Split(text, "\n") {
		m := copyrightRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		v := strings.TrimSpace(m[2])
		low := strings.ToLower(v)
		if v == "" || strings.ContainsAny(v, "[]{}<>") || strings.Contains(low, "notice") || strings.Contains(low, "holder") ||
			strings.Contains(low, "owner") || strings.HasPrefix(low, "license") || strings.HasPrefix(low, "and ") ||
			!regexp.MustCompile(`\d{4}|[A-Z]`).MatchString(v) {
			continue
		}
		v = strings.TrimPrefix(strings.TrimPrefix(v, "(c)"), "(C)")
		v = strings.TrimSpace(v)
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// cutApache replaces each full text of the Apache License 2.0 (with its
// appendix) by a pointer to the copy Debian ships.
func cutApache(text string) string {
	const terms = "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION"
	const ref = "(The Apache License 2.0: on Debian systems its full text is in /usr/share/common-licenses/Apache-2.0.)"
	for {
		t := strings.Index(text, terms)
		if t < 0 {
			return text
		}
		start := strings.LastIndex(text[:t], "Apache License")
		if start < 0 || t-start > 300 {
			return text
		}
		start = strings.LastIndex(text[:start], "\n") + 1
		e := strings.Index(text[t:], "END OF TERMS AND CONDITIONS")
		if e < 0 {
			return text
		}
		end := t + e + len("END OF TERMS AND CONDITIONS")
		if a := strings.Index(text[end:], "APPENDIX: How to apply the Apache License"); a >= 0 && a < 200 {
			if l := strings.Index(text[end:], "limitations under the License."); l >= 0 {
				end += l + len("limitations under the License.")
			}
		}
		text = text[:start] + ref + text[end:]
	}
}

func readNotice(dir string) string {
	for _, n := range []string{"NOTICE", "NOTICE.txt", "NOTICE.md"} {
		if b, err := os.ReadFile(filepath.Join(dir, n)); err == nil {
			return strings.TrimSpace(string(b))
		}
	}
	return ""
}

// block formats text as the continuation lines of a field: each line indented
// by one space, empty lines as " .".
func block(text string) string {
	var b strings.Builder
	for i, l := range strings.Split(strings.TrimSpace(text), "\n") {
		if i > 0 {
			b.WriteByte('\n')
		}
		l = strings.TrimRight(strings.ReplaceAll(l, "\t", "    "), " \r")
		if l == "" {
			b.WriteString(" .")
		} else {
			b.WriteString(" " + l)
		}
	}
	return b.String()
}

// field formats a value whose first line follows the field name.
func field(text string) string {
	first, rest, ok := strings.Cut(strings.TrimSpace(text), "\n")
	if !ok {
		return first
	}
	return first + "\n" + block(rest)
}
