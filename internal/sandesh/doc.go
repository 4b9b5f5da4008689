// SPDX-License-Identifier: Apache-2.0

// Package sandesh is the wire format between the daemons (generators) and
// the analytics collector: the original's Sandesh messages, XML-encoded,
// framed on a TCP stream. It is a pure codec: no sockets, no goroutines.
//
// A frame is
//
//	<sandesh length="NNNNNNNNNN"><SandeshHeader>...</SandeshHeader><Msg type="sandesh">...</Msg></sandesh>
//
// where the 10 zero-padded decimal digits count the whole frame, both
// sandesh tags included. The header is the IDL's SandeshHeader (Namespace,
// Timestamp in µs, Module, Source, Context, SequenceNum, VersionSig, Type,
// Hints, Level, Category, NodeType, InstanceId, optional IPAddress and
// Pid), each field written as
//
//	<Name type="string" identifier="3">value</Name>
//
// and the message element, named after the message type, holds its
// fields the same way. Field annotations of the IDL (key="ObjectVNTable",
// aggtype="union", tags=".__key", ...) travel as further attributes of the
// field element: that is how the collector knows UVE keys, aggregation
// and statistics without the IDL. Containers:
//
//	<f type="struct" identifier="1"><StructName>fields</StructName></f>
//	<f type="list" identifier="2"><list type="i32" size="2"><element>1</element><element>2</element></list></f>
//	<f type="list" identifier="3"><list type="struct" size="1"><S>fields</S></list></f>
//	<f type="map" identifier="4"><map key="string" value="u64" size="1"><element>k</element><element>7</element></map></f>
//
// Text is escaped with the five predefined entities; xml fields use CDATA.
//
// Encoding: AppendFrame(dst, &header, name, fields). Decoding: a Reader
// (NewReader(conn, maxFrame)) returns frames and Messages; ParseFrame
// decodes the header and locates the message; Message.Fields decodes the
// body on demand (most logs are stored as their XML without it);
// ValidateMessage checks a body's well-formedness without building
// values. Errors wrap ErrBadFrame (framing), ErrFrameTooLarge (above the
// reader's limit) or ErrSyntax (a *SyntaxError with the offset). The
// decoder is a hand-written scanner over the frame string (no
// encoding/xml, no reflection) with bounded nesting; FuzzParseFrame and
// FuzzDecodeMessage fuzz it with a round-trip check.
//
// The control messages of sandesh_ctrl.sandesh (CtrlClientToServer,
// CtrlServerToClient) open every session. ToFields and ToValue turn Go
// data (maps, or structs with `sandesh:"name,id=N,aggtype=union"` tags)
// into fields. The generator library is in the generator subpackage.
package sandesh
