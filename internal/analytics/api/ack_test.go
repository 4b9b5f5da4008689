// SPDX-License-Identifier: Apache-2.0

package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/contrail-go/contrail/internal/analytics/uve"
)

// processDown raises on a vrouter whose NodeStatus lists a process that
// is not running.
var processDown = Alarm{
	FQName:   []string{"default-global-system-config", "process-down"},
	UVEKeys:  AlarmUVEKeys{UVEKey: []string{"vrouter"}},
	Severity: 1,
	IDPerms:  &AlarmIDPerms{Description: "a process is not running"},
	Rules: AlarmOrList{OrList: []AlarmAndList{{AndList: []AlarmExpression{{
		Operand1: "NodeStatus.process_info.process_state", Operation: "!=",
		Operand2: AlarmOperand2{JSONValue: `"PROCESS_STATE_RUNNING"`},
	}}}}},
}

const processDownType = "default-global-system-config:process-down"

func nodeStatus(state string) map[string]any {
	return map[string]any{"process_info": []any{
		map[string]any{"process_name": "contrail-vrouter-agent", "process_state": state},
	}}
}

// newAlarmServer serves src with the process-down alarm; ackFile may be "".
func newAlarmServer(t *testing.T, src uve.Source, ackFile string) *fixture {
	t.Helper()
	srv := NewServer(Config{UVEs: src, AckFile: ackFile, Now: func() time.Time { return t0 },
		Alarms: func(context.Context) ([]Alarm, error) { return []Alarm{processDown}, nil }})
	f := &fixture{srv: httptest.NewServer(srv)}
	t.Cleanup(f.srv.Close)
	return f
}

// alarmOf returns the alarm of type typ on vrouter name from GET
// /analytics/alarms (with query q), nil if there is none.
func alarmOf(t *testing.T, f *fixture, q, name, typ string) map[string]any {
	t.Helper()
	code, v := f.get(t, "/analytics/alarms"+q)
	if code != 200 {
		t.Fatalf("alarms%s: %d %v", q, code, v)
	}
	list, _ := v.(map[string]any)["vrouter"].([]any)
	for _, e := range list {
		e := e.(map[string]any)
		if e["name"] != name {
			continue
		}
		for _, a := range e["value"].(map[string]any)["UVEAlarms"].(map[string]any)["alarms"].([]any) {
			if a.(map[string]any)["type"] == typ {
				return a.(map[string]any)
			}
		}
	}
	return nil
}

func ackBody(table, name, typ, token string) string {
	b, _ := json.Marshal(map[string]string{"table": table, "name": name, "type": typ, "token": token})
	return string(b)
}

func errField(v any) any { return v.(map[string]any)["error"].(map[string]any)["field"] }

func TestAlarmAcknowledge(t *testing.T) {
	src := newFake()
	src.put("vrouter", "host1", "host1:contrail-nodemgr", "NodeStatus", nodeStatus("PROCESS_STATE_EXITED"))
	src.put("vrouter", "host2", "host2:contrail-nodemgr", "NodeStatus", nodeStatus("PROCESS_STATE_RUNNING"))
	ackFile := filepath.Join(t.TempDir(), "alarm-acks.json")
	f := newAlarmServer(t, src, ackFile)

	a := alarmOf(t, f, "", "host1", processDownType)
	if a == nil || a["ack"] != false || a["token"] == "" || a["timestamp"] != json.Number(fmt.Sprint(t0.UnixMicro())) {
		t.Fatalf("alarm before ack %v", a)
	}
	token := a["token"].(string)

	for _, tc := range []struct {
		body  string
		code  int
		field string
	}{
		{`not json`, 400, ""},
		{`[]`, 400, ""},
		{`null`, 400, ""},
		{`{}`, 400, "table"},
		{`{"table": 1, "name": "host1", "type": "x", "token": "y"}`, 400, "table"},
		{`{"table": "vrouter", "type": "x", "token": "y"}`, 400, "name"},
		{`{"table": "vrouter", "name": "host1", "type": "", "token": "y"}`, 400, "type"},
		{`{"table": "vrouter", "name": "host1", "type": "x"}`, 400, "token"},
		{ackBody("vrouter", "host2", processDownType, token), 404, "type"},
		{ackBody("vrouter", "host1", "no-such-alarm", token), 404, "type"},
		{ackBody("vrouter", "nohost", processDownType, token), 404, "type"},
		{ackBody("vrouter", "host1", processDownType, token+"x"), 400, "token"},
	} {
		code, v := f.do(t, "POST", "/analytics/alarms/acknowledge", tc.body, nil)
		if code != tc.code || tc.field != "" && errField(v) != tc.field {
			t.Errorf("%s: %d %v, want %d field %q", tc.body, code, v, tc.code, tc.field)
		}
	}
	if a := alarmOf(t, f, "", "host1", processDownType); a["ack"] != false {
		t.Fatalf("acked by a bad request: %v", a)
	}

	// The object table name works as table too.
	code, v := f.do(t, "POST", "/analytics/alarms/acknowledge", ackBody("ObjectVRouter", "host1", processDownType, token), nil)
	if code != 200 {
		t.Fatalf("ack: %d %v", code, v)
	}
	if a := alarmOf(t, f, "", "host1", processDownType); a["ack"] != true || a["token"] != token {
		t.Fatalf("alarm after ack %v", a)
	}
	// Acknowledging again is fine.
	if code, v := f.do(t, "POST", "/analytics/alarms/acknowledge", ackBody("vrouter", "host1", processDownType, token), nil); code != 200 {
		t.Fatalf("second ack: %d %v", code, v)
	}

	// ackfilt on /analytics/alarms.
	if alarmOf(t, f, "?ackfilt=true", "host1", processDownType) == nil || alarmOf(t, f, "?ackfilt=false", "host1", processDownType) != nil {
		t.Fatal("ackfilt on /analytics/alarms")
	}
	if code, v := f.get(t, "/analytics/alarms?ackfilt=maybe"); code != 400 || errField(v) != "ackfilt" {
		t.Fatalf("bad ackfilt: %d %v", code, v)
	}

	// The UVE carries its alarms, filtered by ackfilt, left out by a cfilt
	// without UVEAlarms.
	uveAlarms := func(q string) []any {
		t.Helper()
		code, v := f.get(t, "/analytics/uves/vrouter/host1"+q)
		if code != 200 {
			t.Fatalf("uve%s: %d %v", q, code, v)
		}
		ua, ok := v.(map[string]any)["UVEAlarms"].(map[string]any)
		if !ok {
			return nil
		}
		return ua["alarms"].([]any)
	}
	if l := uveAlarms("?flat"); len(l) != 1 || l[0].(map[string]any)["ack"] != true || l[0].(map[string]any)["token"] != token {
		t.Fatalf("UVEAlarms of host1: %v", l)
	}
	if l := uveAlarms("?ackfilt=false"); l != nil {
		t.Fatalf("ackfilt=false kept %v", l)
	}
	if l := uveAlarms("?ackfilt=true"); len(l) != 1 {
		t.Fatalf("ackfilt=true: %v", l)
	}
	if l := uveAlarms("?cfilt=NodeStatus"); l != nil {
		t.Fatalf("cfilt=NodeStatus kept %v", l)
	}
	code, v = f.get(t, "/analytics/uves/vrouter/*?ackfilt=false")
	if code != 200 || strings.Contains(jsonString(v), "UVEAlarms") {
		t.Fatalf("wildcard with ackfilt=false: %d %v", code, v)
	}
	code, v = f.do(t, "POST", "/analytics/uves/vrouters", `{"kfilt": ["host1"], "ackfilt": true}`, nil)
	if code != 200 || !strings.Contains(jsonString(v), `"ack":true`) {
		t.Fatalf("POST uves with ackfilt: %d %v", code, v)
	}

	// A restart keeps the instance and its ack (the ack file).
	f2 := newAlarmServer(t, src, ackFile)
	if a := alarmOf(t, f2, "", "host1", processDownType); a["ack"] != true || a["token"] != token {
		t.Fatalf("alarm after restart %v", a)
	}

	// The alarm clears, then is raised again: a new instance, not acked,
	// with a new token; the old token is refused.
	src.put("vrouter", "host1", "host1:contrail-nodemgr", "NodeStatus", nodeStatus("PROCESS_STATE_RUNNING"))
	if a := alarmOf(t, f2, "", "host1", processDownType); a != nil {
		t.Fatalf("alarm after recovery %v", a)
	}
	code, v = f2.do(t, "POST", "/analytics/alarms/acknowledge", ackBody("vrouter", "host1", processDownType, token), nil)
	if code != 404 {
		t.Fatalf("ack of a cleared alarm: %d %v", code, v)
	}
	src.put("vrouter", "host1", "host1:contrail-nodemgr", "NodeStatus", nodeStatus("PROCESS_STATE_EXITED"))
	a = alarmOf(t, f2, "", "host1", processDownType)
	if a == nil || a["ack"] != false || a["token"] == token {
		t.Fatalf("raised again: %v", a)
	}
	code, v = f2.do(t, "POST", "/analytics/alarms/acknowledge", ackBody("vrouter", "host1", processDownType, token), nil)
	if code != 400 || errField(v) != "token" {
		t.Fatalf("ack with the old token: %d %v", code, v)
	}
}

// Without alarms there is nothing to acknowledge.
func TestAcknowledgeNoAlarms(t *testing.T) {
	f := &fixture{srv: httptest.NewServer(NewServer(Config{UVEs: newFake()}))}
	defer f.srv.Close()
	code, v := f.do(t, "POST", "/analytics/alarms/acknowledge", ackBody("vrouter", "h", "a", "t"), nil)
	if code != 404 {
		t.Fatalf("%d %v", code, v)
	}
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func FuzzParseAck(f *testing.F) {
	for _, s := range []string{
		`{"table": "vrouter", "name": "h1", "type": "a:b", "token": "dG9r"}`,
		`{}`, `[]`, `null`, `{"table": 1}`, `{"table": "t", "name": "", "type": "x", "token": "y"}`, `{"table":"\u0000"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := parseAck(data)
		if err != nil {
			var fe *ackFieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is no ackFieldError", err)
			}
			if req != (ackRequest{}) {
				t.Fatalf("request %+v with error %v", req, err)
			}
			return
		}
		if req.Table == "" || req.Name == "" || req.Type == "" || req.Token == "" {
			t.Fatalf("accepted %q with an empty field: %+v", data, req)
		}
	})
}
