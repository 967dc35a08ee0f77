// Package imagetest checks that the chaos-agent image built without Docker (hack/cluster.sh
// images, with hack/mkimage) has the same content as the Dockerfile's, the publishing path:
// the same files, user, working directory, environment, entrypoint, command and labels.
//
// The Dockerfile's final stage is parsed; what its base image contributes is described below
// (baseImages), so a new base fails the test until it is described.
package imagetest

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"debug/elf"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

// EnvArchive names the docker-archive of the chaos-agent image (written by hack/cluster.sh
// env with REAL_NODE=1, the way `make test` runs).
const EnvArchive = "CHAOS_AGENT_IMAGE_ARCHIVE"

// base describes what a Dockerfile base image contributes.
type base struct {
	user, workdir string
	env           []string
	files         []string         // regular files and symlinks
	dirs          map[string]int64 // directory → permission bits (with sticky)
	trees         []string         // directory trees whose content is the distribution's (compared by presence)
	passwd        string           // a line /etc/passwd must hold
}

var baseImages = map[string]base{
	// The distroless static image: passwd/group with root, nobody and nonroot (65532), CA
	// certificates, nsswitch.conf, tzdata, /tmp and the nonroot home. No shell.
	"gcr.io/distroless/static-debian12:nonroot": {
		user:    "65532",
		workdir: "/home/nonroot",
		env:     []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"},
		files:   []string{"/etc/passwd", "/etc/group", "/etc/nsswitch.conf", "/etc/ssl/certs/ca-certificates.crt"},
		dirs:    map[string]int64{"/tmp": 0o1777, "/home/nonroot": 0o700, "/root": 0o700},
		trees:   []string{"/usr/share/zoneinfo"},
		passwd:  "nonroot:x:65532:65532:",
	},
}

// finalStage is what the Dockerfile's last stage says.
type finalStage struct {
	from                    string
	user, workdir           string
	entrypoint, cmd         []string
	labels                  map[string]string
	env                     []string
	copies                  map[string]string // destination → source
	buildCopies             []string          // COPY sources of the build stages
	unsupportedInstructions []string
}

func parseDockerfile(t *testing.T, file string) finalStage {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	// Join continuation lines, drop comments.
	var lines []string
	var cur strings.Builder
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if cur.Len() == 0 && (l == "" || strings.HasPrefix(l, "#")) {
			continue
		}
		if strings.HasSuffix(l, "\\") {
			cur.WriteString(strings.TrimSuffix(l, "\\") + " ")
			continue
		}
		cur.WriteString(l)
		lines = append(lines, cur.String())
		cur.Reset()
	}
	var st finalStage
	var stageCopies []string
	for _, l := range lines {
		instr, rest, _ := strings.Cut(l, " ")
		rest = strings.TrimSpace(rest)
		switch strings.ToUpper(instr) {
		case "FROM":
			st.buildCopies = append(st.buildCopies, stageCopies...)
			stageCopies = nil
			st = finalStage{buildCopies: st.buildCopies, labels: map[string]string{}, copies: map[string]string{}}
			st.from = strings.Fields(rest)[0]
		case "COPY":
			f := strings.Fields(rest)
			var from bool
			for len(f) > 0 && strings.HasPrefix(f[0], "--") {
				from = from || strings.HasPrefix(f[0], "--from=")
				f = f[1:]
			}
			if len(f) < 2 {
				t.Fatalf("Dockerfile: COPY %q", rest)
			}
			if from {
				st.copies[f[len(f)-1]] = f[0]
			} else {
				stageCopies = append(stageCopies, f[:len(f)-1]...)
			}
		case "USER":
			st.user = rest
		case "WORKDIR":
			st.workdir = rest
		case "ENTRYPOINT":
			st.entrypoint = jsonList(t, rest)
		case "CMD":
			st.cmd = jsonList(t, rest)
		case "LABEL":
			for _, kv := range splitQuoted(rest) {
				k, v, _ := strings.Cut(kv, "=")
				st.labels[k] = strings.Trim(v, `"`)
			}
		case "ENV":
			for _, kv := range splitQuoted(rest) {
				k, v, _ := strings.Cut(kv, "=")
				st.env = append(st.env, k+"="+strings.Trim(v, `"`))
			}
		case "ARG", "RUN":
		default:
			st.unsupportedInstructions = append(st.unsupportedInstructions, instr)
		}
	}
	st.buildCopies = append(st.buildCopies, stageCopies...)
	return st
}

func jsonList(t *testing.T, s string) []string {
	t.Helper()
	var l []string
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		t.Fatalf("Dockerfile: want the exec (JSON) form, got %s", s)
	}
	return l
}

// splitQuoted splits k="v w" k2=v2 on spaces outside double quotes.
func splitQuoted(s string) []string {
	var out []string
	var cur strings.Builder
	quoted := false
	for _, r := range s {
		switch {
		case r == '"':
			quoted = !quoted
			cur.WriteRune(r)
		case r == ' ' && !quoted:
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
		}
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

// imageConfig is the part of an image config the test compares.
type imageConfig struct {
	Config struct {
		User       string            `json:"User"`
		WorkingDir string            `json:"WorkingDir"`
		Entrypoint []string          `json:"Entrypoint"`
		Cmd        []string          `json:"Cmd"`
		Env        []string          `json:"Env"`
		Labels     map[string]string `json:"Labels"`
	} `json:"config"`
}

type file struct {
	hdr  *tar.Header
	data []byte // content of the few files the test reads
}

// readArchive reads a docker-archive: its config and the files of its layers.
func readArchive(t *testing.T, name string, keep func(string) bool) (imageConfig, map[string]file) {
	t.Helper()
	members := map[string][]byte{}
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		members[h.Name] = b
	}
	var manifest []struct {
		Config string
		Layers []string
	}
	if err := json.Unmarshal(members["manifest.json"], &manifest); err != nil || len(manifest) != 1 {
		t.Fatalf("%s: manifest.json: %v (%d images)", name, err, len(manifest))
	}
	var cfg imageConfig
	if err := json.Unmarshal(members[manifest[0].Config], &cfg); err != nil {
		t.Fatalf("%s: config: %v", name, err)
	}
	files := map[string]file{}
	for _, l := range manifest[0].Layers {
		var r io.Reader = strings.NewReader(string(members[l]))
		if gz, err := gzip.NewReader(r); err == nil {
			r = gz
		} else {
			r = strings.NewReader(string(members[l]))
		}
		lt := tar.NewReader(r)
		for {
			h, err := lt.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: layer %s: %v", name, l, err)
			}
			p := "/" + strings.TrimSuffix(path.Clean(h.Name), "/")
			fl := file{hdr: h}
			if keep(p) {
				if fl.data, err = io.ReadAll(lt); err != nil {
					t.Fatal(err)
				}
			}
			files[p] = fl
		}
	}
	return cfg, files
}

func repoRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(wd, "..", "..")
}

// TestDockerfileCopiesEveryPackage: the build stage copies every directory the binary is built
// from (a package moved to a new top-level directory would break `docker build`).
func TestDockerfileCopiesEveryPackage(t *testing.T) {
	root := repoRoot(t)
	st := parseDockerfile(t, filepath.Join(root, "Dockerfile"))
	if slices.Contains(st.buildCopies, ".") {
		return
	}
	cmd := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.Dir}}{{end}}", "./cmd/chaos-agent")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list: %v: %s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	copied := map[string]bool{}
	for _, c := range st.buildCopies {
		copied[strings.Trim(path.Clean(c), "/")] = true
	}
	for _, need := range []string{"go.mod", "go.sum"} {
		if !copied[need] {
			t.Errorf("Dockerfile: the build stage does not COPY %s", need)
		}
	}
	seen := map[string]bool{}
	for _, dir := range strings.Fields(string(out)) {
		rel, err := filepath.Rel(root, dir)
		if err != nil || strings.HasPrefix(rel, "..") {
			continue // a dependency from the module cache
		}
		top := strings.Split(filepath.ToSlash(rel), "/")[0]
		if !copied[top] && !seen[top] {
			seen[top] = true
			t.Errorf("Dockerfile: the build stage does not COPY %s/, which cmd/chaos-agent is built from", top)
		}
	}
}

// TestImageMatchesDockerfile compares the image hack/cluster.sh built with the Dockerfile.
func TestImageMatchesDockerfile(t *testing.T) {
	archive := os.Getenv(EnvArchive)
	if archive == "" {
		if os.Getenv("CHAOS_AGENT_TEST_REAL_NODE") == "1" || os.Getenv("CHAOS_AGENT_REQUIRE_CLUSTER") == "1" {
			t.Fatalf("%s is unset: build the image with hack/cluster.sh images (make images) and source hack/cluster.sh env", EnvArchive)
		}
		t.Skipf("%s unset: the image is built by `make images` / REAL_NODE=1 hack/cluster.sh up (make test does both)", EnvArchive)
	}
	st := parseDockerfile(t, filepath.Join(repoRoot(t), "Dockerfile"))
	if len(st.unsupportedInstructions) > 0 {
		t.Fatalf("Dockerfile final stage: instructions this test does not understand: %v", st.unsupportedInstructions)
	}
	b, ok := baseImages[st.from]
	if !ok {
		t.Fatalf("Dockerfile: base image %s is not described in baseImages: describe what it contributes", st.from)
	}
	cfg, files := readArchive(t, archive, func(p string) bool { return p == "/etc/passwd" })
	c := cfg.Config

	// Config: the Dockerfile's instruction, else the base's.
	wantUser := b.user
	if st.user != "" {
		wantUser = st.user
	}
	wantWorkdir := b.workdir
	if st.workdir != "" {
		wantWorkdir = st.workdir
	}
	if c.User != wantUser {
		t.Errorf("user: image %q, Dockerfile %q", c.User, wantUser)
	}
	if c.WorkingDir != wantWorkdir {
		t.Errorf("working directory: image %q, Dockerfile %q", c.WorkingDir, wantWorkdir)
	}
	if !slices.Equal(c.Entrypoint, st.entrypoint) {
		t.Errorf("entrypoint: image %q, Dockerfile %q", c.Entrypoint, st.entrypoint)
	}
	if !slices.Equal(c.Cmd, st.cmd) {
		t.Errorf("cmd: image %q, Dockerfile %q", c.Cmd, st.cmd)
	}
	wantEnv := append(slices.Clone(b.env), st.env...)
	if got, want := sorted(c.Env), sorted(wantEnv); !slices.Equal(got, want) {
		t.Errorf("env: image %q, Dockerfile %q", got, want)
	}
	for k, v := range st.labels {
		got, ok := c.Labels[k]
		switch {
		case !ok:
			t.Errorf("label %s: missing from the image", k)
		case strings.Contains(v, "${"):
			if got == "" {
				t.Errorf("label %s: empty in the image (Dockerfile: %s)", k, v)
			}
		case got != v:
			t.Errorf("label %s: image %q, Dockerfile %q", k, got, v)
		}
	}
	for k := range c.Labels {
		if _, ok := st.labels[k]; !ok {
			t.Errorf("label %s: in the image, not in the Dockerfile", k)
		}
	}

	// Files: the base's plus the Dockerfile's COPYs, nothing else (no shell).
	want := map[string]bool{}
	for _, f := range b.files {
		want[f] = true
	}
	for dst := range st.copies {
		want[dst] = true
	}
	inTree := func(p string) bool {
		for _, tr := range b.trees {
			if p == tr || strings.HasPrefix(p, tr+"/") {
				return true
			}
		}
		return false
	}
	for p, f := range files {
		if f.hdr.Typeflag == tar.TypeDir {
			continue
		}
		if !want[p] && !inTree(p) {
			t.Errorf("file %s is in the image but not in the Dockerfile's", p)
		}
	}
	for p := range want {
		if _, ok := files[p]; !ok {
			t.Errorf("file %s is in the Dockerfile's image but not in this one", p)
		}
	}
	for _, tr := range b.trees {
		if f, ok := files[tr]; !ok || f.hdr.Typeflag != tar.TypeDir {
			t.Errorf("directory tree %s is missing", tr)
		}
	}
	for d, mode := range b.dirs {
		f, ok := files[d]
		switch {
		case !ok || f.hdr.Typeflag != tar.TypeDir:
			t.Errorf("directory %s is missing", d)
		case f.hdr.Mode&0o7777 != mode:
			t.Errorf("directory %s: mode %o, want %o", d, f.hdr.Mode&0o7777, mode)
		}
	}
	if home, ok := files[wantWorkdir]; ok && strings.HasPrefix(wantUser, "65532") && home.hdr.Uid != 65532 {
		t.Errorf("%s is owned by %d, not by the image's user", wantWorkdir, home.hdr.Uid)
	}
	if !strings.Contains(string(files["/etc/passwd"].data), "\n"+b.passwd) && !strings.HasPrefix(string(files["/etc/passwd"].data), b.passwd) {
		t.Errorf("/etc/passwd lacks %q:\n%s", b.passwd, files["/etc/passwd"].data)
	}
	for _, sh := range []string{"/bin/sh", "/bin/busybox", "/bin/bash"} {
		if _, ok := files[sh]; ok {
			t.Errorf("%s: the image must have no shell", sh)
		}
	}

	// The binary: executable by anyone, and static (no interpreter): it runs on a base without libc.
	if len(st.entrypoint) == 0 {
		t.Fatal("Dockerfile: no ENTRYPOINT")
	}
	bin, ok := files[st.entrypoint[0]]
	if !ok {
		t.Fatalf("entrypoint %s is not in the image", st.entrypoint[0])
	}
	if bin.hdr.Mode&0o111 != 0o111 {
		t.Errorf("%s: mode %o, want executable by all", st.entrypoint[0], bin.hdr.Mode)
	}
	_, all := readArchive(t, archive, func(p string) bool { return p == st.entrypoint[0] })
	ef, err := elf.NewFile(strings.NewReader(string(all[st.entrypoint[0]].data)))
	if err != nil {
		t.Fatalf("%s: %v", st.entrypoint[0], err)
	}
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s is dynamically linked (CGO_ENABLED=0 is required)", st.entrypoint[0])
		}
	}
	t.Logf("%s: %d files, user %s, entrypoint %q %q", archive, len(files), c.User, c.Entrypoint, c.Cmd)
}

func sorted(l []string) []string {
	l = slices.Clone(l)
	sort.Strings(l)
	return l
}
