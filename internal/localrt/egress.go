package localrt

// Egress is the outbound traffic of one instance: bytes it sent through
// the host to anything but the host itself (scfd's listeners are on the
// host, so answers to invocations do not count).
type Egress struct {
	Namespace, Function, Version string
	Bytes                        uint64
}

// owner says which instance holds a network attachment.
type owner struct {
	instance                     string
	namespace, function, version string
	gone                         bool // the instance was torn down
}

// own records that in holds its network attachment.
func (d *Driver) own(in *instance, namespace, function, version string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.owners[in.att.ID] = &owner{instance: in.id, namespace: namespace, function: function, version: version}
}

// disown marks in's attachment as torn down; Egress reports its final
// count once more.
func (d *Driver) disown(in *instance) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if o := d.owners[in.att.ID]; o != nil {
		o.gone = true
	}
}

// Egress returns, by instance id, the bytes each instance has sent out
// since it started: running instances, and instances stopped since the
// previous call (their final counts, reported once).
func (d *Driver) Egress() (map[string]Egress, error) {
	counts, err := d.net.Egress()
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[string]Egress, len(d.owners))
	for att, o := range d.owners {
		n, present := counts[att]
		if !present {
			if o.gone {
				delete(d.owners, att)
			}
			continue
		}
		out[o.instance] = Egress{Namespace: o.namespace, Function: o.function, Version: o.version, Bytes: n}
	}
	return out, nil
}
