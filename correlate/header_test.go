package correlate

import "testing"

func TestParseHeader(t *testing.T) {
	msg := "INVITE sip:b@h SIP/2.0\r\nCall-ID: x\r\n" +
		"P-Charging-Vector: icid-value=\"AyretyU0dm+6O2IrT5tAFrbHLso=023551024\";orig-ioi=home1.net\r\n" +
		"x-broadworks-correlation-info: 5ca2b3ee-1c36-4f0c-bd3c-b0d1c9e87ab1\r\n" +
		"X-Empty:\r\n\r\n"
	cases := []struct {
		name    string
		spec    string
		wantErr bool
		want    string // value found in msg
	}{
		{"homer_icid", `P-Charging-Vector,icid-value="?(.*?)(?:"|;|$)`, false, "AyretyU0dm+6O2IrT5tAFrbHLso=023551024"},
		{"name_only_any_case", "X-BroadWorks-Correlation-Info", false, "5ca2b3ee-1c36-4f0c-bd3c-b0d1c9e87ab1"},
		{"whole_match_without_group", `P-Charging-Vector,orig-ioi=[a-z0-9.]+`, false, "orig-ioi=home1.net"},
		{"pattern_not_matching", `P-Charging-Vector,icid-gen=(\w+)`, false, ""},
		{"absent_header", "X-Not-There", false, ""},
		{"empty_value", "X-Empty", false, ""},
		{"spaces_around_name", "  X-BroadWorks-Correlation-Info ", false, "5ca2b3ee-1c36-4f0c-bd3c-b0d1c9e87ab1"},
		{"empty_name", ",(.*)", true, ""},
		{"name_with_colon", "X-CID:", true, ""},
		{"bad_pattern", "X-CID,(", true, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h, err := ParseHeader(c.spec)
			if (err != nil) != c.wantErr {
				t.Fatalf("err = %v, want error %v", err, c.wantErr)
			}
			if err != nil {
				return
			}
			if got := h.Value([]byte(msg)); got != c.want {
				t.Errorf("Value = %q, want %q", got, c.want)
			}
		})
	}
}
