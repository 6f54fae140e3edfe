package daemon_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scfd/scfd/internal/api"
	"github.com/scfd/scfd/internal/client"
	"github.com/scfd/scfd/internal/cluster"
	"github.com/scfd/scfd/internal/store"
	"github.com/scfd/scfd/internal/testenv"
)

// TestReplicasShareTheWork runs two replicas in process on one database
// (the second data directory's database file is a link to the first's;
// instances, images and listeners are each replica's own). A function is
// served by its owner whichever replica the call reaches, through the
// SCF API and through the gateway; when the owner leaves, the other
// pulls its image and serves it.
func TestReplicasShareTheWork(t *testing.T) {
	needsRunc(t)
	reg := testenv.StartRegistry(t)
	eventRef := reg.Push(t, "cluster/event:1", testenv.BinaryImage(t, "../../test/e2e/testfunc"))
	webRef := reg.Push(t, "cluster/web:1", testenv.BinaryImage(t, "../gateway/webfunc"))

	dirA, dirB := t.TempDir(), t.TempDir()
	st, err := store.Open(context.Background(), dirA) // creates the database
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	if err := os.Symlink(filepath.Join(dirA, store.FileName), filepath.Join(dirB, store.FileName)); err != nil {
		t.Fatal(err)
	}
	env := func(dir string) map[string]string {
		return map[string]string{
			"SCFD_DATA_DIR": dir, "SCFD_REGISTRY_ADDR": "off",
			"SCFD_CLUSTER_ADDR": "127.0.0.1:0", "SCFD_CLUSTER_SECRET": "a secret both replicas know",
			"SCFD_INSECURE_REGISTRIES": reg.Addr, "SCFD_ALLOWED_REGISTRIES": reg.Addr, "DOCKER_CONFIG": reg.DockerConfigDir,
		}
	}
	a := serveInProcess(t, env(dirA))
	b := serveInProcess(t, env(dirB))
	// Each sees the other after its first heartbeat.
	for _, r := range []*running{a, b} {
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) { // polling the heartbeats
			if strings.Contains(scrape(t, r.addrs["SCF API"]), "\nscfd_cluster_replicas 2\n") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the replicas do not see each other")
			}
		}
	}

	// Who owns what, as both replicas compute it from the table.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dirA, store.FileName)+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var members []cluster.Member
	idOf := map[string]string{} // by internal address
	rows, err := db.Query(`SELECT id, addr FROM replicas`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var m cluster.Member
		if err := rows.Scan(&m.ID, &m.Addr); err != nil {
			t.Fatal(err)
		}
		members = append(members, m)
		idOf[m.Addr] = m.ID
	}
	rows.Close()
	idA := idOf[a.addrs["cluster"]]
	if len(members) != 2 || idA == "" || idOf[b.addrs["cluster"]] == "" {
		t.Fatalf("replicas %v; the replicas listen on %s and %s", members, a.addrs["cluster"], b.addrs["cluster"])
	}
	// Each names who it sees.
	for _, r := range []*running{a, b} {
		body := scrape(t, r.addrs["SCF API"])
		for _, m := range members {
			if line := fmt.Sprintf("\nscfd_cluster_replica{replica=%q} 1\n", m.ID); !strings.Contains(body, line) {
				t.Errorf("the metrics of %s lack %q", r.addrs["cluster"], line)
			}
		}
	}
	view := cluster.NewView(idA, members)
	ownedByA := func(prefix string) string {
		for i := 0; ; i++ {
			name := fmt.Sprintf("%s%d", prefix, i)
			if _, self := view.Owner(cluster.Key{Namespace: "default", Function: name}); self {
				return name
			}
		}
	}
	event, web := ownedByA("event"), ownedByA("web")
	create(t, a.client, event, "Event", eventRef)
	create(t, b.client, web, "HTTP", webRef) // its owner, a, pulls it too

	instances := func(c *client.Client, fn string) int {
		var got api.ListInstancesResponse
		if err := c.Call(context.Background(), "ListInstances", api.ListInstancesRequest{FunctionName: fn}, &got); err != nil {
			t.Fatal(err)
		}
		return len(got.Instances)
	}
	invoke := func(c *client.Client) api.InvokeResult {
		var res api.InvokeResponse
		if err := c.Call(context.Background(), "Invoke", api.InvokeRequest{FunctionName: event, ClientContext: `{"print":["hi"]}`, LogType: "Tail"}, &res); err != nil {
			t.Fatal(err)
		}
		return res.Result
	}
	invokeOK := func(c *client.Client) {
		if res := invoke(c); res.InvokeResult != 0 || !strings.Contains(res.Log, "hi") {
			t.Fatalf("invocation: %+v", res)
		}
	}

	// Through b's API: run by a, the owner.
	invokeOK(b.client)
	invokeOK(b.client)
	if na, nb := instances(a.client, event), instances(b.client, event); na != 1 || nb != 0 {
		t.Errorf("instances of %s: %d on its owner, %d on the other; want 1 and 0", event, na, nb)
	}

	// Through b's gateway: served by a, the body streamed both ways (a
	// pulls the image of the function created through b within
	// SyncInterval; until then the request answers 502).
	var res *http.Response
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) { // polling the pull
		res, err = http.Post("http://"+b.addrs["gateway"]+"/default/"+web+"/", "text/plain", nil)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode == http.StatusOK {
			break
		}
		if res.StatusCode != http.StatusBadGateway || time.Now().After(deadline) {
			t.Fatalf("web request through b: %d", res.StatusCode)
		}
	}
	res, err = http.Post("http://"+b.addrs["gateway"]+"/default/"+web+"/echo/x?q=1", "text/plain", strings.NewReader("through b"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), `"body":"through b"`) || !strings.Contains(string(body), `"path":"/echo/x"`) {
		t.Errorf("web request through b: %d %s", res.StatusCode, body)
	}
	if ids := res.Header.Values("X-Scf-Request-Id"); len(ids) != 1 {
		t.Errorf("X-Scf-Request-Id: %q, want one", ids)
	}
	if na, nb := instances(a.client, web), instances(b.client, web); na != 1 || nb != 0 {
		t.Errorf("instances of %s: %d on its owner, %d on the other; want 1 and 0", web, na, nb)
	}

	// Deleting the web function through b stops its instance on a, the
	// owner, at once.
	if err := b.client.Call(context.Background(), "DeleteFunction", api.DeleteFunctionRequest{FunctionName: web}, nil); err != nil {
		t.Fatal(err)
	}
	if n := instances(a.client, web); n != 0 {
		t.Errorf("instances of %s on its owner after DeleteFunction through b: %d, want 0", web, n)
	}

	// The internal listener refuses what no replica signed.
	res, err = http.Get("http://" + b.addrs["cluster"] + "/default/" + web + "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("an unsigned request to the internal listener: %d, want 403", res.StatusCode)
	}

	// a leaves: b runs the function from now on.
	a.stop()
	select {
	case err := <-a.done:
		if err != nil {
			t.Fatal(err)
		}
		a.done <- err
	case <-time.After(time.Minute):
		t.Fatal("a did not stop")
	}
	// b pulls the image of what it gained (it was pulled by a, which
	// created it); until it has it, the function answers 444 there.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) { // polling the pull
		res := invoke(b.client)
		if res.InvokeResult == 0 {
			break
		}
		if res.InvokeResult != 444 || time.Now().After(deadline) {
			t.Fatalf("after its owner left: %+v", res)
		}
	}
	if n := instances(b.client, event); n != 1 {
		t.Errorf("after its owner left, %d instances of %s on b, want 1", n, event)
	}
}

// create creates the Active function name of image ref, of type typ.
func create(t *testing.T, c *client.Client, name, typ, ref string) {
	t.Helper()
	ctx := context.Background()
	err := c.Call(ctx, "CreateFunction", api.CreateFunctionRequest{
		FunctionName: name, Type: typ, MemorySize: 128, Timeout: 60,
		Code: &api.Code{ImageConfig: &api.ImageConfig{ImageType: "personal", ImageUri: ref}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) { // polling the deployment
		var got api.GetFunctionResponse
		if err := c.Call(ctx, "GetFunction", api.GetFunctionRequest{FunctionName: name}, &got); err != nil {
			t.Fatal(err)
		}
		if got.Status == "Active" {
			return
		}
		if strings.HasSuffix(got.Status, "Failed") || time.Now().After(deadline) {
			t.Fatalf("function %s is %s: %+v", name, got.Status, got.StatusReasons)
		}
	}
}
