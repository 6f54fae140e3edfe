package api

import (
	"time"

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/scf"
)

// TimeFormat is how the API writes times.
const TimeFormat = time.DateTime

// RuntimeImage is the Runtime SCF reports for image functions.
const RuntimeImage = "CustomImage"

func (s *Server) formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(s.opts.Location).Format(TimeFormat)
}

// imageFromCode checks that code deploys an image and returns its config.
func imageFromCode(code *Code) (scf.ImageConfig, error) {
	if code == nil {
		return scf.ImageConfig{}, errdefs.New(errdefs.ErrMissingParameter, "Code", "Code.ImageConfig is required: scfd deploys container images")
	}
	for _, f := range []*string{
		code.CosBucketName, code.CosObjectName, code.ZipFile, code.CosBucketRegion, code.DemoId,
		code.TempCosObjectName, code.GitUrl, code.GitUserName, code.GitPassword, code.GitPasswordSecret,
		code.GitBranch, code.GitDirectory, code.GitCommitId, code.GitUserNameSecret,
	} {
		if f != nil && *f != "" {
			return scf.ImageConfig{}, errCodePackage
		}
	}
	if code.ImageConfig == nil {
		return scf.ImageConfig{}, errdefs.New(errdefs.ErrMissingParameter, "Code", "Code.ImageConfig is required: scfd deploys container images")
	}
	ic := code.ImageConfig
	switch ic.ImageType {
	case "", "personal", "enterprise":
	default:
		return scf.ImageConfig{}, errdefs.Invalid("ImageType", "ImageType %q is invalid: use personal or enterprise", ic.ImageType)
	}
	return scf.ImageConfig{
		ImageType:                ic.ImageType,
		ImageUri:                 ic.ImageUri,
		RegistryId:               ic.RegistryId,
		Command:                  ic.Command,
		Args:                     ic.Args,
		ImagePort:                ic.ImagePort,
		ContainerImageAccelerate: ic.ContainerImageAccelerate,
	}, nil
}

var errCodePackage = errdefs.New(errdefs.ErrUnsupported, "Code", "code packages are not supported: deploy an image with Code.ImageConfig")

func variablesFromWire(env *Environment) []scf.Variable {
	if env == nil {
		return nil
	}
	out := make([]scf.Variable, 0, len(env.Variables))
	for _, v := range env.Variables {
		out = append(out, scf.Variable{Key: v.Key, Value: v.Value})
	}
	return out
}

func concurrencyFromWire(c *InstanceConcurrencyConfig) (scf.InstanceConcurrency, error) {
	if c == nil {
		return scf.InstanceConcurrency{}, nil
	}
	if c.DynamicEnabled == "TRUE" {
		return scf.InstanceConcurrency{}, errdefs.New(errdefs.ErrUnsupported, "InstanceConcurrencyConfig", "dynamic instance concurrency is not supported: set DynamicEnabled to FALSE")
	}
	if c.MaxConcurrency > scf.MaxConcurrency {
		return scf.InstanceConcurrency{}, errdefs.Invalid("InstanceConcurrencyConfig", "MaxConcurrency %d is invalid: use 1 to %d", c.MaxConcurrency, scf.MaxConcurrency)
	}
	return scf.InstanceConcurrency{DynamicEnabled: "FALSE", MaxConcurrency: int64(c.MaxConcurrency)}, nil
}

func tagsToWire(tags []scf.Tag) []Tag {
	out := make([]Tag, 0, len(tags))
	for _, t := range tags {
		out = append(out, Tag{Key: t.Key, Value: t.Value})
	}
	return out
}

func reasonsToWire(rs []scf.StatusReason) []StatusReason {
	out := make([]StatusReason, 0, len(rs))
	for _, r := range rs {
		out = append(out, StatusReason{ErrorCode: r.ErrorCode, ErrorMessage: r.ErrorMessage})
	}
	return out
}

func availableStatus(st scf.Status) string {
	if st == scf.StatusActive {
		return "Available"
	}
	return "Unavailable"
}

// functionResponse renders one function version as GetFunction answers it.
func (s *Server) functionResponse(fn *scf.Function) *GetFunctionResponse {
	vars := make([]Variable, 0, len(fn.Environment))
	for _, v := range fn.Environment {
		vars = append(vars, Variable{Key: v.Key, Value: v.Value})
	}
	concurrency := fn.Concurrency.MaxConcurrency
	if concurrency == 0 {
		concurrency = 1
	}
	dynamic := fn.Concurrency.DynamicEnabled
	if dynamic == "" {
		dynamic = "FALSE"
	}
	return &GetFunctionResponse{
		ImageDigest:       fn.ImageDigest,
		ModTime:           s.formatTime(fn.ModTime),
		Description:       fn.Description,
		Triggers:          []Trigger{},
		Timeout:           fn.Timeout,
		FunctionVersion:   fn.Version,
		MemorySize:        fn.MemorySize,
		Runtime:           RuntimeImage,
		FunctionName:      fn.Name,
		UseGpu:            "FALSE",
		Environment:       Environment{Variables: vars},
		CodeResult:        "success",
		Namespace:         fn.Namespace,
		InstallDependency: "FALSE",
		Status:            string(fn.Status),
		StatusDesc:        fn.StatusDesc,
		FunctionId:        fn.FunctionID,
		Tags:              tagsToWire(fn.Tags),
		EipConfig:         EipOutConfig{EipFixed: "FALSE", Eips: []string{}},
		Type:              string(fn.Type),
		L5Enable:          "FALSE",
		Layers:            []LayerVersionInfo{},
		AddTime:           s.formatTime(fn.AddTime),
		PublicNetConfig: PublicNetConfigOut{
			PublicNetStatus: enableOrDisable(!fn.PublicNetDisabled),
			EipConfig:       EipConfigOut{EipStatus: "DISABLE", EipAddress: []string{}},
		},
		OnsEnable:       "FALSE",
		CfsConfig:       CfsConfig{CfsInsList: []struct{}{}},
		AvailableStatus: availableStatus(fn.Status),
		Qualifier:       fn.Version,
		InitTimeout:     fn.InitTimeout,
		StatusReasons:   reasonsToWire(fn.StatusReasons),
		AsyncRunEnable:  trueOrFalse(fn.AsyncRun),
		TraceEnable:     "FALSE",
		ImageConfig: &ImageConfig{
			ImageType:                fn.Image.ImageType,
			ImageUri:                 fn.Image.ImageUri,
			RegistryId:               fn.Image.RegistryId,
			Command:                  fn.Image.Command,
			Args:                     fn.Image.Args,
			ContainerImageAccelerate: fn.Image.ContainerImageAccelerate,
			ImagePort:                int64(fn.Image.Port()),
		},
		ProtocolType:              fn.Protocol.Type,
		ProtocolParams:            protocolParamsToWire(fn.Protocol),
		DnsCache:                  trueOrFalse(fn.DNSCache),
		IntranetConfig:            IntranetConfigOut{IpFixed: "DISABLE"},
		InstanceConcurrencyConfig: &InstanceConcurrencyConfig{DynamicEnabled: dynamic, MaxConcurrency: uint64(concurrency)},
	}
}

// functionItem renders one function as ListFunctions answers it.
func (s *Server) functionItem(fn *scf.Function) Function {
	return Function{
		ModTime:        s.formatTime(fn.ModTime),
		AddTime:        s.formatTime(fn.AddTime),
		Runtime:        RuntimeImage,
		FunctionName:   fn.Name,
		FunctionId:     fn.FunctionID,
		Namespace:      fn.Namespace,
		Status:         string(fn.Status),
		StatusDesc:     fn.StatusDesc,
		Description:    fn.Description,
		Tags:           tagsToWire(fn.Tags),
		Type:           string(fn.Type),
		StatusReasons:  reasonsToWire(fn.StatusReasons),
		AsyncRunEnable: trueOrFalse(fn.AsyncRun),
		TraceEnable:    "FALSE",
	}
}

// trueOrFalse spells b as SCF's string flags do.
func trueOrFalse(b bool) string {
	if b {
		return "TRUE"
	}
	return "FALSE"
}

// enableOrDisable spells b as SCF's status switches do.
func enableOrDisable(b bool) string {
	if b {
		return "ENABLE"
	}
	return "DISABLE"
}

// flagFromWire parses one of SCF's "TRUE"/"FALSE" strings; empty is
// false.
func flagFromWire(field, v string) (bool, error) {
	switch v {
	case "", "FALSE":
		return false, nil
	case "TRUE":
		return true, nil
	}
	return false, errdefs.Invalid(field, "%s %q is invalid: use TRUE or FALSE", field, v)
}

// publicNetFromWire reads PublicNetConfig: whether public network access
// is disabled.
func publicNetFromWire(c *PublicNetConfigIn) (disabled bool, err error) {
	if c == nil {
		return false, nil
	}
	if e := c.EipConfig; e != nil && e.EipStatus != "" && e.EipStatus != "DISABLE" {
		return false, errdefs.New(errdefs.ErrUnsupported, "EipConfig", "EipConfig.EipStatus %q is not supported: scfd has no fixed egress addresses", e.EipStatus)
	}
	switch c.PublicNetStatus {
	case "ENABLE":
		return false, nil
	case "DISABLE":
		return true, nil
	}
	return false, errdefs.Invalid("PublicNetConfig", "PublicNetConfig.PublicNetStatus %q is invalid: use ENABLE or DISABLE", c.PublicNetStatus)
}

// wsIdleFromWire reads ProtocolParams.WSParams.IdleTimeOut; 0 when absent.
func wsIdleFromWire(p *ProtocolParams) int64 {
	if p == nil || p.WSParams == nil {
		return 0
	}
	return p.WSParams.IdleTimeOut
}

func protocolParamsToWire(p scf.Protocol) *ProtocolParams {
	if p.Type != scf.ProtocolWS {
		return nil
	}
	return &ProtocolParams{WSParams: &WSParams{IdleTimeOut: int64(p.IdleTimeout().Seconds())}}
}
