// SPDX-License-Identifier: Apache-2.0

// Package xmpp is the wire codec for the XMPP dialect that OpenContrail's
// vrouter agent and control node speak (TCP port 5269). Both sides use it:
// the control node as the server, the agent as the client. It is pure:
// bytes in, structs out, and back; no sockets, goroutines or logging. The
// one stateful reader, Reader, reads from an io.Reader it is given.
//
// The dialect is not standard XMPP: no SASL, no resource binding, a stream
// header with a fixed attribute order, keepalives that are the character
// U+0200 (bytes 0xC8 0x80) rather than a space, XML declarations repeated
// before stanzas, and pubsub payloads of its own. That is why it is written
// by hand on encoding/xml rather than on an XMPP library.
//
// # Stream
//
// StreamHeader.Encode writes the stream open byte for byte as the original;
// ParseStreamHeader reads it tolerantly. Keepalive, StreamClose, StartTLS and
// Proceed are the fixed strings of the protocol and StreamFeatures the
// STARTTLS offer. Reader splits the incoming byte stream into frames:
//
//	rd := xmpp.NewReader(conn, 0)
//	for {
//		f, err := rd.Next()
//		if err != nil {
//			var de *xmpp.DecodeError
//			if errors.As(err, &de) && !de.Fatal {
//				logger.Warn("bad stanza", "err", err) // the stream is still in sync
//				continue
//			}
//			return err // io.EOF, *StanzaTooLargeError, fatal *DecodeError, conn error
//		}
//		switch f.Kind {
//		case xmpp.FrameKeepalive: // reset the hold timer
//		case xmpp.FrameIQ:
//			st, err := xmpp.DecodeIQ(f.Elem) // *Subscribe, *Publish, *Collection, *Config, ...
//		case xmpp.FrameMessage:
//			u, err := xmpp.DecodeMessage(f.Elem) // route updates, End-of-RIB
//		}
//	}
//
// # Messages
//
// Agent to control node, on the "<control-node-jid>/bgp-peer" channel:
// Subscribe and Unsubscribe (routing instances), Publish + Collection (one
// pair per route change, built by RoutePublish, merged on the server by
// Pairer) and the End-of-RIB IQ pair (EndOfRibIQs). On the "/config"
// channel: Subscribe with VirtualRouterNode or VirtualMachineNode.
//
// Control node to agent: Update messages (reach items and retracts for one
// "AF/SAFI/<vrf>" node, split by UpdateBuilder; NewEndOfRib) and Config
// messages (nodes and links to update or delete, split by ConfigBuilder).
//
// Route entries are UnicastEntry (inet 1/1, inet6 2/1, inet-labeled 1/4;
// xmpp_unicast.xsd) and EVPNEntry (25/242; xmpp_enet.xsd), with every
// element of those schemas; other families are kept as RawEntry. See Entry
// for what is written and what decoding tolerates. Every typed message has
// AppendMarshal/Marshal (encode) and Unmarshal from an *Element (decode).
//
// # Config properties as JSON
//
// The config store keeps an object's properties as JSON with underscore
// names; the agent receives them as XML child elements of <node>, as the
// original's generated encoders write them from the XSD types. The mapping,
// implemented by AppendJSONAsXML / JSONToElements (JSON to XML) and
// ElementsToJSON (XML to JSON):
//
//   - A property or field named a_b is the element <a-b> (underscores to
//     hyphens, and back). Keys must make plain XML names.
//   - An object is an element whose children are its fields, in sorted key
//     order. (The original writes schema order; receivers match by name.)
//   - A list field is the field's element repeated once per item, with no
//     wrapper: {"acl_rule": [r1, r2]} is <acl-rule>r1</acl-rule><acl-rule>r2</acl-rule>.
//     A list directly inside a list has no XML form and is an error.
//   - A string, number (json.Number, float64, Go integer) or boolean is the
//     element's text: "7", "true". An empty string, an empty object and a
//     null list item are an empty element <a-b/>.
//   - A null field is left out, and so is an empty list.
//
// XML does not record which leaves are numbers or booleans, which fields
// are lists when they hold one item, or whether an empty element was "" or
// {}. ElementsToJSON asks a Shape for these; without one it returns strings
// for leaves, objects for elements with children, and lists only for
// repeated elements. With a Shape built from the schema the result is the
// JSON the API stores, except that empty lists and nulls come back absent.
//
// # Errors
//
// Decoders return *DecodeError, which names the element path, the
// attribute and the offending value, and says whether the stream is broken
// (Fatal) or only the stanza is bad. Reader returns *StanzaTooLargeError
// (errors.Is ErrStanzaTooLarge) for stanzas over its limit. Both are meant
// to be logged as is before the session is closed or the stanza dropped.
package xmpp
