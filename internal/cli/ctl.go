// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/contrail-go/contrail/pkg/client"
)

func init() {
	register("ctl", "client of the config API: list, get, create, update, delete objects", runCtl)
}

// ctlStdin is what "-f -" reads; tests replace it.
var ctlStdin io.Reader = os.Stdin

// ctlDefaultAPI is the API address when neither --api nor CONTRAIL_API
// gives one.
const ctlDefaultAPI = "http://127.0.0.1:8082"

// ctlVerb is one verb of `contrail ctl`.
type ctlVerb struct {
	name    string
	args    string // synopsis of the arguments
	summary string
	run     func(t *ctl, args []string) error
}

// ctlVerbs are the verbs in the order usage lists them.
var ctlVerbs = []ctlVerb{
	{"list", "<type> [--detail] [--count] [--parent-fq-name a:b] [--filter k==v]... [--fields a,b]", "list the objects of a type", (*ctl).list},
	{"get", "<type> <uuid|fq:name> [--fields a,b]", "show one object", (*ctl).get},
	{"create", "<type> -f <file.json|->", "create an object from a JSON body, with or without the {\"<type>\": ...} envelope", (*ctl).create},
	{"update", "<type> <uuid|fq:name> -f <file.json|->", "change the fields present in a JSON body", (*ctl).update},
	{"delete", "<type> <uuid|fq:name>", "delete an object", (*ctl).delete},
	{"fqname-to-id", "<type> <a:b:c>", "print the uuid of an fq-name", (*ctl).fqnameToID},
	{"id-to-fqname", "<uuid>", "print the type and fq-name of a uuid", (*ctl).idToFQName},
	{"ref", "<add|delete> <type> <uuid|fq:name> <ref-type> <ref-uuid|fq:name> [--attr JSON]", "add or remove one reference", (*ctl).ref},
	{"types", "", "list the resource types of the server", (*ctl).types},
}

// ctlOptions are the options every verb accepts, before or after the verb.
type ctlOptions struct {
	api     string
	output  string // "json", "table" or "" for the verb's default
	timeout time.Duration
}

func (o *ctlOptions) register(fs *flag.FlagSet) {
	fs.StringVar(&o.api, "api", o.api, "address of the API server (env CONTRAIL_API)")
	fs.StringVar(&o.output, "o", o.output, "output format: json or table")
	fs.StringVar(&o.output, "output", o.output, "same as -o")
	fs.DurationVar(&o.timeout, "timeout", o.timeout, "time limit of each request")
}

// ctl is one run of `contrail ctl`.
type ctl struct {
	ctx    context.Context
	opts   ctlOptions
	stdout io.Writer
	stderr io.Writer
	verb   ctlVerb // the verb being run
	c      *client.Client
}

func ctlUsage(w io.Writer) {
	fmt.Fprintln(w, "Usage: contrail ctl [--api URL] [-o json|table] [--timeout D] <verb> [arguments]")
	fmt.Fprintln(w, "\nVerbs:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, v := range ctlVerbs {
		fmt.Fprintf(tw, "  %s\t%s\n", v.name, v.summary)
	}
	tw.Flush()
	fmt.Fprintln(w, "\nOptions (accepted before or after the verb):")
	fmt.Fprintf(w, "  --api URL       API server (default $CONTRAIL_API, else %s)\n", ctlDefaultAPI)
	fmt.Fprintln(w, "  -o FORMAT       json or table (default: json for get, table otherwise)")
	fmt.Fprintln(w, "  --timeout D     time limit of each request (default 30s)")
	fmt.Fprintln(w, "\nObjects are named by uuid or by fq-name (default-domain:default-project:vn1).")
	fmt.Fprintln(w, "Exit status: 0 on success, 1 when the request fails, 2 on bad usage.")
	fmt.Fprintln(w, "Run 'contrail ctl <verb> -h' for the options of a verb.")
}

func runCtl(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	t := &ctl{ctx: ctx, stdout: stdout, stderr: stderr}
	t.opts.api = os.Getenv("CONTRAIL_API")
	if t.opts.api == "" {
		t.opts.api = ctlDefaultAPI
	}
	t.opts.timeout = 30 * time.Second

	fs := flag.NewFlagSet("contrail ctl", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	t.opts.register(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			ctlUsage(stdout)
			return err
		}
		return usageError{fmt.Errorf("%v (see 'contrail ctl -h')", err)}
	}
	if fs.NArg() == 0 {
		ctlUsage(stderr)
		return usageError{errors.New("missing verb")}
	}
	name := fs.Arg(0)
	if name == "help" {
		ctlUsage(stdout)
		return nil
	}
	i := slices.IndexFunc(ctlVerbs, func(v ctlVerb) bool { return v.name == name })
	if i < 0 {
		return usageError{fmt.Errorf("unknown verb %q (see 'contrail ctl -h')", name)}
	}
	t.verb = ctlVerbs[i]
	err := t.verb.run(t, fs.Args()[1:])
	var ue *url.Error
	switch {
	case err == nil || errors.Is(err, flag.ErrHelp):
		return err
	case ctx.Err() != nil:
		// Main treats context.Canceled as a clean exit; an interrupted
		// request is not one.
		return fmt.Errorf("interrupted: %v", err)
	case client.StatusCode(err) != 0:
		return err
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("no answer from the API server at %s within %v", t.c.BaseURL(), t.opts.timeout)
	case errors.As(err, &ue):
		return fmt.Errorf("cannot reach the API server at %s: %v", t.c.BaseURL(), ue.Err)
	}
	return err
}

// flagSet returns a flag set for the verb with the common options on it.
func (t *ctl) flagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("contrail ctl "+t.verb.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	t.opts.register(fs)
	return fs
}

// parse parses a verb's arguments, flags and positionals in any order,
// checks the number of positionals and connects the client.
func (t *ctl) parse(fs *flag.FlagSet, args []string, minArgs, maxArgs int) ([]string, error) {
	v := t.verb
	pos, err := ctlParseInterspersed(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(t.stdout, "Usage: contrail ctl %s %s\n\n%s.\n\nOptions:\n", v.name, v.args, v.summary)
			fs.SetOutput(t.stdout)
			fs.PrintDefaults()
			return nil, err
		}
		return nil, usageError{fmt.Errorf("%s: %v (see 'contrail ctl %s -h')", v.name, err, v.name)}
	}
	if len(pos) < minArgs || len(pos) > maxArgs {
		return nil, usageError{fmt.Errorf("usage: %s", strings.TrimSpace("contrail ctl "+v.name+" "+v.args))}
	}
	if err := t.connect(); err != nil {
		return nil, err
	}
	return pos, nil
}

// ctlParseInterspersed is fs.Parse that also accepts flags after positional
// arguments; "--" ends the flags.
func ctlParseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// connect checks the common options and builds the client.
func (t *ctl) connect() error {
	switch t.opts.output {
	case "", "json", "table":
	default:
		return usageError{fmt.Errorf("-o %q: the output format is json or table", t.opts.output)}
	}
	if t.opts.timeout <= 0 {
		return usageError{fmt.Errorf("--timeout %v: must be positive", t.opts.timeout)}
	}
	api := t.opts.api
	if !strings.Contains(api, "://") {
		api = "http://" + api
	}
	u, err := url.Parse(api)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usageError{fmt.Errorf("--api %q: need an http:// or https:// URL", t.opts.api)}
	}
	t.c = client.New(api,
		client.WithTimeout(t.opts.timeout),
		client.WithRetry(2, 200*time.Millisecond),
		client.WithUserAgent("contrail-ctl/"+Version))
	return nil
}

// format returns the output format, def when -o was not given.
func (t *ctl) format(def string) string {
	if t.opts.output != "" {
		return t.opts.output
	}
	return def
}

// resolve turns a uuid or an fq-name into a uuid.
func (t *ctl) resolve(typ, ref string) (string, error) {
	if client.IsUUID(ref) {
		return strings.ToLower(ref), nil
	}
	fq := client.ParseFQName(ref)
	if slices.Contains(fq, "") {
		return "", usageError{fmt.Errorf("%q is neither a uuid nor an fq-name", ref)}
	}
	id, err := t.c.FQNameToID(t.ctx, typ, fq)
	if client.IsNotFound(err) {
		return "", fmt.Errorf("%s %s not found", typ, ref)
	}
	return id, err
}

// printJSON prints v as indented JSON; objects show their identity
// fields first.
func (t *ctl) printJSON(v any) error {
	switch x := v.(type) {
	case client.Object:
		v = ctlOrderedObject(x)
	case []client.Object:
		list := make([]ctlOrderedObject, len(x))
		for i, o := range x {
			list[i] = ctlOrderedObject(o)
		}
		v = list
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := t.stdout.Write(b.Bytes())
	return err
}

// ctlIdentityFields come first in JSON output, in this order; the other
// fields follow sorted.
var ctlIdentityFields = []string{"uuid", "name", "fq_name", "parent_type", "parent_uuid", "parent_href", "href", "display_name"}

// ctlOrderedObject is an object that marshals its identity fields first.
type ctlOrderedObject client.Object

// MarshalJSON implements json.Marshaler.
func (o ctlOrderedObject) MarshalJSON() ([]byte, error) {
	keys := make([]string, 0, len(o))
	for _, k := range ctlIdentityFields {
		if _, ok := o[k]; ok {
			keys = append(keys, k)
		}
	}
	rest := make([]string, 0, len(o))
	for k := range o {
		if !slices.Contains(ctlIdentityFields, k) {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	keys = append(keys, rest...)
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		if err := enc.Encode(k); err != nil {
			return nil, err
		}
		b.WriteByte(':')
		if err := enc.Encode(o[k]); err != nil {
			return nil, err
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// ctlStringList is a repeatable flag.
type ctlStringList []string

func (l *ctlStringList) String() string { return strings.Join(*l, ",") }

func (l *ctlStringList) Set(s string) error {
	*l = append(*l, s)
	return nil
}

func ctlSplitComma(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// ctlParseFilters reads key==value filters; a value that parses as JSON is
// that JSON value, else a string, as the API reads them.
func ctlParseFilters(list []string) (map[string]any, error) {
	if len(list) == 0 {
		return nil, nil
	}
	out := map[string]any{}
	for _, f := range list {
		k, v, ok := strings.Cut(f, "==")
		if !ok || k == "" {
			return nil, usageError{fmt.Errorf("--filter %q: want key==value", f)}
		}
		if _, dup := out[k]; dup {
			return nil, usageError{fmt.Errorf("--filter: key %q given twice", k)}
		}
		var val any = v
		dec := json.NewDecoder(strings.NewReader(v))
		dec.UseNumber()
		var j any
		if err := dec.Decode(&j); err == nil && !dec.More() {
			val = j
		}
		out[k] = val
	}
	return out, nil
}

func (t *ctl) list(args []string) error {
	fs := t.flagSet()
	detail := fs.Bool("detail", false, "return whole objects")
	count := fs.Bool("count", false, "print only the number of matching objects")
	parentFQ := fs.String("parent-fq-name", "", "only objects under the parent with this fq-name (a:b)")
	parentType := fs.String("parent-type", "", "type of --parent-fq-name, when the type has several parent types")
	parentIDs := fs.String("parent-id", "", "only objects under these parent uuids (comma-separated)")
	backRefs := fs.String("back-ref-id", "", "only objects that refer to these uuids (comma-separated)")
	fields := fs.String("fields", "", "comma-separated fields: extra properties, or with --detail the only fields")
	pageLimit := fs.Int("page-limit", 0, "objects per request (0: the client's default)")
	shared := fs.Bool("shared", false, "include objects shared through perms2")
	var filters ctlStringList
	fs.Var(&filters, "filter", "key==value; repeat for several keys (value: JSON, else a string)")
	pos, err := t.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	typ := pos[0]
	q := client.ListQuery{
		ParentIDs:  ctlSplitComma(*parentIDs),
		ParentType: *parentType,
		BackRefIDs: ctlSplitComma(*backRefs),
		Detail:     *detail,
		Fields:     ctlSplitComma(*fields),
		Shared:     *shared,
		Count:      *count,
		PageLimit:  *pageLimit,
	}
	if *parentFQ != "" {
		q.ParentFQName = client.ParseFQName(*parentFQ)
	}
	if *pageLimit < 0 {
		return usageError{fmt.Errorf("--page-limit %d: must not be negative", *pageLimit)}
	}
	if q.Filters, err = ctlParseFilters(filters); err != nil {
		return err
	}
	format := t.format("table")
	if *count {
		res, err := t.c.List(t.ctx, typ, q)
		if err != nil {
			return err
		}
		if format == "json" {
			return t.printJSON(map[string]int{"count": res.Count})
		}
		_, err = fmt.Fprintln(t.stdout, res.Count)
		return err
	}
	var cols []ctlColumn
	if format == "table" {
		cols = ctlColumnsFor(typ, q.Fields, *detail)
		if !*detail && len(q.Fields) == 0 {
			for _, c := range cols {
				if c.prop != "" {
					q.Fields = append(q.Fields, c.prop)
				}
			}
		}
	}
	objs, err := t.c.ListAll(t.ctx, typ, q)
	if err != nil {
		return err
	}
	if format == "json" {
		if objs == nil {
			objs = []client.Object{}
		}
		return t.printJSON(objs)
	}
	sort.SliceStable(objs, func(i, j int) bool {
		return client.FQNameString(objs[i].FQName()) < client.FQNameString(objs[j].FQName())
	})
	return t.printTable(cols, objs)
}

func (t *ctl) get(args []string) error {
	fs := t.flagSet()
	fields := fs.String("fields", "", "comma-separated fields to show (default: all)")
	pos, err := t.parse(fs, args, 2, 2)
	if err != nil {
		return err
	}
	typ := pos[0]
	id, err := t.resolve(typ, pos[1])
	if err != nil {
		return err
	}
	var opts []client.ReadOption
	fl := ctlSplitComma(*fields)
	if len(fl) > 0 {
		opts = append(opts, client.ReadFields(fl...))
	}
	obj, err := t.c.Read(t.ctx, typ, id, opts...)
	if err != nil {
		return err
	}
	if t.format("json") == "json" {
		return t.printJSON(obj)
	}
	return t.printTable(ctlColumnsFor(typ, fl, true), []client.Object{obj})
}

// readBody reads the JSON object of create and update from a file or
// stdin, and takes it out of its {"<type>": ...} envelope if it has one.
func (t *ctl) readBody(file, typ string) (client.Object, error) {
	var data []byte
	var err error
	if file == "-" {
		data, err = io.ReadAll(ctlStdin)
	} else {
		data, err = os.ReadFile(file)
	}
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	name := file
	if file == "-" {
		name = "stdin"
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var obj client.Object
	if err := dec.Decode(&obj); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: empty body", name)
		}
		return nil, fmt.Errorf("%s: not a JSON object: %v", name, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%s: data after the JSON object", name)
	}
	if obj == nil {
		return nil, fmt.Errorf("%s: not a JSON object", name)
	}
	if len(obj) == 1 {
		for _, key := range []string{typ, strings.ReplaceAll(typ, "-", "_")} {
			if inner, ok := obj[key].(map[string]any); ok {
				return inner, nil
			}
		}
	}
	return obj, nil
}

func (t *ctl) create(args []string) error {
	fs := t.flagSet()
	file := fs.String("f", "", "`file` with the JSON body, - for stdin")
	pos, err := t.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if *file == "" {
		return usageError{errors.New("create: -f file.json (or -f - for stdin) is required")}
	}
	typ := pos[0]
	body, err := t.readBody(*file, typ)
	if err != nil {
		return err
	}
	out, err := t.c.Create(t.ctx, typ, body)
	if err != nil {
		return err
	}
	if t.format("table") == "json" {
		return t.printJSON(out)
	}
	return t.printTable(ctlBaseColumns(), []client.Object{out})
}

func (t *ctl) update(args []string) error {
	fs := t.flagSet()
	file := fs.String("f", "", "`file` with the JSON body (only the fields to change), - for stdin")
	pos, err := t.parse(fs, args, 2, 2)
	if err != nil {
		return err
	}
	if *file == "" {
		return usageError{errors.New("update: -f file.json (or -f - for stdin) is required")}
	}
	typ := pos[0]
	body, err := t.readBody(*file, typ)
	if err != nil {
		return err
	}
	id, err := t.resolve(typ, pos[1])
	if err != nil {
		return err
	}
	if err := t.c.Update(t.ctx, typ, id, body); err != nil {
		return err
	}
	return t.done(id, "updated %s %s", typ, id)
}

func (t *ctl) delete(args []string) error {
	pos, err := t.parse(t.flagSet(), args, 2, 2)
	if err != nil {
		return err
	}
	typ := pos[0]
	id, err := t.resolve(typ, pos[1])
	if err != nil {
		return err
	}
	if err := t.c.Delete(t.ctx, typ, id); err != nil {
		return err
	}
	return t.done(id, "deleted %s %s", typ, id)
}

// done reports a change: a line of text, or {"uuid": id} with -o json.
func (t *ctl) done(id, format string, args ...any) error {
	if t.format("table") == "json" {
		return t.printJSON(map[string]string{"uuid": id})
	}
	_, err := fmt.Fprintf(t.stdout, format+"\n", args...)
	return err
}

func (t *ctl) fqnameToID(args []string) error {
	pos, err := t.parse(t.flagSet(), args, 2, 2)
	if err != nil {
		return err
	}
	fq := client.ParseFQName(pos[1])
	if slices.Contains(fq, "") {
		return usageError{fmt.Errorf("%q is not an fq-name", pos[1])}
	}
	id, err := t.c.FQNameToID(t.ctx, pos[0], fq)
	if err != nil {
		return err
	}
	if t.format("table") == "json" {
		return t.printJSON(map[string]string{"uuid": id})
	}
	_, err = fmt.Fprintln(t.stdout, id)
	return err
}

func (t *ctl) idToFQName(args []string) error {
	pos, err := t.parse(t.flagSet(), args, 1, 1)
	if err != nil {
		return err
	}
	if !client.IsUUID(pos[0]) {
		return usageError{fmt.Errorf("%q is not a uuid", pos[0])}
	}
	fq, typ, err := t.c.IDToFQName(t.ctx, strings.ToLower(pos[0]))
	if err != nil {
		return err
	}
	if t.format("table") == "json" {
		return t.printJSON(map[string]any{"type": typ, "fq_name": fq})
	}
	tw := tabwriter.NewWriter(t.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TYPE\tFQ_NAME")
	fmt.Fprintf(tw, "%s\t%s\n", typ, client.FQNameString(fq))
	return tw.Flush()
}

func (t *ctl) ref(args []string) error {
	fs := t.flagSet()
	attrText := fs.String("attr", "", "JSON attribute of the reference (such as the subnets of network_ipam_refs)")
	pos, err := t.parse(fs, args, 5, 5)
	if err != nil {
		return err
	}
	var op client.RefOp
	switch strings.ToLower(pos[0]) {
	case "add":
		op = client.RefAdd
	case "delete", "del", "remove":
		op = client.RefDelete
	default:
		return usageError{fmt.Errorf("ref: operation %q is not add or delete", pos[0])}
	}
	var attr any
	if *attrText != "" {
		if op == client.RefDelete {
			return usageError{errors.New("ref delete: --attr makes no sense")}
		}
		dec := json.NewDecoder(strings.NewReader(*attrText))
		dec.UseNumber()
		if err := dec.Decode(&attr); err != nil || dec.More() {
			return usageError{fmt.Errorf("--attr: not JSON: %q", *attrText)}
		}
	}
	typ, refType := pos[1], pos[3]
	id, err := t.resolve(typ, pos[2])
	if err != nil {
		return err
	}
	refID, err := t.resolve(refType, pos[4])
	if err != nil {
		return err
	}
	if err := t.c.RefUpdate(t.ctx, typ, id, refType, refID, op, attr); err != nil {
		return err
	}
	verb := "added"
	if op == client.RefDelete {
		verb = "deleted"
	}
	return t.done(id, "%s ref %s %s -> %s %s", verb, typ, id, refType, refID)
}

func (t *ctl) types(args []string) error {
	if _, err := t.parse(t.flagSet(), args, 0, 0); err != nil {
		return err
	}
	types, err := t.c.ResourceTypes(t.ctx)
	if err != nil {
		return err
	}
	if t.format("table") == "json" {
		return t.printJSON(types)
	}
	for _, typ := range types {
		fmt.Fprintln(t.stdout, typ)
	}
	return nil
}

// ctlColumn is one column of table output.
type ctlColumn struct {
	header string
	prop   string // property a non-detail list must ask for; "" if the column needs the whole object
	value  func(client.Object) any
}

func ctlBaseColumns() []ctlColumn {
	return []ctlColumn{
		{header: "UUID", value: func(o client.Object) any { return o.UUID() }},
		{header: "FQ_NAME", value: func(o client.Object) any { return client.FQNameString(o.FQName()) }},
	}
}

func ctlPropColumn(header, prop string, path ...string) ctlColumn {
	return ctlColumn{header: header, prop: prop, value: func(o client.Object) any { return o.Get(append([]string{prop}, path...)...) }}
}

// ctlTypeColumns are the extra columns of some types in tables.
var ctlTypeColumns = map[string][]ctlColumn{
	"virtual-network": {
		ctlPropColumn("NETWORK_ID", "virtual_network_network_id"),
		{header: "SUBNETS", value: ctlSubnets},
	},
	"instance-ip":               {ctlPropColumn("ADDRESS", "instance_ip_address")},
	"floating-ip":               {ctlPropColumn("ADDRESS", "floating_ip_address")},
	"alias-ip":                  {ctlPropColumn("ADDRESS", "alias_ip_address")},
	"virtual-machine-interface": {ctlPropColumn("MAC", "virtual_machine_interface_mac_addresses", "mac_address")},
	"security-group":            {ctlPropColumn("SG_ID", "security_group_id")},
	"global-system-config":      {ctlPropColumn("ASN", "autonomous_system")},
	"bgp-router":                {ctlPropColumn("ADDRESS", "bgp_router_parameters", "address")},
	"virtual-router":            {ctlPropColumn("IP", "virtual_router_ip_address")},
}

// ctlColumnsFor returns the table columns of a type: uuid and fq-name, then
// the fields asked for, else the type's own columns (with whole objects
// also the display name and the columns that need whole objects).
func ctlColumnsFor(typ string, fields []string, whole bool) []ctlColumn {
	cols := ctlBaseColumns()
	if len(fields) > 0 {
		for _, f := range fields {
			cols = append(cols, ctlPropColumn(strings.ToUpper(f), f))
		}
		return cols
	}
	if whole {
		cols = append(cols, ctlPropColumn("DISPLAY_NAME", "display_name"))
	}
	for _, c := range ctlTypeColumns[typ] {
		if whole || c.prop != "" {
			cols = append(cols, c)
		}
	}
	return cols
}

// ctlSubnets lists the subnets on a network's ipam refs.
func ctlSubnets(o client.Object) any {
	var out []string
	for _, r := range o.Refs("network_ipam_refs") {
		attr, _ := r.Attr.(map[string]any)
		list, _ := attr["ipam_subnets"].([]any)
		for _, s := range list {
			sn, _ := s.(map[string]any)
			so := client.Object(sn)
			if p := so.GetString("subnet", "ip_prefix"); p != "" {
				out = append(out, fmt.Sprintf("%s/%s", p, ctlCell(so.Get("subnet", "ip_prefix_len"))))
			}
		}
	}
	return out
}

func (t *ctl) printTable(cols []ctlColumn, objs []client.Object) error {
	tw := tabwriter.NewWriter(t.stdout, 0, 0, 2, ' ', 0)
	for i, c := range cols {
		if i > 0 {
			fmt.Fprint(tw, "\t")
		}
		fmt.Fprint(tw, c.header)
	}
	fmt.Fprintln(tw)
	for _, o := range objs {
		for i, c := range cols {
			if i > 0 {
				fmt.Fprint(tw, "\t")
			}
			fmt.Fprint(tw, ctlCell(c.value(o)))
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

// ctlCell renders a JSON value for a table: scalars as text, lists of
// scalars joined with commas, anything else as compact JSON, and "-" for
// nothing.
func ctlCell(v any) string {
	switch x := v.(type) {
	case nil:
		return "-"
	case string:
		if x == "" {
			return "-"
		}
		return strings.NewReplacer("\t", " ", "\n", " ").Replace(x)
	case json.Number:
		return x.String()
	case bool:
		return fmt.Sprint(x)
	case []string:
		if len(x) == 0 {
			return "-"
		}
		return strings.Join(x, ",")
	case []any:
		if len(x) == 0 {
			return "-"
		}
		parts := make([]string, 0, len(x))
		for _, e := range x {
			switch e.(type) {
			case map[string]any, []any:
				b, _ := json.Marshal(x)
				return string(b)
			}
			parts = append(parts, ctlCell(e))
		}
		return strings.Join(parts, ",")
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
