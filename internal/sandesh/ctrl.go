// SPDX-License-Identifier: Apache-2.0

package sandesh

import "fmt"

// Names of the control messages of sandesh_ctrl.sandesh.
const (
	CtrlClientToServerName = "SandeshCtrlClientToServer"
	CtrlServerToClientName = "SandeshCtrlServerToClient"
	// CtrlContext is the header Context of control messages.
	CtrlContext = "ctrl"
)

// CtrlClientToServer is the first message of a session: the generator
// tells the collector who it is and which UVE types it will send.
type CtrlClientToServer struct {
	Source                string
	ModuleName            string
	SuccessfulConnections uint32 // "sucessful_connections" on the wire, as the IDL spells it
	UVETypes              []string
	Pid                   uint32
	HTTPPort              uint32
	NodeType              string
	InstanceID            string
}

// Fields returns the message's fields as sandesh_ctrl.sandesh numbers them.
func (c *CtrlClientToServer) Fields() []Field {
	return []Field{
		F("source", 1, String(c.Source)),
		F("module_name", 2, String(c.ModuleName)),
		F("sucessful_connections", 3, U32(c.SuccessfulConnections)),
		F("uve_types", 4, StringList(c.UVETypes...)),
		F("pid", 5, U32(c.Pid)),
		F("http_port", 6, U32(c.HTTPPort)),
		F("node_type_name", 7, String(c.NodeType)),
		F("instance_id_name", 8, String(c.InstanceID)),
	}
}

// ParseCtrlClientToServer reads the fields of a SandeshCtrlClientToServer.
func ParseCtrlClientToServer(fields []Field) (*CtrlClientToServer, error) {
	c := &CtrlClientToServer{}
	for _, f := range fields {
		switch f.Name {
		case "source":
			c.Source = f.Str
		case "module_name":
			c.ModuleName = f.Str
		case "sucessful_connections", "successful_connections":
			c.SuccessfulConnections = uint32(f.Uint)
		case "uve_types":
			if f.List != nil {
				for _, it := range f.List.Items {
					c.UVETypes = append(c.UVETypes, it.Str)
				}
			}
		case "pid":
			c.Pid = uint32(f.Uint)
		case "http_port":
			c.HTTPPort = uint32(f.Uint)
		case "node_type_name":
			c.NodeType = f.Str
		case "instance_id_name":
			c.InstanceID = f.Str
		}
	}
	if c.Source == "" || c.ModuleName == "" {
		return nil, fmt.Errorf("%w: %s without source or module_name", ErrSyntax, CtrlClientToServerName)
	}
	return c, nil
}

// UVETypeInfo is the collector's last sequence number of one UVE type.
type UVETypeInfo struct {
	TypeName string
	SeqNum   uint32
}

// CtrlServerToClient is the collector's answer to CtrlClientToServer.
type CtrlServerToClient struct {
	TypeInfo []UVETypeInfo
	Success  bool
}

// Fields returns the message's fields.
func (c *CtrlServerToClient) Fields() []Field {
	items := make([]Value, len(c.TypeInfo))
	for i, t := range c.TypeInfo {
		items[i] = StructValue("UVETypeInfo", F("type_name", 1, String(t.TypeName)), F("seq_num", 2, U32(t.SeqNum)))
	}
	return []Field{
		F("type_info", 1, ListValue(TStruct, items...)),
		F("success", 2, Bool(c.Success)),
	}
}

// ParseCtrlServerToClient reads the fields of a SandeshCtrlServerToClient.
func ParseCtrlServerToClient(fields []Field) *CtrlServerToClient {
	c := &CtrlServerToClient{}
	for _, f := range fields {
		switch f.Name {
		case "type_info":
			if f.List == nil {
				continue
			}
			for _, it := range f.List.Items {
				var t UVETypeInfo
				if n := it.Struct.Field("type_name"); n != nil {
					t.TypeName = n.Str
				}
				if n := it.Struct.Field("seq_num"); n != nil {
					t.SeqNum = uint32(n.Uint)
				}
				c.TypeInfo = append(c.TypeInfo, t)
			}
		case "success":
			c.Success = f.Bool()
		}
	}
	return c
}

// CtrlHeader returns the header of a control message from the given
// generator identity.
func CtrlHeader(source, module, nodeType, instanceID string, ts int64) Header {
	return Header{
		Timestamp: ts, Module: module, Source: source, Context: CtrlContext,
		Type: TypeRequest, Hints: HintControl, Level: LevelInvalid,
		NodeType: nodeType, InstanceID: instanceID,
	}
}

// LevelInvalid is SandeshLevel INVALID, the level of messages that have none.
const LevelInvalid int32 = 0x7fffffff
