package scf

// Concurrency quotas, as SCF counts them: in MB of instance memory, so
// that one busy 256 MB instance uses 256 MB of quota.
const (
	// DefaultTotalConcurrencyMB is the account's quota when none was set.
	DefaultTotalConcurrencyMB = 128000
	// UnreservedFloorMB is kept for functions without a reserved quota:
	// reserved quotas together may not exceed the total minus this.
	UnreservedFloorMB = 12800
)

// ProvisionedStatus is the state of a version's provisioned concurrency.
type ProvisionedStatus string

// The provisioned statuses.
const (
	ProvisionedInProgress ProvisionedStatus = "InProgress" // instances still starting
	ProvisionedDone       ProvisionedStatus = "Done"       // all of them ready
	ProvisionedFailed     ProvisionedStatus = "Failed"     // a start failed; see the reason
)

// ProvisionedConcurrency is one version's provisioned concurrency.
type ProvisionedConcurrency struct {
	Qualifier    string            // the published version, "1", "2", ...
	Allocated    int64             // instances asked for
	Available    int64             // instances started and ready
	Status       ProvisionedStatus // see the constants
	StatusReason string            // why a start failed; empty otherwise
}

// Allocation is what one function holds of the account's concurrency
// quota, in MB: its reserved quota and the memory of its provisioned
// instances (instances asked for × their version's memory size).
type Allocation struct {
	ReservedMB    int64 // 0 when none is reserved
	ProvisionedMB int64 // summed over the function's versions
}
