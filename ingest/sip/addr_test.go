package sip

import (
	"strings"
	"testing"
)

var fromToCases = []scanCase{
	{
		name: "quoted display name and tag",
		msg:  m(reqLine, `From: "Alice Liddell" <sip:alice@atlanta.example.com>;tag=1928301774`),
		want: map[string]string{"FromDisplay": "Alice Liddell", "FromUser": "alice", "FromTag": "1928301774"},
	},
	{
		name: "quoted display name with < ; @ and escaped quotes",
		msg:  m(reqLine, `From: "Bob \"the <boss>\"; bob@evil" <sip:bob@example.com>;tag=b1`),
		want: map[string]string{"FromDisplay": `Bob \"the <boss>\"; bob@evil`, "FromUser": "bob", "FromTag": "b1"},
	},
	{
		name: "quoted display name with a comma",
		msg:  m(reqLine, `To: "Smith, John" <sip:jsmith@example.com>;tag=t1`),
		want: map[string]string{"ToUser": "jsmith", "ToTag": "t1"},
	},
	{
		name: "quoted display name ending in an escaped backslash",
		msg:  m(reqLine, `From: "J Rosenberg \\\""  <sip:jdrosen@example.com>;tag=98asjd8`),
		want: map[string]string{"FromDisplay": `J Rosenberg \\\"`, "FromUser": "jdrosen", "FromTag": "98asjd8"},
	},
	{
		name: "token display name",
		msg:  m(reqLine, "From: Alice Smith <sip:alice@a.example.com>;tag=x"),
		want: map[string]string{"FromDisplay": "Alice Smith", "FromUser": "alice", "FromTag": "x"},
	},
	{
		name: "display name that looks like a scheme",
		msg:  m(reqLine, "From: Support: Desk <sip:help@h>;tag=s"),
		want: map[string]string{"FromDisplay": "Support: Desk", "FromUser": "help", "FromTag": "s"},
	},
	{
		name: "quoted display name without blank before <",
		msg:  m(reqLine, `From: "sipvicious"<sip:100@1.1.1.1>;tag=3532`),
		want: map[string]string{"FromDisplay": "sipvicious", "FromUser": "100", "FromTag": "3532"},
	},
	{
		name: "empty quoted display name",
		msg:  m(reqLine, `From: "" <sip:anon@h>;tag=e`),
		want: map[string]string{"FromDisplay": "", "FromUser": "anon", "FromTag": "e"},
	},
	{
		name: "no display name",
		msg:  m(reqLine, "From: <sip:alice@a>;tag=x", "To: <sip:bob@b>"),
		want: map[string]string{"FromDisplay": "", "FromUser": "alice", "FromTag": "x", "ToUser": "bob", "ToTag": ""},
	},
	{
		name: "addr-spec with the tag as header parameter",
		msg:  m(reqLine, "From: sip:alice@a.example.com;tag=88sja8x", "To: sip:bob@b;user=phone;tag=t2"),
		want: map[string]string{"FromUser": "alice", "FromTag": "88sja8x", "ToUser": "bob", "ToTag": "t2"},
	},
	{
		name: "addr-spec parameters belong to the header, not the user",
		msg:  m(reqLine, "To: sip:+1555;npdi@h;tag=t3"),
		want: map[string]string{"ToUser": "", "ToTag": "t3"},
	},
	{
		name: "addr-spec with a quoted display name",
		msg:  m(reqLine, `From: "Al" sip:al@h;tag=q`),
		want: map[string]string{"FromDisplay": "Al", "FromUser": "al", "FromTag": "q"},
	},
	{
		name: "tag inside the URI is not the dialog tag",
		msg:  m(reqLine, "From: <sip:a@h;tag=wrong>;tag=right", "To: <sip:b@h;tag=uri>"),
		want: map[string]string{"FromTag": "right", "ToTag": ""},
	},
	{
		name: "tag in upper case",
		msg:  m(reqLine, "To: <sip:b@h>;TAG=Up1"),
		want: map[string]string{"ToTag": "Up1"},
	},
	{
		name: "tag among other parameters",
		msg:  m(reqLine, "From: <sip:a@h>;x-param=1;tag=abc;epid=2", "To: <sip:b@h>;foo;tag=def"),
		want: map[string]string{"FromTag": "abc", "ToTag": "def"},
	},
	{
		name: "tag with blanks around = and ;",
		msg:  m(reqLine, "To: <sip:b@h> ;   tag    = 1918181833n"),
		want: map[string]string{"ToTag": "1918181833n"},
	},
	{
		name: "tag inside a quoted parameter value is skipped",
		msg:  m(reqLine, `From: <sip:a@h>;note="x;tag=no";tag=yes`),
		want: map[string]string{"FromTag": "yes"},
	},
	{
		name: "parameter named like tag",
		msg:  m(reqLine, "From: <sip:a@h>;tagx=no;xtag=no;tag=yes"),
		want: map[string]string{"FromTag": "yes"},
	},
	{
		name: "user with user parameters",
		msg:  m(reqLine, "To: <sip:+15551234567;npdi;rn=+15559990000@gw.example.com;user=phone>"),
		want: map[string]string{"ToUser": "+15551234567"},
	},
	{
		name: "IPv6 host",
		msg:  m(reqLine, "From: <sip:bob@[2001:db8::1]:5060>;tag=v6", "To: <sip:[2001:db8::2]>"),
		want: map[string]string{"FromUser": "bob", "FromTag": "v6", "ToUser": ""},
	},
	{
		name: "user with password",
		msg:  m(reqLine, "From: <sip:alice:secret@a>;tag=p"),
		want: map[string]string{"FromUser": "alice"},
	},
	{
		name: "sips and tel URIs",
		msg:  m(reqLine, "From: <sips:alice@secure.example.com>;tag=s", "To: <tel:+1-201-555-0123;phone-context=+1>"),
		want: map[string]string{"FromUser": "alice", "ToUser": "+1-201-555-0123"},
	},
	{
		name: "URI scheme in upper case",
		msg:  m(reqLine, "From: <SIP:Alice@A.example.com>;tag=u"),
		want: map[string]string{"FromUser": "Alice"},
	},
	{
		name: "URI without user",
		msg:  m(reqLine, "To: <sip:example.com;transport=tcp>"),
		want: map[string]string{"ToUser": ""},
	},
	{
		name: "anonymous caller",
		msg:  m(reqLine, `From: "Anonymous" <sip:anonymous@anonymous.invalid>;tag=hyh8`),
		want: map[string]string{"FromDisplay": "Anonymous", "FromUser": "anonymous", "FromTag": "hyh8"},
	},
	{
		name: "unknown scheme",
		msg:  m(reqLine, "To: <urn:service:sos>"),
		want: map[string]string{"ToUser": ""},
	},
	{
		name: "unterminated quote",
		msg:  m(reqLine, `From: "Alice <sip:alice@a>;tag=1`, "Call-ID: c"),
		want: map[string]string{"FromDisplay": "Alice <sip:alice@a>;tag=1", "FromUser": "", "FromTag": "", "CallID": "c"},
	},
	{
		name: "URI without closing >",
		msg:  m(reqLine, "To: <sip:bob@b;user=phone", "Call-ID: c"),
		want: map[string]string{"ToUser": "bob", "ToTag": "", "CallID": "c"},
	},
	{
		name: "empty From and To",
		msg:  m(reqLine, "From:", "To: ", "Call-ID: c"),
		want: map[string]string{"FromUser": "", "FromTag": "", "ToUser": "", "CallID": "c"},
	},
}

func TestScanFromTo(t *testing.T) { runScanCases(t, fromToCases) }

var contactCases = []scanCase{
	{
		name: "first of a Contact list",
		msg:  m(reqLine, `Contact: "A" <sip:first@h>;q=0.7, <sip:second@h>;q=0.1`),
		want: map[string]string{"ContactUser": "first"},
	},
	{
		name: "addr-spec Contact with parameters",
		msg:  m(reqLine, "Contact: sip:100@10.0.0.5:5102;expires=3600"),
		want: map[string]string{"ContactUser": "100"},
	},
	{
		name: "addr-spec Contact list whose first entry has no user",
		msg:  m(reqLine, "Contact: sip:10.0.0.5, <sip:second@h>"),
		want: map[string]string{"ContactUser": ""},
	},
	{
		name: "wildcard Contact",
		msg:  m("REGISTER sip:r SIP/2.0", "Contact: *", "Expires: 0"),
		want: map[string]string{"ContactUser": ""},
	},
	{
		name: "instance id with <> after the URI",
		msg:  m(reqLine, `m: <sip:1001@192.168.1.45:5062>;+sip.instance="<urn:uuid:0000@x>"`),
		want: map[string]string{"ContactUser": "1001"},
	},
	{
		name: "first Contact header wins",
		msg:  m(reqLine, "Contact: <sip:one@h>", "m: <sip:two@h>"),
		want: map[string]string{"ContactUser": "one"},
	},
	{
		name: "P-Asserted-Identity first identity",
		msg:  m(reqLine, `P-Asserted-Identity: "Alice" <sip:+15550001@h;user=phone>, <tel:+15550002>`),
		want: map[string]string{"PAIUser": "+15550001"},
	},
	{
		name: "P-Asserted-Identity tel",
		msg:  m(reqLine, "P-Asserted-Identity: <tel:+15550002;cpc=ordinary>", "P-Asserted-Identity: <sip:other@h>"),
		want: map[string]string{"PAIUser": "+15550002"},
	},
	{
		name: "P-Asserted-Identity addr-spec",
		msg:  m(reqLine, "P-Asserted-Identity: sip:bob@h"),
		want: map[string]string{"PAIUser": "bob"},
	},
}

func TestScanContact(t *testing.T) { runScanCases(t, contactCases) }

var correlationCases = []scanCase{
	{
		name: "X-CID and X-Session-Id",
		msg:  m(reqLine, "X-CID: a84b4c76e66710@pc33", "X-Session-Id: 7f9c2ba4e88f"),
		want: map[string]string{"XCID": "a84b4c76e66710@pc33", "SessionID": "7f9c2ba4e88f"},
	},
	{
		name: "Session-ID without its parameters",
		msg:  m(reqLine, "Session-ID: ab30317f1a784dc48ff824d0d3715d86 ;remote=47755a9de7794ba387653f2099600ef2"),
		want: map[string]string{"SessionID": "ab30317f1a784dc48ff824d0d3715d86"},
	},
	{
		name: "X-Session-Id wins over an earlier Session-ID",
		msg:  m(reqLine, "Session-ID: rfc7989", "X-Session-ID: vendor"),
		want: map[string]string{"SessionID": "vendor"},
	},
	{
		name: "X-Session-Id wins over a later Session-ID",
		msg:  m(reqLine, "x-session-id: vendor", "Session-Id: rfc7989"),
		want: map[string]string{"SessionID": "vendor"},
	},
	{
		name: "first X-Session-Id wins",
		msg:  m(reqLine, "X-Session-Id: one", "X-Session-Id: two", "Session-ID: three"),
		want: map[string]string{"SessionID": "one"},
	},
	{
		name: "Replaces header",
		msg:  m(reqLine, "Replaces: 98732@sip.example.com;from-tag=r33th4x0r;to-tag=ff87ff"),
		want: map[string]string{"Replaces": "98732@sip.example.com"},
	},
	{
		name: "Replaces header with blanks and folding",
		msg:  m(reqLine, "Replaces:", " 98732@sip.example.com ;", " to-tag=ff87ff"),
		want: map[string]string{"Replaces": "98732@sip.example.com"},
	},
	{
		name: "Refer-To with escaped Replaces",
		msg:  m("REFER sip:1002@h SIP/2.0", "Refer-To: <sip:dave@denver.example.org?Replaces=12345%40192.168.118.3%3Bto-tag%3D12345%3Bfrom-tag%3D5FFE-3994>"),
		want: map[string]string{"ReferToReplaces": "12345@192.168.118.3"},
	},
	{
		name: "Refer-To with lower-case escapes",
		msg:  m("REFER sip:1002@h SIP/2.0", "Refer-To: <sip:d@h?replaces=abc%2fdef%40h%3bto-tag%3d1>"),
		want: map[string]string{"ReferToReplaces": "abc/def@h"},
	},
	{
		name: "Refer-To with Replaces not escaped",
		msg:  m("REFER sip:1002@h SIP/2.0", "Refer-To: <sip:d@h?Replaces=plain-call-id;to-tag=1;from-tag=2>"),
		want: map[string]string{"ReferToReplaces": "plain-call-id"},
	},
	{
		name: "Refer-To with Replaces after another URI header",
		msg:  m("REFER sip:1002@h SIP/2.0", "r: <sip:d@h?Require=replaces&Replaces=x%40y%3Bto-tag%3D1&Foo=bar>"),
		want: map[string]string{"ReferToReplaces": "x@y"},
	},
	{
		name: "Refer-To with Replaces as the last URI header",
		msg:  m("REFER sip:1002@h SIP/2.0", "Refer-To: <sip:d@h?Replaces=only%40h>;method=INVITE"),
		want: map[string]string{"ReferToReplaces": "only@h"},
	},
	{
		name: "Refer-To addr-spec with Replaces",
		msg:  m("REFER sip:1002@h SIP/2.0", "Refer-To: sip:d@h?Replaces=spec%40h%3Bto-tag%3D1"),
		want: map[string]string{"ReferToReplaces": "spec@h"},
	},
	{
		name: "Refer-To with a quoted display name holding ?Replaces=",
		msg:  m("REFER sip:1002@h SIP/2.0", `Refer-To: "?Replaces=fake" <sip:d@h?Replaces=real%40h>`),
		want: map[string]string{"ReferToReplaces": "real@h"},
	},
	{
		name: "Refer-To without Replaces",
		msg:  m("REFER sip:1002@h SIP/2.0", "Refer-To: <sip:carol@cleveland.example.org>"),
		want: map[string]string{"ReferToReplaces": ""},
	},
	{
		name: "Refer-To with a bad escape",
		msg:  m("REFER sip:1002@h SIP/2.0", "Refer-To: <sip:d@h?Replaces=a%zz%40b%4>"),
		want: map[string]string{"ReferToReplaces": "a%zz@b%4"},
	},
	{
		name: "Refer-To with an escaped Call-ID longer than the inline buffer",
		msg: m("REFER sip:1002@h SIP/2.0", "Refer-To: <sip:d@h?Replaces="+strings.Repeat("a", 150)+
			"%40h%3Bto-tag%3D1>"),
		want: map[string]string{"ReferToReplaces": strings.Repeat("a", 150) + "@h"},
	},
	{
		name: "first Refer-To wins",
		msg:  m("REFER sip:1002@h SIP/2.0", "Refer-To: <sip:d@h>", "Refer-To: <sip:d@h?Replaces=late%40h>"),
		want: map[string]string{"ReferToReplaces": ""},
	},
}

func TestScanCorrelation(t *testing.T) { runScanCases(t, correlationCases) }

var userOfCases = []struct {
	name string
	in   string
	want string
}{
	{name: "sip URI", in: "sip:alice@atlanta.example.com", want: "alice"},
	{name: "sips URI", in: "sips:alice@atlanta.example.com:5061", want: "alice"},
	{name: "name-addr with user=phone", in: `"Bob" <sip:+1555@host;user=phone>`, want: "+1555"},
	{name: "tel URI with phone-context", in: "tel:+1555;phone-context=example.com", want: "+1555"},
	{name: "tel URI in name-addr", in: "<tel:+4930123>", want: "+4930123"},
	{name: "URI without user", in: "<sip:h>", want: ""},
	{name: "bare host", in: "sip:example.com", want: ""},
	{name: "user parameters", in: "sip:+1555;npdi@h", want: "+1555"},
	{name: "password", in: "sip:alice:pw@h", want: "alice"},
	{name: "IPv6 host", in: "sip:bob@[2001:db8::1]", want: "bob"},
	{name: "IPv6 host without user", in: "sip:[2001:db8::1]:5060", want: ""},
	{name: "@ only in URI headers", in: "sip:h?Replaces=a@b", want: ""},
	{name: "upper-case scheme", in: "SIPS:Carol@h", want: "Carol"},
	{name: "leading and trailing blanks", in: "  <sip:dave@h>  ", want: "dave"},
	{name: "quoted display name with <", in: `"x <sip:evil@h>" <sip:good@h>`, want: "good"},
	{name: "escaped user kept as sent", in: "sip:%2B1555@h", want: "%2B1555"},
	{name: "star user", in: "sip:*97@pbx", want: "*97"},
	{name: "unknown scheme", in: "mailto:alice@example.com", want: ""},
	{name: "no scheme", in: "alice@example.com", want: ""},
	{name: "empty", in: "", want: ""},
	{name: "scheme only", in: "sip:", want: ""},
	{name: "tel scheme only", in: "tel:", want: ""},
	{name: "display name only", in: `"Alice"`, want: ""},
	{name: "wildcard", in: "*", want: ""},
}

func TestUserOf(t *testing.T) {
	for _, tc := range userOfCases {
		t.Run(tc.name, func(t *testing.T) {
			in := []byte(tc.in)
			got := UserOf(in)
			if string(got) != tc.want {
				t.Errorf("UserOf(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if !within(got, in) {
				t.Errorf("UserOf(%q) result does not alias its input", tc.in)
			}
		})
	}
}
