// SPDX-License-Identifier: Apache-2.0

package api

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/contrail-go/contrail/internal/analytics/query"
	"github.com/contrail-go/contrail/internal/analytics/uve"
)

// Alarm is a config `alarm` object (alarm.xsd) as the config API returns
// it: the rules are an OR of ANDs of expressions over UVE attributes.
type Alarm struct {
	FQName   []string      `json:"fq_name"`
	UUID     string        `json:"uuid,omitempty"`
	UVEKeys  AlarmUVEKeys  `json:"uve_keys"`
	Severity int           `json:"alarm_severity"`
	Rules    AlarmOrList   `json:"alarm_rules"`
	IDPerms  *AlarmIDPerms `json:"id_perms,omitempty"`
}

// AlarmIDPerms is the part of id_perms alarms use.
type AlarmIDPerms struct {
	Description string `json:"description,omitempty"`
	Enable      *bool  `json:"enable,omitempty"`
}

// AlarmUVEKeys names the UVE types ("vrouter") or objects
// ("control-node:host1") an alarm applies to.
type AlarmUVEKeys struct {
	UVEKey []string `json:"uve_key"`
}

// AlarmOrList is the alarm_rules property.
type AlarmOrList struct {
	OrList []AlarmAndList `json:"or_list"`
}

// AlarmAndList is one AND of expressions.
type AlarmAndList struct {
	AndList []AlarmExpression `json:"and_list"`
}

// AlarmExpression compares a UVE attribute (dotted path, e.g.
// "NodeStatus.process_info.process_state") with operand2 using one of
// ==, !=, <, <=, >, >=, in, not in, range, size==, size!=.
type AlarmExpression struct {
	Operation string        `json:"operation"`
	Operand1  string        `json:"operand1"`
	Operand2  AlarmOperand2 `json:"operand2"`
	Variables []string      `json:"variables,omitempty"`
}

// AlarmOperand2 is another UVE attribute or a JSON value.
type AlarmOperand2 struct {
	UVEAttribute string `json:"uve_attribute,omitempty"`
	JSONValue    string `json:"json_value,omitempty"`
}

// Name is the alarm type the API reports: the fq_name joined with ':'.
func (a *Alarm) Name() string { return strings.Join(a.FQName, ":") }

func (a *Alarm) enabled() bool {
	return a.IDPerms == nil || a.IDPerms.Enable == nil || *a.IDPerms.Enable
}

// AlarmMatch is one value that satisfied an expression.
type AlarmMatch struct {
	Operand1  string            `json:"json_operand1_value"`
	Operand2  string            `json:"json_operand2_value,omitempty"`
	Variables map[string]string `json:"json_variables,omitempty"`
}

// AlarmConditionMatch is an expression and what satisfied it.
type AlarmConditionMatch struct {
	Condition AlarmExpression `json:"condition"`
	Match     []AlarmMatch    `json:"match"`
}

// AlarmInfo is the original's UVEAlarmInfo.
type AlarmInfo struct {
	Type       string `json:"type"`
	AlarmRules struct {
		OrList []struct {
			AndList []AlarmConditionMatch `json:"and_list"`
		} `json:"or_list"`
	} `json:"alarm_rules"`
	Ack         bool   `json:"ack"`
	Timestamp   int64  `json:"timestamp"`
	Severity    int    `json:"severity"`
	Token       string `json:"token"`
	Description string `json:"description"`
}

// leaf is a value found at a path, with the list element it came from.
type leaf struct {
	v        any
	elem     map[string]any
	elemPath string
}

// resolve walks a dotted path through maps, fanning out over lists.
func resolve(root map[string]any, path string) []leaf {
	cur := []leaf{{v: root}}
	segs := strings.Split(path, ".")
	for si, seg := range segs {
		var next []leaf
		prefix := strings.Join(segs[:si], ".")
		for _, l := range cur {
			switch x := l.v.(type) {
			case map[string]any:
				if v, ok := x[seg]; ok {
					next = append(next, leaf{v: v, elem: l.elem, elemPath: l.elemPath})
				}
			case []any:
				for _, it := range x {
					if m, ok := it.(map[string]any); ok {
						if v, ok := m[seg]; ok {
							next = append(next, leaf{v: v, elem: m, elemPath: prefix})
						}
					}
				}
			}
		}
		cur = next
	}
	return cur
}

// norm makes numbers float64 so that values compare by content.
func norm(v any) any {
	switch x := v.(type) {
	case int64:
		return float64(x)
	case int:
		return float64(x)
	case int32:
		return float64(x)
	case uint64:
		return float64(x)
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return x.String()
		}
		return f
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = norm(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = norm(e)
		}
		return out
	}
	return v
}

func equal(a, b any) bool {
	ja, _ := json.Marshal(norm(a))
	jb, _ := json.Marshal(norm(b))
	return string(ja) == string(jb)
}

func number(v any) (float64, bool) {
	switch x := norm(v).(type) {
	case float64:
		return x, !math.IsNaN(x)
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

func size(v any) (float64, bool) {
	switch x := v.(type) {
	case []any:
		return float64(len(x)), true
	case map[string]any:
		return float64(len(x)), true
	case string:
		return float64(len(x)), true
	}
	return 0, false
}

// compare evaluates one operation.
func compare(op string, v1, v2 any) bool {
	switch strings.TrimSpace(op) {
	case "==":
		return equal(v1, v2)
	case "!=":
		return !equal(v1, v2)
	case "<", "<=", ">", ">=":
		a, ok1 := number(v1)
		b, ok2 := number(v2)
		if !ok1 || !ok2 {
			return false
		}
		switch op {
		case "<":
			return a < b
		case "<=":
			return a <= b
		case ">":
			return a > b
		}
		return a >= b
	case "in", "not in":
		l, ok := v2.([]any)
		if !ok {
			return false
		}
		in := false
		for _, e := range l {
			if equal(v1, e) {
				in = true
				break
			}
		}
		return in == (op == "in")
	case "range":
		l, ok := v2.([]any)
		if !ok || len(l) != 2 {
			return false
		}
		a, ok1 := number(v1)
		lo, ok2 := number(l[0])
		hi, ok3 := number(l[1])
		return ok1 && ok2 && ok3 && a >= lo && a <= hi
	case "size==", "size!=":
		n, ok1 := size(v1)
		b, ok2 := number(v2)
		if !ok1 || !ok2 {
			return false
		}
		return (n == b) == (op == "size==")
	}
	return false
}

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "null"
	}
	return string(b)
}

// evalExpr returns what satisfies an expression in a UVE. A missing
// operand1 only satisfies "== null".
func evalExpr(u map[string]any, e AlarmExpression) []AlarmMatch {
	var v2 any
	var v2text string
	if e.Operand2.UVEAttribute != "" {
		ls := resolve(u, e.Operand2.UVEAttribute)
		if len(ls) == 0 {
			return nil
		}
		v2 = ls[0].v
		v2text = jsonText(v2)
	} else if err := json.Unmarshal([]byte(e.Operand2.JSONValue), &v2); err != nil {
		v2 = e.Operand2.JSONValue // not JSON: the text itself
	}
	leaves := resolve(u, e.Operand1)
	if len(leaves) == 0 {
		if v2 == nil && strings.TrimSpace(e.Operation) == "==" {
			return []AlarmMatch{{Operand1: "null", Operand2: v2text}}
		}
		return nil
	}
	var out []AlarmMatch
	for _, l := range leaves {
		if !compare(e.Operation, l.v, v2) {
			continue
		}
		m := AlarmMatch{Operand1: jsonText(l.v), Operand2: v2text}
		for _, name := range e.Variables {
			var vs []leaf
			if l.elem != nil && l.elemPath != "" && strings.HasPrefix(name, l.elemPath+".") {
				vs = resolve(l.elem, strings.TrimPrefix(name, l.elemPath+"."))
			} else {
				vs = resolve(u, name)
			}
			if len(vs) > 0 {
				if m.Variables == nil {
					m.Variables = map[string]string{}
				}
				m.Variables[name] = jsonText(vs[0].v)
			}
		}
		out = append(out, m)
	}
	return out
}

// Evaluate returns the alarm raised on a UVE (flat form), or false.
func Evaluate(a *Alarm, u map[string]any, now int64) (AlarmInfo, bool) {
	info := AlarmInfo{Type: a.Name(), Timestamp: now, Severity: a.Severity}
	if a.IDPerms != nil {
		info.Description = a.IDPerms.Description
	}
	for _, and := range a.Rules.OrList {
		if len(and.AndList) == 0 {
			continue
		}
		var conds []AlarmConditionMatch
		ok := true
		for _, e := range and.AndList {
			ms := evalExpr(u, e)
			if len(ms) == 0 {
				ok = false
				break
			}
			conds = append(conds, AlarmConditionMatch{Condition: e, Match: ms})
		}
		if ok {
			info.AlarmRules.OrList = append(info.AlarmRules.OrList, struct {
				AndList []AlarmConditionMatch `json:"and_list"`
			}{conds})
		}
	}
	return info, len(info.AlarmRules.OrList) > 0
}

type alarmedUVE struct {
	Name  string         `json:"name"`
	Value map[string]any `json:"value"`
}

// loadAlarms returns the enabled alarm objects (none without Config.Alarms).
func (s *Server) loadAlarms(ctx context.Context) ([]Alarm, error) {
	if s.cfg.Alarms == nil {
		return nil, nil
	}
	all, err := s.cfg.Alarms(ctx)
	if err != nil {
		return nil, err
	}
	out := all[:0:0]
	for i := range all {
		if all[i].enabled() {
			out = append(out, all[i])
		}
	}
	return out, nil
}

// appliesTo reports whether a's uve_keys name the type typ or the UVE
// typ:key.
func (a *Alarm) appliesTo(typ, key string) bool {
	for _, spec := range a.UVEKeys.UVEKey {
		t, k, one := strings.Cut(spec, ":")
		if t == typ && (!one || k == key) {
			return true
		}
	}
	return false
}

// sortInfos orders alarms by type.
func sortInfos(infos []AlarmInfo) {
	sort.Slice(infos, func(i, j int) bool { return infos[i].Type < infos[j].Type })
}

// flatten indexes raised alarms by instance.
func flatten(raised map[string]map[string][]AlarmInfo) map[instKey]*AlarmInfo {
	out := map[instKey]*AlarmInfo{}
	for typ, keys := range raised {
		for k, infos := range keys {
			for i := range infos {
				out[instKey{UVEType: typ, Name: k, Alarm: infos[i].Type}] = &infos[i]
			}
		}
	}
	return out
}

// ComputeAlarms evaluates every enabled alarm over the UVEs its uve_keys
// name and returns {uve-type: [{name, value: {UVEAlarms: {alarms}}}]}.
// It also records the evaluation in the alarm instances (see alarmBook):
// each alarm gets its instance's token, raise time and ack state.
func (s *Server) ComputeAlarms(ctx context.Context, typeFilter string) (map[string][]alarmedUVE, error) {
	out := map[string][]alarmedUVE{}
	if s.cfg.Alarms == nil || s.cfg.UVEs == nil {
		return out, nil
	}
	alarms, err := s.loadAlarms(ctx)
	if err != nil {
		return nil, err
	}
	s.evalMu.Lock()
	defer s.evalMu.Unlock()
	// type -> key -> alarms raised
	raised := map[string]map[string][]AlarmInfo{}
	cache := map[string]map[string]any{}
	now := s.cfg.Now().UnixMicro()
	for i := range alarms {
		a := &alarms[i]
		done := map[string]bool{}
		for _, spec := range a.UVEKeys.UVEKey {
			typ, key, one := strings.Cut(spec, ":")
			if typeFilter != "" && typ != typeFilter {
				continue
			}
			var keys []string
			if one {
				keys = []string{key}
			} else {
				keys, err = s.cfg.UVEs.Keys(ctx, typ, uve.Filter{Flat: true})
				if err != nil {
					return nil, err
				}
			}
			for _, k := range keys {
				if done[typ+"\x00"+k] {
					continue
				}
				done[typ+"\x00"+k] = true
				u, ok := cache[typ+"\x00"+k]
				if !ok {
					u, ok, err = s.cfg.UVEs.Get(ctx, typ, k, uve.Filter{Flat: true})
					if err != nil {
						return nil, err
					}
					if !ok {
						u = nil
					}
					cache[typ+"\x00"+k] = u
				}
				if u == nil {
					continue
				}
				if info, hit := Evaluate(a, u, now); hit {
					if raised[typ] == nil {
						raised[typ] = map[string][]AlarmInfo{}
					}
					raised[typ][k] = append(raised[typ][k], info)
				}
			}
		}
	}
	s.book.apply(flatten(raised), func(k instKey) bool { return typeFilter == "" || k.UVEType == typeFilter }, now)
	for typ, keys := range raised {
		names := make([]string, 0, len(keys))
		for k := range keys {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			infos := keys[k]
			sortInfos(infos)
			out[typ] = append(out[typ], alarmedUVE{Name: k, Value: map[string]any{
				"UVEAlarms": map[string]any{"alarms": infos},
			}})
		}
	}
	return out, nil
}

// alarmsOfUVE evaluates the alarms that apply to the UVE typ/key and
// records the evaluation in the alarm instances of that UVE.
func (s *Server) alarmsOfUVE(ctx context.Context, alarms []Alarm, typ, key string) ([]AlarmInfo, error) {
	var mine []*Alarm
	for i := range alarms {
		if alarms[i].appliesTo(typ, key) {
			mine = append(mine, &alarms[i])
		}
	}
	s.evalMu.Lock()
	defer s.evalMu.Unlock()
	var infos []AlarmInfo
	now := s.cfg.Now().UnixMicro()
	if len(mine) > 0 {
		u, ok, err := s.cfg.UVEs.Get(ctx, typ, key, uve.Filter{Flat: true})
		if err != nil {
			return nil, err
		}
		for _, a := range mine {
			if !ok {
				break
			}
			if info, hit := Evaluate(a, u, now); hit {
				infos = append(infos, info)
			}
		}
	}
	s.book.apply(flatten(map[string]map[string][]AlarmInfo{typ: {key: infos}}),
		func(k instKey) bool { return k.UVEType == typ && k.Name == key }, now)
	sortInfos(infos)
	return infos, nil
}

// filterAck keeps the alarms whose ack state is *ackfilt (all if nil).
func filterAck(infos []AlarmInfo, ackfilt *bool) []AlarmInfo {
	if ackfilt == nil {
		return infos
	}
	var out []AlarmInfo
	for _, in := range infos {
		if in.Ack == *ackfilt {
			out = append(out, in)
		}
	}
	return out
}

// filterAlarmed applies ackfilt to a ComputeAlarms result, dropping the
// UVEs left without alarms.
func filterAlarmed(res map[string][]alarmedUVE, ackfilt *bool) map[string][]alarmedUVE {
	if ackfilt == nil {
		return res
	}
	out := map[string][]alarmedUVE{}
	for typ, list := range res {
		for _, a := range list {
			infos := filterAck(a.Value["UVEAlarms"].(map[string]any)["alarms"].([]AlarmInfo), ackfilt)
			if len(infos) > 0 {
				out[typ] = append(out[typ], alarmedUVE{Name: a.Name, Value: map[string]any{
					"UVEAlarms": map[string]any{"alarms": infos},
				}})
			}
		}
	}
	return out
}

// parseAckFilt reads the ackfilt parameter: absent, true or false.
func parseAckFilt(q url.Values) (*bool, error) {
	if !q.Has("ackfilt") {
		return nil, nil
	}
	var b bool
	switch strings.ToLower(strings.TrimSpace(q.Get("ackfilt"))) {
	case "true", "1", "yes":
		b = true
	case "false", "0", "no":
		b = false
	default:
		return nil, fmt.Errorf("ackfilt must be true or false, not %q", q.Get("ackfilt"))
	}
	return &b, nil
}

func (s *Server) alarms(w http.ResponseWriter, r *http.Request) {
	ackfilt, err := parseAckFilt(r.URL.Query())
	if err != nil {
		writeErr(w, http.StatusBadRequest, "ackfilt", err.Error())
		return
	}
	res, err := s.ComputeAlarms(r.Context(), r.URL.Query().Get("tablefilt"))
	if err != nil {
		writeErr(w, http.StatusServiceUnavailable, "", "alarms: "+err.Error())
		return
	}
	query.WriteJSON(w, http.StatusOK, filterAlarmed(res, ackfilt))
}
func (s *Server) alarmTypes(w http.ResponseWriter, r *http.Request) {
	out := map[string]any{}
	if s.cfg.Alarms != nil {
		alarms, err := s.cfg.Alarms(r.Context())
		if err != nil {
			writeErr(w, http.StatusServiceUnavailable, "", "alarms: "+err.Error())
			return
		}
		for i := range alarms {
			a := &alarms[i]
			desc := ""
			if a.IDPerms != nil {
				desc = a.IDPerms.Description
			}
			out[a.Name()] = map[string]any{"severity": a.Severity, "description": desc, "uve_keys": a.UVEKeys.UVEKey}
		}
	}
	query.WriteJSON(w, http.StatusOK, out)
}
