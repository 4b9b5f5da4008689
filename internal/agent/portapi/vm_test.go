// SPDX-License-Identifier: Apache-2.0

package portapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

const testVM2 = "bbbbbbbb-bbbb-cccc-dddd-eeeeeeeeeeee"

// vmJSON is a POST /vm body as the Kubernetes CNI plugin sends it.
const vmJSON = `{
  "time": "2026-11-25 20:00:00.000000",
  "vm-id": "pod-uid-1",
  "vm-uuid": "AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE",
  "vm-name": "default__pod1",
  "host-ifname": "tapeth0-111111",
  "vm-ifname": "eth0",
  "vm-namespace": "/var/run/netns/pod1",
  "vn-uuid": "",
  "vmi-uuid": "11111111-2222-3333-4444-555555555555"
}`

// expectError checks a 4xx/5xx answer's status, code and field.
func (f *fixture) expectError(method, path, body string, status int, code, field string) {
	f.t.Helper()
	var eb errorBody
	got := f.do(method, path, body, &eb)
	if got != status || eb.Error.Code != code || eb.Error.Field != field || eb.Error.Message == "" {
		f.t.Errorf("%s %s: %d %+v; want %d code %q field %q", method, path, got, eb.Error, status, code, field)
	}
}

func TestDecodePortLinkState(t *testing.T) {
	for _, tt := range []struct {
		name, body string
		disabled   bool
	}{
		{"vm port, left out", strings.Replace(validJSON, `,
  "link-state": 1`, "", 1), false},
		{"remote port, left out", strings.Replace(strings.Replace(validJSON, `,
  "link-state": 1`, "", 1), `"type": 0`, `"type": 2`, 1), true},
		{"up", validJSON, false},
		{"down", strings.Replace(validJSON, `"link-state": 1`, `"link-state": 0`, 1), true},
	} {
		p, err := DecodePort(strings.NewReader(tt.body))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if p.Disabled != tt.disabled {
			t.Errorf("%s: Disabled %v, want %v", tt.name, p.Disabled, tt.disabled)
		}
		b, _ := json.Marshal(p)
		want := fmt.Sprintf(`"link-state":%d`, map[bool]int{false: 1, true: 0}[tt.disabled])
		if !strings.Contains(string(b), want) {
			t.Errorf("%s: JSON %s lacks %s", tt.name, b, want)
		}
		var back Port
		if err := json.Unmarshal(b, &back); err != nil || back != p {
			t.Errorf("%s: round trip %+v %v, want %+v", tt.name, back, err, p)
		}
	}
	// The zero value of a Port is enabled, and so is its JSON.
	b, _ := json.Marshal(testPort(testVMI, "tap0"))
	if !strings.Contains(string(b), `"link-state":1`) {
		t.Errorf("zero link state written as %s", b)
	}
	_, err := DecodePort(strings.NewReader(strings.Replace(validJSON, `"link-state": 1`, `"link-state": "up"`, 1)))
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != FieldLinkState {
		t.Errorf("string link-state: %v", err)
	}
}

func TestServerEnableDisable(t *testing.T) {
	f := newFixture(t, t.TempDir())
	if code := f.do("POST", "/port", validJSON, nil); code != 200 {
		t.Fatalf("POST /port = %d", code)
	}
	var got Port
	if code := f.do("PUT", "/disable-port/"+strings.ToUpper(testVMI), "", &got); code != 200 || !got.Disabled {
		t.Fatalf("PUT /disable-port = %d %+v", code, got)
	}
	_, prog := f.dp.snapshot()
	if !prog[testVMI].Disabled {
		t.Errorf("dataplane not told: %+v", prog[testVMI])
	}
	// Shown in GET, as the original's key.
	var raw map[string]any
	if code := f.do("GET", "/port/"+testVMI, "", &raw); code != 200 || raw["link-state"] != float64(0) {
		t.Errorf("GET after disable = %d %v", code, raw)
	}
	// Idempotent: no second Apply.
	calls, _ := f.dp.snapshot()
	if code := f.do("PUT", "/disable-port/"+testVMI, "", nil); code != 200 {
		t.Errorf("second disable = %d", code)
	}
	if calls2, _ := f.dp.snapshot(); len(calls2) != len(calls) {
		t.Errorf("second disable called hooks: %q", calls2[len(calls):])
	}
	// Persisted: a restarted agent's store has it disabled.
	if p, _ := mustOpen(t, f.dir, nil).Get(testVMI); !p.Disabled {
		t.Errorf("reloaded port %+v is not disabled", p)
	}
	if code := f.do("PUT", "/enable-port/"+testVMI, "", &got); code != 200 || got.Disabled {
		t.Errorf("PUT /enable-port = %d %+v", code, got)
	}
	if p, _ := mustOpen(t, f.dir, nil).Get(testVMI); p.Disabled {
		t.Errorf("reloaded port %+v is still disabled", p)
	}
	f.expectError("PUT", "/disable-port/"+uuidN(9), "", 404, CodeNotFound, "")
	f.expectError("PUT", "/enable-port/not-a-uuid", "", 400, CodeInvalid, FieldID)
}

func TestServerDisableStoreFailureUndoes(t *testing.T) {
	f := newFixture(t, t.TempDir())
	if code := f.do("POST", "/port", validJSON, nil); code != 200 {
		t.Fatalf("POST /port = %d", code)
	}
	if err := os.RemoveAll(f.dir); err != nil {
		t.Fatal(err)
	}
	var eb errorBody
	if code := f.do("PUT", "/disable-port/"+testVMI, "", &eb); code != 500 {
		t.Errorf("disable with a broken store = %d %+v", code, eb)
	}
	_, prog := f.dp.snapshot()
	if prog[testVMI].Disabled {
		t.Error("dataplane left with the port disabled although the store refused")
	}
	if p, _ := f.srv.Store.Get(testVMI); p.Disabled {
		t.Error("store memory changed")
	}
}

func TestServerVMPorts(t *testing.T) {
	f := newFixture(t, t.TempDir())
	f.srv.Describe = func(p Port) (Port, error) {
		if p.ID == uuidN(7) {
			return Port{}, fmt.Errorf("%w: not in config", ErrUnavailable)
		}
		p.IPAddress, p.Plen, p.Gateway, p.MACAddress = "10.0.0.3", 24, "10.0.0.1", "02:11:11:11:11:22"
		return p, nil
	}
	var v VMPort
	if code := f.do("POST", "/vm", vmJSON, &v); code != 200 {
		t.Fatalf("POST /vm = %d", code)
	}
	if v.VMUUID != testVM || v.VMIUUID != testVMI || v.HostIfname != "tapeth0-111111" {
		t.Errorf("POST /vm answer %+v", v)
	}
	path := filepath.Join(f.dir, "vm", testVM, testVMI)
	if _, err := os.Stat(path); err != nil {
		t.Errorf("VM port file: %v", err)
	}
	_, prog := f.dp.snapshot()
	if p := prog[testVMI]; p.SystemName != "tapeth0-111111" || p.InstanceID != testVM || p.Type != TypeNamespace {
		t.Errorf("dataplane has %+v", p)
	}
	// A second VMI of the same VM, and one of another VM.
	second := VMPort{VMUUID: testVM, VMIUUID: uuidN(2), VMName: "default__pod1", HostIfname: "tapeth1-222222"}
	other := VMPort{VMUUID: testVM2, VMIUUID: uuidN(3), VMName: "vm2", HostIfname: "tap3"}
	for _, x := range []VMPort{second, other} {
		if code := f.do("POST", "/vm", jsonBody(t, x), nil); code != 200 {
			t.Fatalf("POST /vm %s = %d", x.VMIUUID, code)
		}
	}
	var ports []Port
	if code := f.do("GET", "/vm/"+testVM, "", &ports); code != 200 || len(ports) != 2 ||
		ports[0].ID != uuidN(2) || ports[1].ID != testVMI || ports[1].IPAddress != "10.0.0.3" || ports[1].Plen != 24 {
		t.Errorf("GET /vm = %d %+v", code, ports)
	}
	if code := f.do("GET", "/vm/"+testVM+"/"+uuidN(2), "", &ports); code != 200 || len(ports) != 1 || ports[0].ID != uuidN(2) {
		t.Errorf("GET /vm/vm/vmi = %d %+v", code, ports)
	}
	var p Port
	if code := f.do("GET", "/port/"+testVMI, "", &p); code != 200 || p.SystemName != "tapeth0-111111" {
		t.Errorf("GET /port of a VM port = %d %+v", code, p)
	}
	f.expectError("GET", "/vm/"+uuidN(8), "", 404, CodeNotFound, "")
	f.expectError("GET", "/vm/"+testVM+"/"+uuidN(8), "", 404, CodeNotFound, "")
	f.expectError("GET", "/vm/nope", "", 400, CodeInvalid, FieldVMUUID)
	f.expectError("GET", "/vm/"+testVM+"/nope", "", 400, CodeInvalid, FieldVMIUUID)
	// Not resolved yet: 503, retry.
	if code := f.do("POST", "/vm", jsonBody(t, VMPort{VMUUID: uuidN(6), VMIUUID: uuidN(7), VMName: "late", HostIfname: "tap7"}), nil); code != 200 {
		t.Fatal("POST /vm late")
	}
	f.expectError("GET", "/vm/"+uuidN(6), "", 503, CodeUnavailable, "")

	// Conflicts both ways, with the field named.
	f.expectError("POST", "/port", jsonBody(t, testPort(testVMI, "tapx")), 409, CodeConflict, FieldID)
	f.expectError("DELETE", "/port/"+testVMI, "", 409, CodeConflict, FieldID)
	if code := f.do("POST", "/port", jsonBody(t, testPort(uuidN(5), "tap5")), nil); code != 200 {
		t.Fatal("POST /port")
	}
	f.expectError("POST", "/vm", jsonBody(t, VMPort{VMUUID: testVM, VMIUUID: uuidN(5), VMName: "x", HostIfname: "tap5"}), 409, CodeConflict, FieldVMIUUID)
	f.expectError("POST", "/vm", jsonBody(t, VMPort{VMUUID: testVM2, VMIUUID: testVMI, VMName: "x", HostIfname: "tap5"}), 409, CodeConflict, FieldVMIUUID)

	// A restarted agent gets every port back, VM ones included.
	st := mustOpen(t, f.dir, nil)
	var ids []string
	for _, p := range st.AllPorts() {
		ids = append(ids, p.ID)
	}
	if want := []string{testVMI, uuidN(2), uuidN(3), uuidN(5), uuidN(7)}; !slices.Equal(ids, sortedCopy(want)) {
		t.Errorf("reloaded ports %q, want %q", ids, sortedCopy(want))
	}
	srv2 := &Server{Store: st}
	dp2 := newDataplane()
	dp2.install(srv2)
	if res := srv2.Sync(); res.Applied != 5 {
		t.Errorf("sync after restart applied %d", res.Applied)
	}

	// Delete one VMI, then the whole VM.
	var gone []VMPort
	if code := f.do("DELETE", "/vm/"+testVM+"/"+uuidN(2), "", &gone); code != 200 || len(gone) != 1 {
		t.Errorf("DELETE /vm/vm/vmi = %d %+v", code, gone)
	}
	f.expectError("DELETE", "/vm/"+testVM+"/"+uuidN(2), "", 404, CodeNotFound, "")
	if code := f.do("DELETE", "/vm/"+strings.ToUpper(testVM), "", &gone); code != 200 || len(gone) != 1 || gone[0].VMIUUID != testVMI {
		t.Errorf("DELETE /vm = %d %+v", code, gone)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "vm", testVM)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("VM directory left after its last port: %v", err)
	}
	if code := f.do("DELETE", "/vm/"+testVM, "", &gone); code != 200 || len(gone) != 0 {
		t.Errorf("DELETE of a VM without ports = %d %+v (the original answers 200)", code, gone)
	}
	f.expectError("DELETE", "/vm/nope", "", 400, CodeInvalid, FieldVMUUID)
	_, prog = f.dp.snapshot()
	if _, ok := prog[testVMI]; ok {
		t.Error("deleted VM port still programmed")
	}
	if _, ok := prog[uuidN(3)]; !ok {
		t.Error("the other VM's port was removed")
	}

	// Disable and enable a VM port.
	var dp Port
	if code := f.do("PUT", "/disable-port/"+uuidN(3), "", &dp); code != 200 || !dp.Disabled {
		t.Errorf("disable VM port = %d %+v", code, dp)
	}
	if v, _ := mustOpen(t, f.dir, nil).GetVM(uuidN(3)); !v.Disabled {
		t.Error("VM port disable not persisted")
	}
	if code := f.do("PUT", "/enable-port/"+uuidN(3), "", &dp); code != 200 || dp.Disabled {
		t.Errorf("enable VM port = %d %+v", code, dp)
	}
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

func TestServerVMPortErrors(t *testing.T) {
	f := newFixture(t, t.TempDir())
	for _, tt := range []struct {
		name, body  string
		status      int
		code, field string
	}{
		{"not json", "{", 400, CodeMalformed, ""},
		{"empty", "", 400, CodeMalformed, ""},
		{"array", "[]", 400, CodeMalformed, ""},
		{"unknown field", strings.Replace(vmJSON, `"vm-ifname"`, `"vm-ifnam"`, 1), 400, CodeUnknownField, "vm-ifnam"},
		{"bad vm-uuid", strings.Replace(vmJSON, `"AAAAAAAA-`, `"XAAAAAAA-`, 1), 400, CodeInvalid, FieldVMUUID},
		{"bad vmi-uuid", strings.Replace(vmJSON, `"11111111-2222`, `"1111111-2222`, 1), 400, CodeInvalid, FieldVMIUUID},
		{"bad vn-uuid", strings.Replace(vmJSON, `"vn-uuid": ""`, `"vn-uuid": "net1"`, 1), 400, CodeInvalid, FieldVNUUID},
		{"vm-uuid as number", strings.Replace(vmJSON, `"AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE"`, `7`, 1), 400, CodeInvalid, FieldVMUUID},
		{"no host-ifname", strings.Replace(vmJSON, `"host-ifname": "tapeth0-111111",`, "", 1), 400, CodeRequired, FieldHostIfname},
		{"bad host-ifname", strings.Replace(vmJSON, `"tapeth0-111111"`, `"tap/eth0"`, 1), 400, CodeInvalid, FieldHostIfname},
		{"no vm-name", strings.Replace(vmJSON, `"vm-name": "default__pod1",`, "", 1), 400, CodeRequired, FieldVMName},
		{"bad link-state", strings.Replace(vmJSON, `"vm-id"`, `"link-state": 3, "vm-id"`, 1), 400, CodeInvalid, FieldLinkState},
		{"too large", strings.Repeat(" ", MaxBodySize+1), 413, CodeTooLarge, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f.t = t
			f.expectError("POST", "/vm", tt.body, tt.status, tt.code, tt.field)
		})
	}
	f.t = t
	// Validate refuses: nothing stored.
	f.dp.fail("validate", fmt.Errorf("%w: host-ifname: no such device", ErrBadRequest))
	f.expectError("POST", "/vm", vmJSON, 400, CodeRejected, "")
	f.dp.fail("validate", nil)
	// Apply fails: nothing stored.
	f.dp.fail("apply", errors.New("dataplane down"))
	f.expectError("POST", "/vm", vmJSON, 500, CodeApplyFailed, "")
	f.dp.fail("apply", nil)
	if _, err := os.Stat(filepath.Join(f.dir, "vm")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("refused VM ports left files: %v", err)
	}
	if n := len(f.srv.Store.ListVM("")); n != 0 {
		t.Errorf("%d VM ports stored", n)
	}
	_, prog := f.dp.snapshot()
	if len(prog) != 0 {
		t.Errorf("refused VM ports programmed: %v", prog)
	}
}

func TestServerVMStoreFailureUndoes(t *testing.T) {
	f := newFixture(t, t.TempDir())
	if err := os.RemoveAll(f.dir); err != nil {
		t.Fatal(err)
	}
	var eb errorBody
	if code := f.do("POST", "/vm", vmJSON, &eb); code != 500 {
		t.Errorf("POST /vm with a broken store = %d %+v", code, eb)
	}
	calls, prog := f.dp.snapshot()
	if len(prog) != 0 || !slices.Equal(calls, []string{"validate " + testVMI, "apply " + testVMI, "remove " + testVMI}) {
		t.Errorf("not undone: calls %q, programmed %v", calls, prog)
	}
}

func TestServerVMConfig(t *testing.T) {
	f := newFixture(t, t.TempDir())
	f.expectError("GET", "/vm-cfg/pod1", "", 404, CodeNotFound, "")
	f.srv.VMConfig = func(name string) ([]VMIConfig, error) {
		if name != "default:pod1" {
			return nil, fmt.Errorf("%w: VM %q", ErrNotFound, name)
		}
		return []VMIConfig{{ID: testVMI, VMUUID: testVM, VNID: testVN, VNName: "default-domain:k8s:net", MACAddress: "02:00:00:00:00:01",
			IPAddress: "10.0.0.3", Plen: 24}}, nil
	}
	var got []map[string]any
	if code := f.do("GET", "/vm-cfg/default:pod1", "", &got); code != 200 || len(got) != 1 ||
		got[0]["vn-name"] != "default-domain:k8s:net" || got[0]["ip-address"] != "10.0.0.3" || got[0]["sub-interface"] != false {
		t.Errorf("GET /vm-cfg = %d %v", code, got)
	}
	f.expectError("GET", "/vm-cfg/other", "", 404, CodeNotFound, "")
	f.expectError("GET", "/vm-cfg/"+strings.Repeat("n", maxDisplayNameLen+1), "", 400, CodeInvalid, FieldVMName)
}

func TestServerGateway(t *testing.T) {
	f := newFixture(t, t.TempDir())
	good := `[{"interface": "vgw1", "routing-instance": "default-domain:admin:public:public",
	  "subnets": [{"ip-address": "192.0.2.0", "prefix-len": 24}], "routes": []}]`
	f.expectError("POST", "/gateway", good, 501, CodeNotImplemented, "")
	f.expectError("DELETE", "/gateway", `[{"interface": "vgw1"}]`, 501, CodeNotImplemented, "")
	for _, tt := range []struct {
		name, method, body string
		code, field        string
	}{
		{"not json", "POST", "[", CodeMalformed, ""},
		{"object", "POST", `{"interface": "vgw1"}`, CodeMalformed, ""},
		{"empty array", "POST", `[]`, CodeMalformed, ""},
		{"unknown field", "POST", strings.Replace(good, `"routes"`, `"route"`, 1), CodeUnknownField, "route"},
		{"no interface", "POST", strings.Replace(good, `"interface": "vgw1",`, "", 1), CodeRequired, "[0].interface"},
		{"no routing-instance", "POST", strings.Replace(good, `"routing-instance": "default-domain:admin:public:public",`, "", 1), CodeRequired, "[0].routing-instance"},
		{"no routes", "POST", strings.Replace(good, `, "routes": []`, "", 1), CodeRequired, "[0].routes"},
		{"bad address", "POST", strings.Replace(good, "192.0.2.0", "192.0.2", 1), CodeInvalid, "[0].subnets[0].ip-address"},
		{"bad prefix-len", "POST", strings.Replace(good, `"prefix-len": 24`, `"prefix-len": 33`, 1), CodeInvalid, "[0].subnets[0].prefix-len"},
		{"no prefix-len", "POST", strings.Replace(good, `, "prefix-len": 24`, ``, 1), CodeRequired, "[0].subnets[0].prefix-len"},
		{"delete without interface", "DELETE", `[{}]`, CodeRequired, "[0].interface"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f.t = t
			f.expectError(tt.method, "/gateway", tt.body, 400, tt.code, tt.field)
		})
	}
	f.t = t
	if calls, _ := f.dp.snapshot(); len(calls) != 0 {
		t.Errorf("gateway requests called hooks: %q", calls)
	}
}

// TestStoreGroupCommit writes many ports from many goroutines, several
// changes per port: every Put returns only once durable, and the last
// change of each port wins, in memory and on disk.
func TestStoreGroupCommit(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, nil)
	const ports, writers = 40, 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	last := map[string]string{}
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range ports {
				id := uuidN(i)
				p := testPort(id, fmt.Sprintf("t%d-%d", i, w))
				// One lock per port id keeps "last" equal to the
				// order of the Puts of that id.
				mu.Lock()
				op, err := s.enqueuePut(p)
				if err == nil {
					last[id] = p.SystemName
				}
				mu.Unlock()
				if err != nil {
					t.Error(err)
					continue
				}
				if err := s.wait(op); err != nil {
					t.Error(err)
				}
				if _, err := os.Stat(filepath.Join(dir, id)); err != nil {
					t.Errorf("Put returned before the file existed: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	re := mustOpen(t, dir, nil)
	for id, tap := range last {
		if p, _ := s.Get(id); p.SystemName != tap {
			t.Errorf("memory: %s on %s, want %s", id, p.SystemName, tap)
		}
		if p, _ := re.Get(id); p.SystemName != tap {
			t.Errorf("disk: %s on %s, want %s", id, p.SystemName, tap)
		}
	}
	if re.Len() != ports {
		t.Errorf("%d ports reloaded", re.Len())
	}
}
