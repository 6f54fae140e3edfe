package meter

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Prices turn usage into cost, in US dollars. The defaults are SCF's
// published international prices.
type Prices struct {
	GBSecond          float64 // per GB-second of execution
	Per10kInvocations float64 // per 10,000 invocations
	IdleGBSecond      float64 // per GB-second of idle provisioned instances
	OutboundGB        float64 // per GB (2^30 bytes) sent out
	// FreeTier deducts SCF's monthly free package from each calendar
	// month of the totals (not from each function): FreeInvocations,
	// FreeGBSeconds and FreeOutboundBytes. Idle provisioned usage is
	// never free.
	FreeTier bool
}

// SCF's monthly free package (the basic package after the first three
// months): 1,000,000 invocations (500,000 event plus 500,000 HTTP; scfd
// does not tell them apart), 100,000 GB-s and 2 GB of outbound traffic.
const (
	FreeInvocations   = 1_000_000
	FreeGBSeconds     = 100_000
	FreeOutboundBytes = 2 << 30
)

// DefaultPrices are SCF's international prices, free tier on.
var DefaultPrices = Prices{
	GBSecond:          0.0000167,
	Per10kInvocations: 0.002,
	IdleGBSecond:      0.00000847,
	OutboundGB:        0.1203,
	FreeTier:          true,
}

// Usage is the usage and cost of one function, or of all of them.
type Usage struct {
	Namespace                string
	Function                 string
	Invocations              int64
	Errors                   int64
	GBSeconds                float64
	ProvisionedIdleGBSeconds float64
	OutboundBytes            int64
	Cost                     float64 // without the free tier
}

func (u *Usage) add(o Usage) {
	u.Invocations += o.Invocations
	u.Errors += o.Errors
	u.GBSeconds += o.GBSeconds
	u.ProvisionedIdleGBSeconds += o.ProvisionedIdleGBSeconds
	u.OutboundBytes += o.OutboundBytes
}

func (p Prices) cost(u Usage) float64 {
	return u.GBSeconds*p.GBSecond + float64(u.Invocations)/10000*p.Per10kInvocations +
		u.ProvisionedIdleGBSeconds*p.IdleGBSecond + float64(u.OutboundBytes)/(1<<30)*p.OutboundGB
}

// free is the usage left to pay for in one month after the free package.
func free(u Usage) Usage {
	u.Invocations = max(0, u.Invocations-FreeInvocations)
	u.GBSeconds = max(0, u.GBSeconds-FreeGBSeconds)
	u.OutboundBytes = max(0, u.OutboundBytes-FreeOutboundBytes)
	return u
}

// Query selects usage. Buckets are hourly: an hour counts when it starts
// in [Start, End) after Start is rounded down to its hour. Zero times are
// open ends; empty names match all.
type Query struct {
	Namespace string
	Function  string
	Start     time.Time
	End       time.Time
}

// Usage returns the usage of every function in q, by namespace and name,
// and the total, whose Cost has the free tier deducted when prices say so.
func (m *Meter) Usage(ctx context.Context, q Query, p Prices) ([]Usage, Usage, error) {
	if err := m.Sync(ctx); err != nil {
		return nil, Usage{}, err
	}
	where := []string{"1 = 1"}
	var args []any
	if q.Namespace != "" {
		where = append(where, "namespace = ?")
		args = append(args, q.Namespace)
	}
	if q.Function != "" {
		where = append(where, "function = ?")
		args = append(args, q.Function)
	}
	if !q.Start.IsZero() {
		where = append(where, "hour >= ?")
		args = append(args, hourOf(q.Start))
	}
	if !q.End.IsZero() {
		where = append(where, "hour < ?")
		args = append(args, q.End.Unix())
	}
	rows, err := m.db.QueryContext(ctx, `SELECT namespace, function, hour, invocations, errors, gb_seconds, idle_gb_seconds, outbound_bytes
		FROM usage_hourly WHERE `+strings.Join(where, " AND "), args...)
	if err != nil {
		return nil, Usage{}, fmt.Errorf("meter: reading usage: %w", err)
	}
	defer rows.Close()
	byFunction := map[[2]string]*Usage{}
	byMonth := map[string]*Usage{}
	for rows.Next() {
		var u Usage
		var hour int64
		if err := rows.Scan(&u.Namespace, &u.Function, &hour, &u.Invocations, &u.Errors, &u.GBSeconds, &u.ProvisionedIdleGBSeconds, &u.OutboundBytes); err != nil {
			return nil, Usage{}, fmt.Errorf("meter: reading usage: %w", err)
		}
		k := [2]string{u.Namespace, u.Function}
		if byFunction[k] == nil {
			byFunction[k] = &Usage{Namespace: u.Namespace, Function: u.Function}
		}
		byFunction[k].add(u)
		month := time.Unix(hour, 0).UTC().Format("2006-01")
		if byMonth[month] == nil {
			byMonth[month] = &Usage{}
		}
		byMonth[month].add(u)
	}
	if err := rows.Err(); err != nil {
		return nil, Usage{}, fmt.Errorf("meter: reading usage: %w", err)
	}
	out := make([]Usage, 0, len(byFunction))
	var total Usage
	for _, u := range byFunction {
		u.Cost = p.cost(*u)
		total.add(*u)
		out = append(out, *u)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Namespace != out[j].Namespace {
			return out[i].Namespace < out[j].Namespace
		}
		return out[i].Function < out[j].Function
	})
	for _, mu := range byMonth {
		if p.FreeTier {
			total.Cost += p.cost(free(*mu))
		} else {
			total.Cost += p.cost(*mu)
		}
	}
	for i := range out {
		roundUsage(&out[i])
	}
	roundUsage(&total)
	return out, total, nil
}

func roundUsage(u *Usage) {
	u.GBSeconds = round6(u.GBSeconds)
	u.ProvisionedIdleGBSeconds = round6(u.ProvisionedIdleGBSeconds)
	u.Cost = round6(u.Cost)
}
