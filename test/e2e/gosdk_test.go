package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	sdkerrors "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/errors"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"
	scfsdk "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/scf/v20180416"

	"github.com/scfd/scfd/internal/api"
	"github.com/scfd/scfd/internal/client"
	"github.com/scfd/scfd/internal/tc3"
	"github.com/scfd/scfd/internal/testenv"
)

var goSDKCred = tc3.Credential{SecretID: "AKIDscfdgosdktestkey0000000000000", SecretKey: "scfdgosdksecretkey00000000000000"}

// TestGoSDKQualifiers drives scfd serve with a second real client, the
// official Tencent Cloud SDK for Go. It signs with the service "scf" in
// its credential scope whatever the endpoint (as every SDK does when only
// the host is overridden), and it names an alias as Qualifier where the
// Serverless Framework's SCF component does: GetFunction before it
// invokes, then Invoke, logs, triggers and provisioned concurrency.
// The SDK predates image functions, so the function is created with
// scfd's own Go client.
func TestGoSDKQualifiers(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end tests are not short")
	}
	reg := testenv.StartRegistry(t)
	reg.Push(t, "e2e/echo:v1", testenv.BinaryImage(t, "../../examples/hello"))
	apiAddr := startServe(t, reg)
	ctx := context.Background()

	own := client.New("http://"+apiAddr, goSDKCred)
	must := func(action string, req, resp any) {
		t.Helper()
		if err := own.Call(ctx, action, req, resp); err != nil {
			t.Fatalf("%s: %v", action, err)
		}
	}
	must("CreateFunction", api.CreateFunctionRequest{FunctionName: "qf", MemorySize: 128, Code: &api.Code{
		ImageConfig: &api.ImageConfig{ImageType: "personal", ImageUri: reg.Ref("e2e/echo:v1")}}}, nil)
	deadline := time.Now().Add(60 * time.Second)
	for {
		var f api.GetFunctionResponse
		must("GetFunction", api.GetFunctionRequest{FunctionName: "qf"}, &f)
		if f.Status == "Active" {
			break
		}
		if f.Status == "CreateFailed" || time.Now().After(deadline) {
			t.Fatalf("function status %s %+v", f.Status, f.StatusReasons)
		}
		time.Sleep(50 * time.Millisecond)
	}
	must("PublishVersion", api.PublishVersionRequest{FunctionName: "qf"}, nil)
	must("CreateAlias", api.AliasRequest{Name: "prod", FunctionName: "qf", FunctionVersion: "1"}, nil)
	mem := int64(256) // $LATEST now differs from version 1
	must("UpdateFunctionConfiguration", api.UpdateFunctionConfigurationRequest{FunctionName: "qf", MemorySize: &mem}, nil)

	cpf := profile.NewClientProfile()
	cpf.HttpProfile.Endpoint = apiAddr
	cpf.HttpProfile.Scheme = "HTTP"
	sdk, err := scfsdk.NewClient(common.NewCredential(goSDKCred.SecretID, goSDKCred.SecretKey), "ap-guangzhou", cpf)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("GetFunction of an alias answers its version", func(t *testing.T) {
		req := scfsdk.NewGetFunctionRequest()
		req.FunctionName, req.Qualifier = common.StringPtr("qf"), common.StringPtr("prod")
		resp, err := sdk.GetFunction(req)
		if err != nil {
			t.Fatal(err)
		}
		r := resp.Response
		if *r.FunctionVersion != "1" || *r.MemorySize != 128 || *r.Status != "Active" {
			t.Errorf("GetFunction(prod) = version %s, %d MB, %s; want version 1, 128 MB, Active", *r.FunctionVersion, *r.MemorySize, *r.Status)
		}
	})

	var requestID string
	t.Run("Invoke of an alias runs its version", func(t *testing.T) {
		req := scfsdk.NewInvokeRequest()
		req.FunctionName, req.Qualifier, req.ClientContext = common.StringPtr("qf"), common.StringPtr("prod"), common.StringPtr(`{"k":1}`)
		resp, err := sdk.Invoke(req)
		if err != nil {
			t.Fatal(err)
		}
		var answer struct{ Headers map[string]string }
		if err := json.Unmarshal([]byte(*resp.Response.Result.RetMsg), &answer); err != nil {
			t.Fatalf("RetMsg %q: %v", *resp.Response.Result.RetMsg, err)
		}
		if got := answer.Headers["X-Scf-Version"]; got != "1" {
			t.Errorf("X-Scf-Version = %q, want 1", got)
		}
		requestID = *resp.Response.Result.FunctionRequestId
	})

	t.Run("GetFunctionLogs of an alias holds its versions' invocations", func(t *testing.T) {
		logs := func(qualifier string) []string {
			req := scfsdk.NewGetFunctionLogsRequest()
			req.FunctionName, req.Qualifier, req.Limit = common.StringPtr("qf"), common.StringPtr(qualifier), common.Int64Ptr(100)
			resp, err := sdk.GetFunctionLogs(req)
			if err != nil {
				t.Fatalf("GetFunctionLogs(%s): %v", qualifier, err)
			}
			var ids []string
			for _, d := range resp.Response.Data {
				ids = append(ids, *d.RequestId)
			}
			return ids
		}
		if ids := logs("prod"); !slices.Contains(ids, requestID) {
			t.Errorf("logs of prod %v lack the invocation %s", ids, requestID)
		}
		if ids := logs("$LATEST"); slices.Contains(ids, requestID) {
			t.Errorf("logs of $LATEST %v hold the invocation %s of version 1", ids, requestID)
		}
	})

	t.Run("a trigger on an alias is listed with the alias", func(t *testing.T) {
		req := scfsdk.NewCreateTriggerRequest()
		req.FunctionName, req.TriggerName, req.Type = common.StringPtr("qf"), common.StringPtr("nightly"), common.StringPtr("timer")
		req.TriggerDesc, req.Qualifier, req.Enable = common.StringPtr("0 0 3 * * * *"), common.StringPtr("prod"), common.StringPtr("CLOSE")
		if _, err := sdk.CreateTrigger(req); err != nil {
			t.Fatal(err)
		}
		get := scfsdk.NewGetFunctionRequest()
		get.FunctionName, get.Qualifier = common.StringPtr("qf"), common.StringPtr("prod")
		resp, err := sdk.GetFunction(get)
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Response.Triggers) != 1 || *resp.Response.Triggers[0].TriggerName != "nightly" {
			t.Errorf("GetFunction(prod) triggers = %s, want nightly", resp.ToJsonString())
		}
	})

	t.Run("provisioned concurrency read through an alias", func(t *testing.T) {
		put := scfsdk.NewPutProvisionedConcurrencyConfigRequest()
		put.FunctionName, put.Qualifier, put.VersionProvisionedConcurrencyNum = common.StringPtr("qf"), common.StringPtr("1"), common.Uint64Ptr(1)
		if _, err := sdk.PutProvisionedConcurrencyConfig(put); err != nil {
			t.Fatal(err)
		}
		get := scfsdk.NewGetProvisionedConcurrencyConfigRequest()
		get.FunctionName, get.Qualifier = common.StringPtr("qf"), common.StringPtr("prod")
		resp, err := sdk.GetProvisionedConcurrencyConfig(get)
		if err != nil {
			t.Fatal(err)
		}
		a := resp.Response.Allocated
		if len(a) != 1 || *a[0].Qualifier != "1" || *a[0].AllocatedProvisionedConcurrencyNum != 1 {
			t.Errorf("GetProvisionedConcurrencyConfig(prod) = %s, want version 1 with 1", resp.ToJsonString())
		}
	})

	t.Run("unknown qualifiers", func(t *testing.T) {
		get := scfsdk.NewGetFunctionRequest()
		get.FunctionName, get.Qualifier = common.StringPtr("qf"), common.StringPtr("ghost")
		_, err := sdk.GetFunction(get)
		wantCode(t, "GetFunction(ghost)", err, "ResourceNotFound.Version")
		inv := scfsdk.NewInvokeRequest()
		inv.FunctionName, inv.Qualifier = common.StringPtr("qf"), common.StringPtr("ghost")
		_, err = sdk.Invoke(inv)
		wantCode(t, "Invoke(ghost)", err, "ResourceNotFound.Qualifier")
		inv.Qualifier = common.StringPtr("7")
		_, err = sdk.Invoke(inv)
		wantCode(t, "Invoke(7)", err, "ResourceNotFound.Qualifier")
	})
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	var e *sdkerrors.TencentCloudSDKError
	if !errors.As(err, &e) || e.GetCode() != code {
		t.Errorf("%s: %v, want %s", what, err, code)
	}
}

// startServe builds and runs `scfd serve` on free loopback ports, with
// goSDKCred as the administrator key, and returns the API's address.
func startServe(t *testing.T, reg *testenv.Registry) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "scfd")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/scfd").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	apiAddr, gwAddr := freeAddr(t), freeAddr(t)
	logPath := filepath.Join(t.TempDir(), "scfd.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(),
		"SCFD_API_ADDR="+apiAddr, "SCFD_GATEWAY_ADDR="+gwAddr, "SCFD_REGISTRY_ADDR=off", "SCFD_DATA_DIR="+t.TempDir(),
		"SCFD_SECRET_ID="+goSDKCred.SecretID, "SCFD_SECRET_KEY="+goSDKCred.SecretKey,
		"SCFD_INSECURE_REGISTRIES="+reg.Addr, "SCFD_ALLOWED_REGISTRIES="+reg.Addr, "DOCKER_CONFIG="+reg.DockerConfigDir,
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(40 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		logFile.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("scfd log:\n%s", b)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if resp, err := http.Get("http://" + apiAddr + "/healthz/ready"); err == nil {
			resp.Body.Close()
			return apiAddr
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(logPath)
			t.Fatalf("scfd serve exited:\n%s", b)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("scfd serve did not listen in 30 s")
		}
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
