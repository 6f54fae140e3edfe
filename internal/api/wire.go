package api

// The JSON wire structs of SCF API 3.0 (version 2018-04-16), field for
// field as tencentcloud-sdk-go's scf/v20180416/models.go names and types
// them. Request structs use pointers where the API must tell an absent
// field from a zero one; response structs are filled in full, with the
// fields scfd has no use for set to what SCF answers for an image
// function (empty strings, "FALSE", empty lists).

// Variable is one environment variable.
type Variable struct {
	Key   string
	Value string
}

// Environment is a function's environment variables.
type Environment struct {
	Variables []Variable
}

// Tag is a key/value tag.
type Tag struct {
	Key   string
	Value string
}

// ImageConfig is Code.ImageConfig and GetFunction's ImageConfig.
type ImageConfig struct {
	ImageType                string  // "personal" or "enterprise"
	ImageUri                 string  // {domain}/{namespace}/{imageName}:{tag}@{digest}
	RegistryId               string  `json:",omitempty"` // enterprise registries only
	EntryPoint               *string // disused by SCF; always null
	Command                  string
	Args                     string
	ContainerImageAccelerate bool
	ImagePort                int64 // 0 or absent means 9000; -1 (no port) is unsupported
}

// Code is a function's code. scfd deploys images only: every field but
// ImageConfig is refused.
type Code struct {
	CosBucketName     *string      `json:",omitempty"`
	CosObjectName     *string      `json:",omitempty"`
	ZipFile           *string      `json:",omitempty"`
	CosBucketRegion   *string      `json:",omitempty"`
	DemoId            *string      `json:",omitempty"`
	TempCosObjectName *string      `json:",omitempty"`
	GitUrl            *string      `json:",omitempty"`
	GitUserName       *string      `json:",omitempty"`
	GitPassword       *string      `json:",omitempty"`
	GitPasswordSecret *string      `json:",omitempty"`
	GitBranch         *string      `json:",omitempty"`
	GitDirectory      *string      `json:",omitempty"`
	GitCommitId       *string      `json:",omitempty"`
	GitUserNameSecret *string      `json:",omitempty"`
	ImageConfig       *ImageConfig `json:",omitempty"`
}

// InstanceConcurrencyConfig is single-instance multi-concurrency (HTTP
// functions only).
type InstanceConcurrencyConfig struct {
	DynamicEnabled string `json:",omitempty"` // only "FALSE" is honoured
	MaxConcurrency uint64 // 1 to 100
}

// StatusReason explains a failed status.
type StatusReason struct {
	ErrorCode    string
	ErrorMessage string
}

// CreateNamespaceRequest is CreateNamespace's input.
type CreateNamespaceRequest struct {
	Namespace   string
	Description string `json:",omitempty"`
}

// UpdateNamespaceRequest is UpdateNamespace's input.
type UpdateNamespaceRequest struct {
	Namespace   string
	Description string
}

// DeleteNamespaceRequest is DeleteNamespace's input.
type DeleteNamespaceRequest struct {
	Namespace string
}

// SearchKey is one condition of ListNamespaces: Key is "Namespace" or
// "Description", Value a substring.
type SearchKey struct {
	Key   string
	Value string
}

// ListNamespacesRequest is ListNamespaces' input.
type ListNamespacesRequest struct {
	Limit     int64       `json:",omitempty"` // default 20
	Offset    int64       `json:",omitempty"`
	Orderby   string      `json:",omitempty"` // "Name" (default) or "Updatetime"
	Order     string      `json:",omitempty"` // "ASC" (default) or "DESC"
	SearchKey []SearchKey `json:",omitempty"` // all must match
}

// Namespace is one namespace of ListNamespaces.
type Namespace struct {
	ModTime     string
	AddTime     string
	Description string
	Name        string
	Type        string
}

// ListNamespacesResponse is ListNamespaces' output.
type ListNamespacesResponse struct {
	Namespaces []Namespace
	TotalCount int64
}

// CreateFunctionRequest is CreateFunction's input. Fields SCF has that
// scfd does not use (VpcConfig, Role, ClsLogsetId, Layers, ...) are
// accepted and ignored.
type CreateFunctionRequest struct {
	FunctionName              string
	Code                      *Code                      `json:",omitempty"`
	Handler                   string                     `json:",omitempty"`
	Description               string                     `json:",omitempty"`
	MemorySize                int64                      `json:",omitempty"`
	Timeout                   int64                      `json:",omitempty"`
	Environment               *Environment               `json:",omitempty"`
	Runtime                   string                     `json:",omitempty"`
	Namespace                 string                     `json:",omitempty"`
	Type                      string                     `json:",omitempty"` // "Event" (default) or "HTTP"
	InitTimeout               int64                      `json:",omitempty"`
	Tags                      []Tag                      `json:",omitempty"`
	InstanceConcurrencyConfig *InstanceConcurrencyConfig `json:",omitempty"`
	PublicNetConfig           *PublicNetConfigIn         `json:",omitempty"`
	AsyncRunEnable            string                     `json:",omitempty"` // "TRUE" or "FALSE"
	ProtocolType              string                     `json:",omitempty"` // "WS" or empty
	ProtocolParams            *ProtocolParams            `json:",omitempty"`
	DnsCache                  string                     `json:",omitempty"` // "TRUE" or "FALSE"
}

// PublicNetConfigIn says whether a function's instances reach beyond the
// host ("ENABLE", the default) or not ("DISABLE"). Only a disabled
// EipConfig is accepted: scfd has no fixed egress addresses.
type PublicNetConfigIn struct {
	PublicNetStatus string
	EipConfig       *EipConfigIn `json:",omitempty"`
}

// EipConfigIn is SCF's fixed egress address switch.
type EipConfigIn struct {
	EipStatus string
}

// ProtocolParams holds the parameters of a function's ProtocolType.
type ProtocolParams struct {
	WSParams *WSParams `json:",omitempty"`
}

// WSParams holds the parameters of WebSocket functions.
type WSParams struct {
	IdleTimeOut int64 `json:",omitempty"` // seconds, 1 to 1800; default 15
}

// UpdateFunctionCodeRequest is UpdateFunctionCode's input.
type UpdateFunctionCodeRequest struct {
	FunctionName  string
	Namespace     string  `json:",omitempty"`
	Code          *Code   `json:",omitempty"`
	Handler       string  `json:",omitempty"`
	CosBucketName *string `json:",omitempty"` // refused
	CosObjectName *string `json:",omitempty"` // refused
	ZipFile       *string `json:",omitempty"` // refused
	Publish       string  `json:",omitempty"` // "TRUE" is not supported yet
}

// UpdateFunctionConfigurationRequest is UpdateFunctionConfiguration's
// input: only the fields present change.
type UpdateFunctionConfigurationRequest struct {
	FunctionName              string
	Namespace                 string                     `json:",omitempty"`
	Description               *string                    `json:",omitempty"`
	MemorySize                *int64                     `json:",omitempty"`
	Timeout                   *int64                     `json:",omitempty"`
	InitTimeout               *int64                     `json:",omitempty"`
	Environment               *Environment               `json:",omitempty"`
	InstanceConcurrencyConfig *InstanceConcurrencyConfig `json:",omitempty"`
	PublicNetConfig           *PublicNetConfigIn         `json:",omitempty"`
	ProtocolParams            *ProtocolParams            `json:",omitempty"`
	DnsCache                  string                     `json:",omitempty"` // "TRUE" or "FALSE"
	Publish                   string                     `json:",omitempty"` // "TRUE" is not supported yet
}

// GetFunctionRequest is GetFunction's input.
type GetFunctionRequest struct {
	FunctionName string
	Qualifier    string `json:",omitempty"` // default $LATEST
	Namespace    string `json:",omitempty"` // default "default"
	ShowCode     string `json:",omitempty"` // ignored
}

// DeleteFunctionRequest is DeleteFunction's input.
type DeleteFunctionRequest struct {
	FunctionName string
	Namespace    string `json:",omitempty"`
	Qualifier    string `json:",omitempty"` // only $LATEST or empty (every version)
}

// Trigger is one trigger of GetFunction.
type Trigger struct {
	ModTime         string
	Type            string
	TriggerDesc     string
	TriggerName     string
	AddTime         string
	Enable          int64
	CustomArgument  string
	AvailableStatus string
	BindStatus      string
	Qualifier       string
	Description     string
}

// VpcConfig is always empty in scfd.
type VpcConfig struct {
	VpcId    string
	SubnetId string
}

// EipOutConfig is always "no fixed IP" in scfd.
type EipOutConfig struct {
	EipFixed string
	Eips     []string
}

// AccessInfo is always empty in scfd.
type AccessInfo struct {
	Host string
	Vip  string
}

// DeadLetterConfig is always empty in scfd.
type DeadLetterConfig struct {
	Type       string
	Name       string
	FilterType string
}

// EipConfigOut is always disabled in scfd.
type EipConfigOut struct {
	EipStatus  string
	EipAddress []string
}

// PublicNetConfigOut says whether a function's instances reach beyond the
// host.
type PublicNetConfigOut struct {
	PublicNetStatus string
	EipConfig       EipConfigOut
}

// CfsConfig is always empty in scfd.
type CfsConfig struct {
	CfsInsList []struct{}
}

// IntranetConfigOut is always disabled in scfd.
type IntranetConfigOut struct {
	IpFixed string
}

// LayerVersionInfo is a layer; scfd has none.
type LayerVersionInfo struct {
	LayerName    string
	LayerVersion int64
}

// GetFunctionResponse is GetFunction's output.
type GetFunctionResponse struct {
	ModTime                   string
	CodeInfo                  string
	Description               string
	Triggers                  []Trigger
	Handler                   string
	CodeSize                  int64
	Timeout                   int64
	FunctionVersion           string
	MemorySize                int64
	Runtime                   string
	FunctionName              string
	VpcConfig                 VpcConfig
	UseGpu                    string
	Environment               Environment
	CodeResult                string
	CodeError                 string
	ErrNo                     int64
	Namespace                 string
	Role                      string
	InstallDependency         string
	Status                    string
	StatusDesc                string
	ClsLogsetId               string
	ClsTopicId                string
	FunctionId                string
	Tags                      []Tag
	EipConfig                 EipOutConfig
	AccessInfo                AccessInfo
	Type                      string
	L5Enable                  string
	Layers                    []LayerVersionInfo
	DeadLetterConfig          DeadLetterConfig
	AddTime                   string
	PublicNetConfig           PublicNetConfigOut
	OnsEnable                 string
	CfsConfig                 CfsConfig
	AvailableStatus           string
	Qualifier                 string
	InitTimeout               int64
	StatusReasons             []StatusReason
	AsyncRunEnable            string
	TraceEnable               string
	ImageConfig               *ImageConfig
	ProtocolType              string
	ProtocolParams            *ProtocolParams
	DnsCache                  string
	IntranetConfig            IntranetConfigOut
	InstanceConcurrencyConfig *InstanceConcurrencyConfig
	// ImageDigest, a field of scfd's own, is the manifest digest the
	// image resolved to; empty until the image is fetched.
	ImageDigest string `json:",omitempty"`
}

// Filter is one condition of ListFunctions' Filters.
type Filter struct {
	Name   string
	Values []string
}

// ListFunctionsRequest is ListFunctions' input.
type ListFunctionsRequest struct {
	Order       string   `json:",omitempty"` // "ASC" or "DESC" (default)
	Orderby     string   `json:",omitempty"` // "AddTime" (default), "ModTime" or "FunctionName"
	Offset      int64    `json:",omitempty"`
	Limit       int64    `json:",omitempty"` // default 20
	SearchKey   string   `json:",omitempty"` // substring of the function name
	Namespace   string   `json:",omitempty"` // default "default"
	Description string   `json:",omitempty"` // substring of the description
	Filters     []Filter `json:",omitempty"` // Name "Status" is honoured; others are refused
}

// Function is one function of ListFunctions.
type Function struct {
	ModTime                        string
	AddTime                        string
	Runtime                        string
	FunctionName                   string
	FunctionId                     string
	Namespace                      string
	Status                         string
	StatusDesc                     string
	Description                    string
	Tags                           []Tag
	Type                           string
	StatusReasons                  []StatusReason
	TotalProvisionedConcurrencyMem uint64
	ReservedConcurrencyMem         uint64
	AsyncRunEnable                 string
	TraceEnable                    string
}

// ListFunctionsResponse is ListFunctions' output.
type ListFunctionsResponse struct {
	Functions  []Function
	TotalCount int64
}

// NamespaceUsage is one namespace of GetAccount's usage.
type NamespaceUsage struct {
	Functions                    []string
	Namespace                    string
	FunctionsCount               int64
	TotalConcurrencyMem          int64
	TotalAllocatedConcurrencyMem int64
	TotalAllocatedProvisionedMem int64
}

// UsageInfo is GetAccount's AccountUsage.
type UsageInfo struct {
	NamespacesCount              int64
	Namespace                    []NamespaceUsage
	TotalConcurrencyMem          int64
	TotalAllocatedConcurrencyMem int64
	UserConcurrencyMemLimit      int64
}

// TriggerCount counts triggers by type.
type TriggerCount struct {
	Cos, Timer, Cmq, Total, Ckafka, Apigw, Cls, Clb, Mps, Cm, Vod, Eb int64
}

// NamespaceLimit is one namespace of GetAccount's limits.
type NamespaceLimit struct {
	FunctionsCount       int64
	Trigger              TriggerCount
	Namespace            string
	ConcurrentExecutions int64
	TimeoutLimit         int64
	TestModelLimit       int64
	InitTimeoutLimit     int64
	RetryNumLimit        int64
	MinMsgTTL            int64
	MaxMsgTTL            int64
}

// LimitsInfo is GetAccount's AccountLimit.
type LimitsInfo struct {
	NamespacesCount int64
	Namespace       []NamespaceLimit
}

// GetAccountResponse is GetAccount's output.
type GetAccountResponse struct {
	AccountUsage UsageInfo
	AccountLimit LimitsInfo
}
