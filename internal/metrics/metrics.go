// Package metrics exports what an operator watches, in the Prometheus text
// format through client_golang: invocations and their durations, cold
// starts by phase, instances by state, image pulls, the async queue and
// GB-seconds, plus the Go runtime and process collectors. Guard keeps
// them to the operator: their labels name every tenant's functions.
//
// Labels stay bounded: namespaces, functions, qualifiers, results from a
// fixed set, phases and states; never request ids.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Results of an invocation, the values of the result label.
const (
	ResultSuccess     = "success"      // 0
	ResultUserError   = "user_error"   // 430: the function answered non-2xx
	ResultTimeout     = "timeout"      // 433
	ResultMemory      = "memory_limit" // 434
	ResultProcessExit = "process_exit" // 439
	ResultThrottled   = "throttled"    // 432: over concurrency
	ResultStartFailed = "start_failed" // 444, 445, 446: no instance could serve
	ResultOther       = "other"        // anything else
)

// ResultOf maps an SCF status code to its result label.
func ResultOf(code int) string {
	switch code {
	case 0:
		return ResultSuccess
	case 430:
		return ResultUserError
	case 433:
		return ResultTimeout
	case 434:
		return ResultMemory
	case 439:
		return ResultProcessExit
	case 432:
		return ResultThrottled
	case 444, 445, 446:
		return ResultStartFailed
	}
	return ResultOther
}

// Metrics holds scfd's collectors. Its methods are safe for concurrent use.
type Metrics struct {
	reg         *prometheus.Registry
	invocations *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	coldStarts  *prometheus.CounterVec
	coldPhases  *prometheus.HistogramVec
	pulls       prometheus.Histogram
	gbSeconds   *prometheus.CounterVec
}

// New returns the collectors, registered with the Go and process
// collectors in a registry of their own.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		invocations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scfd_invocations_total", Help: "Invocations that ended, by result.",
		}, []string{"namespace", "function", "qualifier", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "scfd_invocation_duration_seconds", Help: "Duration of invocations that reached an instance.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 14),
		}, []string{"namespace", "function"}),
		coldStarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scfd_cold_starts_total", Help: "Invocations that started their instance.",
		}, []string{"namespace", "function"}),
		coldPhases: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "scfd_cold_start_seconds", Help: "Duration of each phase of a cold start; phase total is the whole start.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"phase"}),
		pulls: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "scfd_image_pull_seconds", Help: "Duration of image pulls (resolve, check, download and unpack).",
			Buckets: prometheus.ExponentialBuckets(0.01, 2.5, 12),
		}),
		gbSeconds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scfd_gb_seconds_total", Help: "Billed resource usage, memory in GB times billed duration in seconds.",
		}, []string{"namespace", "function"}),
	}
	m.reg.MustRegister(m.invocations, m.duration, m.coldStarts, m.coldPhases, m.pulls, m.gbSeconds,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Invocation counts one invocation that ended. duration and gbSeconds
// count only when the event reached an instance (billed).
func (m *Metrics) Invocation(namespace, function, qualifier string, code int, billed bool, duration time.Duration, gbSeconds float64) {
	m.invocations.WithLabelValues(namespace, function, qualifier, ResultOf(code)).Inc()
	if billed {
		m.duration.WithLabelValues(namespace, function).Observe(duration.Seconds())
		m.gbSeconds.WithLabelValues(namespace, function).Add(gbSeconds)
	}
}

// ColdStart counts a cold start and observes its phases by name.
func (m *Metrics) ColdStart(namespace, function string, phases map[string]time.Duration) {
	m.coldStarts.WithLabelValues(namespace, function).Inc()
	for phase, d := range phases {
		m.coldPhases.WithLabelValues(phase).Observe(d.Seconds())
	}
}

// ImagePull observes one image pull.
func (m *Metrics) ImagePull(d time.Duration) { m.pulls.Observe(d.Seconds()) }

// Instances exports the instances by state, read from count when scraped.
func (m *Metrics) Instances(count func() map[string]int) {
	m.reg.MustRegister(&stateCollector{
		desc:  prometheus.NewDesc("scfd_instances", "Instances by state.", []string{"state"}, nil),
		count: count,
	})
}

// AsyncQueueDepth exports the events waiting in the async queue, read
// from depth when scraped.
func (m *Metrics) AsyncQueueDepth(depth func() float64) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "scfd_async_queue_depth", Help: "Asynchronous events accepted and not yet finished.",
	}, depth))
}

// Replicas exports the scfd replicas this one sees live (itself
// included) when several share the work, read from members when scraped:
// how many (scfd_cluster_replicas) and which (scfd_cluster_replica, 1 for
// each by name), so that an operator sees who left whose view.
func (m *Metrics) Replicas(members func() []string) {
	m.reg.MustRegister(replicas(members))
}

// replicas is the collector of Replicas.
type replicas func() []string

var (
	replicasDesc = prometheus.NewDesc("scfd_cluster_replicas", "Replicas sharing the work that this one sees live, itself included.", nil, nil)
	replicaDesc  = prometheus.NewDesc("scfd_cluster_replica", "1 for each replica sharing the work that this one sees live, itself included.", []string{"replica"}, nil)
)

func (r replicas) Describe(ch chan<- *prometheus.Desc) {
	ch <- replicasDesc
	ch <- replicaDesc
}

func (r replicas) Collect(ch chan<- prometheus.Metric) {
	members := r()
	ch <- prometheus.MustNewConstMetric(replicasDesc, prometheus.GaugeValue, float64(len(members)))
	for _, id := range members {
		ch <- prometheus.MustNewConstMetric(replicaDesc, prometheus.GaugeValue, 1, id)
	}
}

// Forget drops a deleted function's series.
func (m *Metrics) Forget(namespace, function string) {
	labels := prometheus.Labels{"namespace": namespace, "function": function}
	m.invocations.DeletePartialMatch(labels)
	m.duration.DeletePartialMatch(labels)
	m.coldStarts.DeletePartialMatch(labels)
	m.gbSeconds.DeletePartialMatch(labels)
}

// stateCollector reports a gauge per instance state from a snapshot.
type stateCollector struct {
	desc  *prometheus.Desc
	count func() map[string]int
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	for state, n := range c.count() {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), state)
	}
}
