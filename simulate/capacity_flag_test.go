package simulate

import (
	"maps"
	"strings"
	"testing"
)

func TestParseCapacityFlag(t *testing.T) {
	tests := []struct {
		name    string
		values  []string // one -capacity flag each
		want    map[string]Capacity
		wantErr string
	}{
		{"slots only", []string{"primary=4"}, map[string]Capacity{"primary": {Slots: 4}}, ""},
		{"slots and queue", []string{"primary=2/1"}, map[string]Capacity{"primary": {Slots: 2, Queue: 1}}, ""},
		{"explicit empty queue", []string{"primary=3/0"}, map[string]Capacity{"primary": {Slots: 3}}, ""},
		{"comma-separated with spaces", []string{"a=1/2, b = 3 / 4"},
			map[string]Capacity{"a": {Slots: 1, Queue: 2}, "b": {Slots: 3, Queue: 4}}, ""},
		{"repeated, the later wins", []string{"a=1", "b=2/2", "a=5/6"},
			map[string]Capacity{"a": {Slots: 5, Queue: 6}, "b": {Slots: 2, Queue: 2}}, ""},
		{"no =", []string{"primary"}, nil, "want provider=SLOTS[/QUEUE]"},
		{"no name", []string{"=2"}, nil, "want provider=SLOTS[/QUEUE]"},
		{"no slots", []string{"primary="}, nil, "want provider=SLOTS[/QUEUE]"},
		{"slots not a number", []string{"primary=many"}, nil, `slots "many": want a whole number`},
		{"zero slots", []string{"primary=0/4"}, nil, "slots: 0 is less than 1"},
		{"negative queue", []string{"primary=2/-1"}, nil, "queue: -1 is negative"},
		{"queue not a number", []string{"primary=2/"}, nil, `queue "": want a whole number`},
		{"bad item among several", []string{"a=1,b=x"}, nil, `item "b=x": slots "x"`},
		{"trailing comma", []string{"a=1,"}, nil, `item "": want provider=SLOTS[/QUEUE]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := map[string]Capacity{}
			var err error
			for _, v := range tt.values {
				if err = parseCapacityFlag(v, got); err != nil {
					break
				}
			}
			switch {
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("got error %v, want one containing %q", err, tt.wantErr)
			case tt.wantErr == "" && err != nil:
				t.Errorf("got error %v, want none", err)
			case tt.wantErr == "" && !maps.Equal(got, tt.want):
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
