package binpages

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

func TestMappings(t *testing.T) {
	maps := `00400000-018b4000 r-xp 00000000 fe:00 11116611                           /usr/bin/chaos agent
018b4000-02e94000 r--p 014b4000 fe:00 11116611                           /usr/bin/chaos agent
02e94000-02f32000 rw-p 02a94000 fe:00 11116611                           /usr/bin/chaos agent
02f32000-04f7f000 rw-p 00000000 00:00 0
7f0000000000-7f0000001000 r--s 00000000 fe:00 42                           /usr/bin/chaos agent
7f0000002000-7f0000003000 r--p 00000000 fe:00 43                           /usr/lib/other.so
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]
`
	got, err := Mappings([]byte(maps), "/usr/bin/chaos agent")
	if err != nil {
		t.Fatal(err)
	}
	want := []Mapping{{0x400000, 0x18b4000, "r-xp"}, {0x18b4000, 0x2e94000, "r--p"}}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v (writable, shared and other files' mappings excluded)", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("mapping %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	if _, err := Mappings([]byte("zz-yy r-xp 0 0 0 /x\n"), "/x"); err == nil {
		t.Error("a malformed line was accepted")
	}
}

func rssFileKiB(t *testing.T) int {
	t.Helper()
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "RssFile:" {
			n, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no RssFile in /proc/self/status")
	return 0
}

// TestRelease: the test binary's resident file pages shrink, and the process runs on (code and
// read-only data fault back in from the page cache).
func TestRelease(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Linux only")
	}
	before := rssFileKiB(t)
	n, err := Release()
	if err != nil {
		t.Fatal(err)
	}
	after := rssFileKiB(t)
	t.Logf("released %d bytes of mappings: RssFile %d KiB → %d KiB", n, before, after)
	if n == 0 || after >= before {
		t.Errorf("RssFile %d KiB → %d KiB over %d bytes of mappings: nothing released", before, after, n)
	}
	// Still working: run code that was not needed since start-up.
	if s := strconv.Quote(strings.Repeat("é", 3)); s != `"ééé"` {
		t.Errorf("after release: %s", s)
	}
}
