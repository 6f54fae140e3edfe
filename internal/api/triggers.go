package api

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/scf"
)

// Triggers keeps and runs triggers; *trigger.Service has it.
type Triggers interface {
	Create(ctx context.Context, t *scf.Trigger) error
	Update(ctx context.Context, ns, function, name string, update func(*scf.Trigger) error) (*scf.Trigger, error)
	Get(ctx context.Context, ns, function, name string) (*scf.Trigger, error)
	List(ctx context.Context, ns, function string) ([]*scf.Trigger, error)
	Delete(ctx context.Context, ns, function, name string) error
	// State tells whether a trigger can run and when it last and next
	// fires.
	State(ctx context.Context, t *scf.Trigger) (scf.TriggerState, error)
}

// CreateTriggerRequest is CreateTrigger's input.
type CreateTriggerRequest struct {
	FunctionName   string
	TriggerName    string
	Type           string
	TriggerDesc    string `json:",omitempty"`
	Namespace      string `json:",omitempty"`
	Qualifier      string `json:",omitempty"`
	Enable         string `json:",omitempty"` // OPEN (default) or CLOSE
	CustomArgument string `json:",omitempty"`
	Description    string `json:",omitempty"`
}

// UpdateTriggerRequest is the input of UpdateTrigger and
// UpdateTriggerStatus: only the fields present change.
type UpdateTriggerRequest struct {
	FunctionName   string
	TriggerName    string
	Type           string
	Enable         *string `json:",omitempty"`
	Qualifier      *string `json:",omitempty"`
	Namespace      string  `json:",omitempty"`
	TriggerDesc    *string `json:",omitempty"`
	Description    *string `json:",omitempty"`
	CustomArgument *string `json:",omitempty"`
}

// DeleteTriggerRequest is DeleteTrigger's input.
type DeleteTriggerRequest struct {
	FunctionName string
	TriggerName  string
	Type         string
	Namespace    string `json:",omitempty"`
	TriggerDesc  string `json:",omitempty"`
	Qualifier    string `json:",omitempty"`
}

// ListTriggersRequest is ListTriggers' input.
type ListTriggersRequest struct {
	FunctionName string
	Namespace    string   `json:",omitempty"`
	Offset       int64    `json:",omitempty"`
	Limit        int64    `json:",omitempty"`
	OrderBy      string   `json:",omitempty"` // mod_time (default) or add_time
	Order        string   `json:",omitempty"` // ASC or DESC (default)
	Filters      []Filter `json:",omitempty"` // Type, Qualifier, TriggerName (exact) or Description (substring)
}

// TriggerInfo is one trigger of ListTriggers.
type TriggerInfo struct {
	Enable           int64
	Qualifier        string
	TriggerName      string
	Type             string
	TriggerDesc      string
	AvailableStatus  string
	CustomArgument   string
	AddTime          string
	ModTime          string
	ResourceId       string
	BindStatus       string
	TriggerAttribute string
	Description      string
	BoundResources   string
	// scfd's own: why AvailableStatus is Unavailable (the qualifier
	// cannot run), a timer's last and next fire times ("" when none) and
	// why its last fire did not run.
	AvailableReason string `json:",omitempty"`
	LastRunTime     string `json:",omitempty"`
	NextRunTime     string `json:",omitempty"`
	LastRunError    string `json:",omitempty"`
}

// ListTriggersResponse is ListTriggers' output.
type ListTriggersResponse struct {
	TotalCount int64
	Triggers   []TriggerInfo
}

// CreateTriggerResponse is CreateTrigger's output.
type CreateTriggerResponse struct {
	TriggerInfo Trigger
}

// enabled reads SCF's Enable: OPEN or CLOSE (also TRUE/FALSE, 1/0).
func enabled(v string) (bool, error) {
	switch strings.ToUpper(v) {
	case "OPEN", "TRUE", "1":
		return true, nil
	case "CLOSE", "FALSE", "0":
		return false, nil
	}
	return false, errdefs.Invalid("Enable", "Enable %q is invalid: use OPEN or CLOSE", v)
}

func (s *Server) createTrigger(ctx context.Context, call *Call, ns string, req *CreateTriggerRequest) (any, error) {
	on := true
	if req.Enable != "" {
		var err error
		if on, err = enabled(req.Enable); err != nil {
			return nil, err
		}
	}
	t := &scf.Trigger{
		Namespace: ns, Function: req.FunctionName, Name: req.TriggerName, Type: req.Type,
		Qualifier: req.Qualifier, Desc: req.TriggerDesc, CustomArgument: req.CustomArgument,
		Description: req.Description, Enabled: on,
	}
	if err := s.opts.Triggers.Create(ctx, t); err != nil {
		return nil, err
	}
	return CreateTriggerResponse{TriggerInfo: s.triggerToWire(t)}, nil
}

func (s *Server) updateTrigger(ctx context.Context, call *Call, ns string, req *UpdateTriggerRequest) (any, error) {
	_, err := s.opts.Triggers.Update(ctx, ns, req.FunctionName, req.TriggerName, func(t *scf.Trigger) error {
		if req.Type != "" && req.Type != t.Type {
			return errdefs.Invalid("Type", "trigger %q is of type %s, not %s", t.Name, t.Type, req.Type)
		}
		if req.Enable != nil {
			on, err := enabled(*req.Enable)
			if err != nil {
				return err
			}
			t.Enabled = on
		}
		if req.Qualifier != nil {
			t.Qualifier = *req.Qualifier
		}
		if req.TriggerDesc != nil && (t.Type == scf.TriggerTimer || t.Type == scf.TriggerHTTP) {
			t.Desc = *req.TriggerDesc
		}
		if req.Description != nil {
			t.Description = *req.Description
		}
		if req.CustomArgument != nil {
			t.CustomArgument = *req.CustomArgument
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

func (s *Server) deleteTrigger(ctx context.Context, call *Call, ns string, req *DeleteTriggerRequest) (any, error) {
	t, err := s.opts.Triggers.Get(ctx, ns, req.FunctionName, req.TriggerName)
	if err != nil {
		return nil, err
	}
	if req.Type != "" && req.Type != t.Type {
		return nil, errdefs.NotFound("Trigger", "trigger %q of type %s not found", req.TriggerName, req.Type)
	}
	return struct{}{}, s.opts.Triggers.Delete(ctx, ns, req.FunctionName, req.TriggerName)
}

func (s *Server) listTriggers(ctx context.Context, call *Call, ns string, req *ListTriggersRequest) (any, error) {
	offset, limit, desc, err := pageOrder(req.Offset, req.Limit, req.Order, true)
	if err != nil {
		return nil, err
	}
	if _, err := s.opts.Store.GetFunction(ctx, ns, req.FunctionName, scf.Latest); err != nil {
		return nil, err
	}
	all, err := s.opts.Triggers.List(ctx, ns, req.FunctionName)
	if err != nil {
		return nil, err
	}
	var byMod bool
	switch strings.ToLower(req.OrderBy) {
	case "", "mod_time":
		byMod = true
	case "add_time":
	default:
		return nil, errdefs.Invalid("OrderBy", "OrderBy %q is invalid: use mod_time or add_time", req.OrderBy)
	}
	sortTriggers(all, byMod, desc)
	resp := ListTriggersResponse{Triggers: []TriggerInfo{}}
	for _, t := range all {
		if !matchesFilters(t, req.Filters) {
			continue
		}
		if resp.TotalCount >= int64(offset) && len(resp.Triggers) < limit {
			w := s.triggerToWire(t)
			info := TriggerInfo{
				Enable: w.Enable, Qualifier: w.Qualifier, TriggerName: w.TriggerName, Type: w.Type,
				TriggerDesc: w.TriggerDesc, AvailableStatus: w.AvailableStatus, CustomArgument: w.CustomArgument,
				AddTime: w.AddTime, ModTime: w.ModTime, BindStatus: w.BindStatus, Description: w.Description,
			}
			st, err := s.opts.Triggers.State(ctx, t)
			if err != nil {
				return nil, err
			}
			if !st.Available {
				info.AvailableStatus, info.AvailableReason = "Unavailable", st.Reason
			}
			info.LastRunTime, info.NextRunTime = s.formatTimeOrEmpty(st.LastRun), s.formatTimeOrEmpty(st.NextRun)
			info.LastRunError = st.LastError
			resp.Triggers = append(resp.Triggers, info)
		}
		resp.TotalCount++
	}
	return resp, nil
}

// matchesFilters says whether t passes every filter: Type, Qualifier and
// TriggerName match one of their values exactly, Description holds one
// of its values as a substring.
func matchesFilters(t *scf.Trigger, filters []Filter) bool {
	for _, f := range filters {
		var v string
		match := func(want, v string) bool { return want == v }
		switch f.Name {
		case "Type":
			v = t.Type
		case "Qualifier":
			v = t.Qualifier
		case "TriggerName":
			v = t.Name
		case "Description":
			v, match = t.Description, func(want, v string) bool { return strings.Contains(v, want) }
		default:
			continue
		}
		ok := false
		for _, want := range f.Values {
			ok = ok || match(want, v)
		}
		if !ok {
			return false
		}
	}
	return true
}

func sortTriggers(ts []*scf.Trigger, byMod, desc bool) {
	at := func(t *scf.Trigger) time.Time {
		if byMod {
			return t.ModTime
		}
		return t.AddTime
	}
	sort.SliceStable(ts, func(i, j int) bool {
		if desc {
			return at(ts[j]).Before(at(ts[i]))
		}
		return at(ts[i]).Before(at(ts[j]))
	})
}

// formatTimeOrEmpty is formatTime, with "" for the zero time.
func (s *Server) formatTimeOrEmpty(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return s.formatTime(t)
}

// triggerToWire renders a trigger as GetFunction and CreateTrigger do.
func (s *Server) triggerToWire(t *scf.Trigger) Trigger {
	on := int64(0)
	if t.Enabled {
		on = 1
	}
	return Trigger{
		ModTime: s.formatTime(t.ModTime), AddTime: s.formatTime(t.AddTime), Type: t.Type,
		TriggerDesc: t.Desc, TriggerName: t.Name, Enable: on, CustomArgument: t.CustomArgument,
		AvailableStatus: "Available", BindStatus: "on", Qualifier: t.Qualifier, Description: t.Description,
	}
}
