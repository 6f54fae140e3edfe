package k8srt

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// summary is the part of the kubelet's /stats/summary that scfd reads.
type summary struct {
	Pods []struct {
		PodRef struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"podRef"`
		Containers []struct {
			Name   string `json:"name"`
			Memory *struct {
				UsageBytes      *uint64 `json:"usageBytes"`
				WorkingSetBytes *uint64 `json:"workingSetBytes"`
			} `json:"memory"`
		} `json:"containers"`
	} `json:"pods"`
}

// containerMemory returns the memory use of the function container of each
// Pod of namespace in a summary, page cache included (usageBytes, as the
// local runtime's cgroup reports it).
func containerMemory(b []byte, namespace string) (map[string]uint64, error) {
	var s summary
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("k8srt: stats summary: %w", err)
	}
	out := map[string]uint64{}
	for _, p := range s.Pods {
		if p.PodRef.Namespace != namespace {
			continue
		}
		for _, c := range p.Containers {
			if c.Name != ContainerName || c.Memory == nil {
				continue
			}
			switch {
			case c.Memory.UsageBytes != nil:
				out[p.PodRef.Name] = *c.Memory.UsageBytes
			case c.Memory.WorkingSetBytes != nil:
				out[p.PodRef.Name] = *c.Memory.WorkingSetBytes
			}
		}
	}
	return out, nil
}

// sampler reads the summary statistics of every node that runs a live
// instance, every interval, through the API server's node proxy. It keeps
// the per-invocation path free of API calls: Stats returns the last
// sample. The kubelet itself refreshes container statistics about every
// 10 s (cAdvisor's housekeeping), so samples lag by up to that.
type sampler struct {
	d        *Driver
	interval time.Duration
}

func newSampler(d *Driver, interval time.Duration) *sampler {
	return &sampler{d: d, interval: interval}
}

func (s *sampler) run(stop <-chan struct{}) {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			s.once()
		}
	}
}

// once takes one sample of every live instance.
func (s *sampler) once() {
	byNode := map[string][]*instance{}
	for _, in := range s.d.instances() {
		if n := in.nodeName(); n != "" {
			byNode[n] = append(byNode[n], in)
		}
	}
	for node, ins := range byNode {
		ctx, cancel := context.WithTimeout(context.Background(), s.interval+5*time.Second)
		b, err := s.d.client.CoreV1().RESTClient().Get().
			Resource("nodes").Name(node).SubResource("proxy").Suffix("stats/summary").
			DoRaw(ctx)
		cancel()
		if err != nil {
			s.d.log.Debug("k8srt: stats summary", "node", node, "err", err)
			continue
		}
		mem, err := containerMemory(b, s.d.opts.Namespace)
		if err != nil {
			s.d.log.Debug("k8srt: stats summary", "node", node, "err", err)
			continue
		}
		for _, in := range ins {
			if v, ok := mem[in.pod]; ok {
				in.sample(v)
			}
		}
	}
}
